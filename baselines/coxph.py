"""Cox proportional hazards on clinical features (lightly ridge-penalised for separation)."""
import warnings

import numpy as np
from sksurv.linear_model import CoxPHSurvivalAnalysis

from benchmark.methods.tabular import SksurvMethod

#: Penalty steps tried when the fit diverges: alpha, 10 alpha, ..., 10^(STEPS-1) alpha.
PENALTY_STEPS = 6


class StabilisedCoxPH:
    """Cox-PH (Breslow ties) with the smallest ridge penalty alpha * 10^k at which Newton-Raphson converges.

    A nearly unpenalised fit diverges when a covariate separates the events of the training fold
    (monotone likelihood: a rare pathology finding of the real cohort whose carriers all relapse);
    raising the penalty tenfold until the coefficients are finite is a stated rule, and
    `alpha_` is reported in the table footer when it is not the requested alpha.
    """

    def __init__(self, alpha: float):
        self.alpha = alpha

    def fit(self, X, y):
        for step in range(PENALTY_STEPS):
            alpha = self.alpha * 10**step
            try:
                with warnings.catch_warnings():   # overflow of a diverging attempt: its meaning is alpha_
                    warnings.simplefilter("ignore", RuntimeWarning)
                    model = CoxPHSurvivalAnalysis(alpha=alpha, ties="breslow").fit(X, y)
            except (ValueError, np.linalg.LinAlgError):   # "search direction contains NaN or infinite values"
                continue
            if np.isfinite(model.coef_).all():
                self.model_, self.alpha_ = model, alpha
                return self
        raise ValueError(f"Cox-PH diverges up to ridge alpha {alpha:g}")

    def predict(self, X):
        return self.model_.predict(X)

    def predict_survival_function(self, X):
        return self.model_.predict_survival_function(X)

    @property
    def coef_(self):
        return self.model_.coef_


class CoxPH(SksurvMethod):
    name = "coxph"
    description = "Cox-PH, Breslow ties, ridge alpha on standardised clinical features (raised tenfold if it diverges)"
    defaults = {"alpha": 1e-4}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"alpha": trial.suggest_float("alpha", 1e-4, 10.0, log=True)}

    def make_estimator(self, data):
        return StabilisedCoxPH(self.params["alpha"])

    def fit(self, data):
        super().fit(data)
        raised = self.estimator_.alpha_ != self.params["alpha"]
        self.notes = ([f"ridge alpha raised to {self.estimator_.alpha_:g} where the fit diverged "
                       "(a covariate separates the training fold's events)"] if raised else [])
        return self
