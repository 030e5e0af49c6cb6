"""Cox proportional hazards on clinical features (lightly ridge-penalised for separation)."""
from sksurv.linear_model import CoxPHSurvivalAnalysis

from benchmark.estimators import SksurvMethod


class CoxPH(SksurvMethod):
    name = "coxph"
    description = "Cox-PH, Breslow ties, ridge alpha on standardised clinical features"
    defaults = {"alpha": 1e-4}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"alpha": trial.suggest_float("alpha", 1e-4, 10.0, log=True)}

    def make_estimator(self, data):
        return CoxPHSurvivalAnalysis(alpha=self.params["alpha"], ties="breslow")
