"""Elastic-net Cox model; the penalty strength is chosen by inner CV on the training fold."""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from benchmark.methods.tabular import SksurvMethod

N_ALPHAS = 20
ALPHA_MIN_RATIO = 0.01


class InnerCVCoxnet:
    """CoxnetSurvivalAnalysis whose alpha is picked by K-fold C-index along the regularisation path.

    As glmnet's cross-validation: the grid is N_ALPHAS penalties from the smallest that zeroes every
    coefficient down to ALPHA_MIN_RATIO of it, and each inner fold fits the whole path at once,
    warm-started from the strongest penalty. Cold fits at single weak penalties are slow and diverge
    on nearly separated data (rare binary findings of the real cohort) where the warm-started path
    converges. A penalty that still diverges on an inner fold scores NaN, ranks last and is counted
    in `n_failed_alphas_`.
    """

    def __init__(self, l1_ratio: float, inner_folds: int, seed: int):
        self.l1_ratio, self.inner_folds, self.seed = l1_ratio, inner_folds, seed

    def _path(self, X, y, alphas, baseline: bool = False) -> tuple[CoxnetSurvivalAnalysis, np.ndarray]:
        """Fit the path over `alphas` (strongest first); the weakest penalties are dropped, one at a
        time, while the path diverges. Returns the model and the alphas it holds."""
        for end in range(len(alphas), 0, -1):
            try:
                model = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, alphas=alphas[:end],
                                               fit_baseline_model=baseline).fit(X, y)
                return model, alphas[:end]
            except ArithmeticError:   # "weights are too large" at the weakest penalty
                continue
        raise ArithmeticError("elastic-net Cox diverges even at the strongest penalty of the path")

    def grid(self, X, y) -> np.ndarray:
        """sksurv's default path: alpha_max (every coefficient zero) down to ALPHA_MIN_RATIO of it."""
        two = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=2, alpha_min_ratio=0.99).fit(X, y)
        return two.alphas_[0] * np.geomspace(1.0, ALPHA_MIN_RATIO, N_ALPHAS)

    def fit(self, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", "all coefficients are zero")  # strongest penalties of the path
            alphas = self.grid(X, y)
            scores = np.full((self.inner_folds, N_ALPHAS), np.nan)
            folds = KFold(self.inner_folds, shuffle=True, random_state=self.seed).split(X)
            for k, (train, validation) in enumerate(folds):
                model, fitted = self._path(X[train], y[train], alphas)
                event, time = y[validation]["event"], y[validation]["time"]
                for j, alpha in enumerate(fitted):
                    scores[k, j] = concordance_index_censored(event, time, model.predict(X[validation], alpha=alpha))[0]
            mean = scores.mean(axis=0)
            self.n_failed_alphas_ = int(np.isnan(mean).sum())
            best = int(np.nanargmax(mean))
            self.model_, fitted = self._path(X, y, alphas[: best + 1], baseline=True)
        self.alpha_ = float(fitted[-1])
        return self

    def predict(self, X):
        return self.model_.predict(X, alpha=self.alpha_)

    def predict_survival_function(self, X):
        return self.model_.predict_survival_function(X, alpha=self.alpha_)

    @property
    def coef_(self):
        return self.model_.coef_[:, -1]


class CoxNet(SksurvMethod):
    name = "coxnet"
    description = "elastic-net Cox (l1_ratio 0.5), alpha by 3-fold inner CV along the path on the training fold"
    defaults = {"l1_ratio": 0.5, "inner_folds": 3}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"l1_ratio": trial.suggest_float("l1_ratio", 0.05, 1.0)}

    def make_estimator(self, data):
        return InnerCVCoxnet(self.params["l1_ratio"], self.params["inner_folds"], data.seed)

    def fit(self, data):
        super().fit(data)
        self.notes = (["the weakest penalties of the path diverged on an inner fold (scored NaN, ranked last)"]
                      if self.estimator_.n_failed_alphas_ else [])
        return self
