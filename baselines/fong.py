"""Fong clinical risk score (0-5): no training; survival per score from the training fold's KM.

Score = node-positive primary + synchronous metastases (disease-free interval < 12 months)
+ more than one tumour + CEA > 200 ng/ml + largest tumour > 5 cm. Where the table's score is
missing it is recomputed from these items; an unknown CEA counts as not elevated (stated).
"""
import numpy as np
from sksurv.nonparametric import kaplan_meier_estimator

from benchmark.data.clinical import PREOPERATIVE_FEATURES
from benchmark.methods import FoldData, Method

SCORE_ITEMS = ("node_positive_primary", "synchronous_crlm", "multiple_metastases")
MIN_STRATUM = 10


def fong_score(frame) -> np.ndarray:
    items = sum(frame[column].fillna(0).to_numpy() for column in SCORE_ITEMS)
    items = items + (frame["carcinoembryonic_antigen"].fillna(0).to_numpy() > 200)
    items = items + (frame["max_tumor_size"].fillna(0).to_numpy() > 5)
    given = frame["clinrisk_score"].to_numpy()
    return np.where(np.isnan(given), items, given)


class FongScore(Method):
    name = "fong"
    description = "Fong clinical risk score; KM curve per score level fitted on the training fold"

    @classmethod
    def applicable(cls, cohort):
        missing = {"clinrisk_score", *PREOPERATIVE_FEATURES} - set(cohort.clinical.columns)
        return f"needs the CRLM clinical columns ({len(missing)} absent)" if missing else None

    def _km(self, time, event, grid):
        times, survival = kaplan_meier_estimator(event.astype(bool), time)
        index = np.searchsorted(times, grid, side="right") - 1
        return np.where(index >= 0, survival[np.maximum(index, 0)], 1.0)

    def fit(self, data: FoldData) -> "FongScore":
        score = fong_score(data.cohort.clinical.loc[data.ids])
        y, grid = data.y, data.time_grid
        pooled = self._km(y["time"], y["event"], grid)
        self.curves_ = {}
        for level in range(6):
            members = score == level
            enough = members.sum() >= MIN_STRATUM and y["event"][members].any()
            self.curves_[level] = self._km(y["time"][members], y["event"][members], grid) if enough else pooled
        return self

    def predict_survival(self, data: FoldData):
        score = fong_score(data.cohort.clinical.loc[data.ids])
        surv = np.vstack([self.curves_[int(level)] for level in score])
        return score.astype(float), surv

    def n_params(self) -> int:
        return 0
