"""Tabular preprocessing fitted on the training fold only.

Median imputation with missing-value indicators, then standardisation; optionally a log of the
right-skewed non-negative columns first. Methods build it inside `fit`, which only ever sees
training patients, so no statistic of a test patient leaks in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

#: Sample skewness above which a non-negative column is logged: the usual bound of a "highly skewed"
#: distribution (Bulmer 1979). Tumour volumes, counts, energies and size-zone features exceed it.
MAX_SKEWNESS = 1.0


def skewness(X: np.ndarray) -> np.ndarray:
    """Sample skewness of every column over its finite values; 0 for a constant or near-empty column."""
    centred = X - np.nanmean(X, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.nanmean(centred**3, axis=0) / np.nanmean(centred**2, axis=0) ** 1.5
    return np.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0)


class LogSkewed(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """log(x + c) of each column that is non-negative and right-skewed on the training fold, c its
    smallest positive training value (a zero, e.g. an absent node's volume, stays finite and lowest),
    where the log is the more symmetric of the two.

    On raw volumes a linear model, a Pearson correlation and a Cox score test are driven by the few
    largest tumours: a texture feature that also grows with the largest tumours looks redundant with
    the volume (|r| > 0.9 from a handful of patients), and a hazard log-linear in volume, as tumour
    burden is, is ranked by the outliers only. NaN stays NaN, for the imputer and its indicator.
    """

    def __init__(self, max_skewness: float = MAX_SKEWNESS):
        self.max_skewness = max_skewness

    def fit(self, X, y=None):
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        finite = np.isfinite(X)
        with np.errstate(invalid="ignore"):
            non_negative = np.all(~finite | (X >= 0), axis=0)
            positive = np.where(finite & (X > 0), X, np.inf).min(axis=0)
        raw = skewness(X)
        candidates = non_negative & np.isfinite(positive) & (raw > self.max_skewness)
        self.offset_ = np.where(candidates, positive, 1.0)
        logged = np.log(np.where(candidates, X, 0.0) + self.offset_)
        # A degenerate tiny value (a one-voxel-thin axis) would become a far low outlier: such a column stays raw.
        self.logged_ = candidates & (np.abs(skewness(logged)) < raw)
        return self

    def transform(self, X):
        check_is_fitted(self, "logged_")
        X = validate_data(self, X, ensure_all_finite="allow-nan", reset=False, copy=True).astype(float)
        columns = self.logged_
        X[:, columns] = np.log(np.maximum(X[:, columns], 0.0) + self.offset_[columns])
        return X


def tabular_pipeline(log_skewed: bool = False):
    """[Log right-skewed non-negative columns ->] impute (median, plus indicators) -> drop constant
    columns -> standardise."""
    return make_pipeline(*([LogSkewed()] if log_skewed else []),
                         SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                         VarianceThreshold(0.0), StandardScaler())


def to_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(dtype=float)
