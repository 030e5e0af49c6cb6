"""Shared machinery for methods built on a scikit-survival estimator over a feature table.

A subclass names its estimator (`make_estimator`) and, if it counts parameters differently from
the coefficient count, `count_params`; the preprocessing (fitted on the training fold), the
survival curves on the suite grid and the Prediction come from here, written once.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline

from benchmark.features.feature_selection import CorrelationFilter
from benchmark.features.preprocessing import tabular_pipeline
from benchmark.methods import FoldData, Method, step_functions_on_grid

#: Columns this correlated with a kept one are duplicates (the missing-value indicators of fields that
#: are missing together, e.g. the Fong score and CEA of the same 29 real patients): dropped inside the
#: training fold, since an exact collinearity makes a Cox fit singular.
DUPLICATE_R = 0.999


class SksurvMethod(Method):
    """A scikit-survival estimator on standardised, imputed features without duplicate columns."""

    #: Log the right-skewed non-negative columns first (benchmark.features.preprocessing.LogSkewed).
    log_skewed = False

    def make_estimator(self, data: FoldData):
        raise NotImplementedError

    def features(self, data: FoldData) -> pd.DataFrame:
        """The feature table of these patients; clinical features of the chosen set by default."""
        return data.X

    def selection(self) -> list:
        """Feature-selection steps after the preprocessing, fitted with the training outcomes; none by default."""
        return []

    def preprocessing(self) -> Pipeline:
        """The unfitted steps from the feature table to the estimator's matrix."""
        return make_pipeline(tabular_pipeline(self.log_skewed), CorrelationFilter(DUPLICATE_R), *self.selection())

    def fit(self, data: FoldData) -> "SksurvMethod":
        self.preprocess_ = self.preprocessing()
        matrix = self.preprocess_.fit_transform(self.features(data).to_numpy(dtype=float), data.y)
        self.estimator_ = self.make_estimator(data)
        self.estimator_.fit(matrix, data.y)
        return self

    def predict_survival(self, data: FoldData) -> tuple[np.ndarray, np.ndarray]:
        matrix = self.preprocess_.transform(self.features(data).to_numpy(dtype=float))
        risk = self.estimator_.predict(matrix)
        surv = step_functions_on_grid(self.estimator_.predict_survival_function(matrix), data.time_grid)
        return risk, surv

    def n_params(self) -> int:
        return int(np.size(self.estimator_.coef_))


def tree_node_count(trees) -> int:
    """Nodes of every tree of an ensemble: the documented parameter count of tree models."""
    return int(sum(tree.tree_.node_count for tree in np.ravel(trees)))
