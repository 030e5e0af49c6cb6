"""The oracle: the true risk and true survival curves of the synthetic generative model.

Its ranking metrics (C-index, Uno's C, AUC) are the ceiling no model can pass on that cohort beyond
chance; its year metrics, IBS and calibration are the true curve's median read-out, a reference point
but not a ceiling. Tables show it as a reference row.
"""

from benchmark.data import synthetic
from benchmark.methods import FoldData, Method


class Oracle(Method):
    name = "oracle"
    description = "true risk and survival of the synthetic generative model (the ranking ceiling)"
    requires = ("truth",)
    family = "reference"

    def fit(self, data: FoldData) -> "Oracle":
        return self

    def predict_survival(self, data: FoldData):
        truth = data.cohort.truth.loc[data.ids]
        months = data.time_grid / data.units_per_year * 12
        surv = synthetic.true_survival(truth, months)[data.endpoint]
        return truth[f"true_risk_{data.endpoint}"].to_numpy(), surv

    def n_params(self) -> int:
        return 0
