"""Elastic-net Cox model; the penalty strength is chosen by inner CV on the training fold."""
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning, FitFailedWarning
from sklearn.model_selection import GridSearchCV, KFold
from sksurv.linear_model import CoxnetSurvivalAnalysis

from benchmark.estimators import SksurvMethod


class InnerCVCoxnet:
    """CoxnetSurvivalAnalysis whose alpha is picked by K-fold C-index on the data it is fitted on."""

    def __init__(self, l1_ratio: float, inner_folds: int, seed: int):
        self.l1_ratio, self.inner_folds, self.seed = l1_ratio, inner_folds, seed

    def fit(self, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", "all coefficients are zero")  # strongest penalties of the path
            # The weakest penalties can diverge on an inner fold ("weights are too large"); such an
            # alpha scores NaN, ranks last and is counted in n_failed_alphas_ instead of printed.
            warnings.simplefilter("ignore", FitFailedWarning)
            path = CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, n_alphas=20, alpha_min_ratio=0.01).fit(X, y)
            search = GridSearchCV(
                CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, fit_baseline_model=True),
                {"alphas": [[alpha] for alpha in path.alphas_]},
                cv=KFold(self.inner_folds, shuffle=True, random_state=self.seed), error_score=np.nan,
            ).fit(X, y)
        self.n_failed_alphas_ = int(np.isnan(search.cv_results_["mean_test_score"]).sum())
        self.alpha_ = float(search.best_params_["alphas"][0])
        self.model_ = search.best_estimator_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_survival_function(self, X):
        return self.model_.predict_survival_function(X)

    @property
    def coef_(self):
        return np.ravel(self.model_.coef_)


class CoxNet(SksurvMethod):
    name = "coxnet"
    description = "elastic-net Cox (l1_ratio 0.5), alpha by 3-fold inner CV on the training fold"
    defaults = {"l1_ratio": 0.5, "inner_folds": 3}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"l1_ratio": trial.suggest_float("l1_ratio", 0.05, 1.0)}

    def make_estimator(self, data):
        return InnerCVCoxnet(self.params["l1_ratio"], self.params["inner_folds"], data.seed)
