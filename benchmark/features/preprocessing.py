"""Tabular preprocessing fitted on the training fold only.

Median imputation with missing-value indicators, then standardisation. Methods build it inside
`fit`, which only ever sees training patients, so no statistic of a test patient leaks in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def tabular_pipeline():
    """Impute (median, plus indicators) -> drop constant columns -> standardise."""
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                         VarianceThreshold(0.0), StandardScaler())


def to_matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(dtype=float)
