"""Feature selection fitted inside the training fold: scikit-learn selectors for survival targets.

Radiomics gives hundreds of correlated features for ~200 patients; selecting on all patients would
leak the test fold's outcomes into the model. These selectors are ordinary scikit-learn
transformers (`fit(X, y)` with y the scikit-survival structured array), so they sit in the
preprocessing Pipeline that a method fits on its training FoldData only (the radiomics baselines'
`benchmark.methods.radiomics.RadiomicsInputs`).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted, validate_data


def cox_scores(X: np.ndarray, y) -> np.ndarray:
    """Univariate Cox score-test statistic U^2 / I of every column at beta = 0 (Breslow ties): (p,).

    Risk-set sums come from reverse cumulative sums over patients sorted by time, so all
    columns are scored in O(n p). A constant column scores 0.
    """
    X = np.asarray(X, dtype=float)
    time, event = np.asarray(y["time"], dtype=float), np.asarray(y["event"], dtype=bool)
    order = np.argsort(time, kind="stable")
    X, time, event = X[order], time[order], event[order]
    start = np.searchsorted(time, time, side="left")            # first patient of each risk set
    at_risk = (len(time) - start)[:, None].astype(float)
    s1 = np.cumsum(X[::-1], axis=0)[::-1][start]
    s2 = np.cumsum(X[::-1] ** 2, axis=0)[::-1][start]
    mean = s1 / at_risk
    score = np.sum((X - mean)[event], axis=0)
    information = np.sum((s2 / at_risk - mean**2)[event], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(information > 1e-12, score**2 / information, 0.0)
    return np.nan_to_num(statistic)


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop a feature whose |Pearson r| with an already kept one exceeds `threshold`.

    Features are visited by decreasing univariate Cox score when y is given (so each correlated
    group keeps its most prognostic member), else in column order.
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X, y=None):
        X = validate_data(self, X, ensure_all_finite=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.nan_to_num(np.abs(np.corrcoef(X, rowvar=False)))
        corr = np.atleast_2d(corr)
        order = np.argsort(-cox_scores(X, y), kind="stable") if y is not None else np.arange(X.shape[1])
        keep = np.zeros(X.shape[1], bool)
        for column in order:
            if not np.any(corr[column, keep] > self.threshold):
                keep[column] = True
        self.support_ = keep
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_


class UnivariateCoxSelector(SelectorMixin, BaseEstimator):
    """Keep the `k` features with the largest univariate Cox score-test statistic on the training fold."""

    def __init__(self, k: int = 30):
        self.k = k

    def fit(self, X, y):
        X = validate_data(self, X, ensure_all_finite=True)
        self.scores_ = cox_scores(X, y)
        keep = np.zeros(X.shape[1], bool)
        keep[np.argsort(-self.scores_, kind="stable")[:self.k]] = True
        self.support_ = keep
        return self

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

