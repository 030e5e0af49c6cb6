"""The radiomics baselines' inputs: which imaging features an `SksurvMethod` reads and how it selects
among them inside the training fold (the selectors themselves are in benchmark.features)."""
from __future__ import annotations

import pandas as pd

from benchmark.features import radiomics_features  # noqa: F401 (registers the "radiomics" provider)
from benchmark.features.feature_selection import CorrelationFilter, UnivariateCoxSelector


class RadiomicsInputs:
    """Mixin for an `SksurvMethod`: per-node radiomics plus the segmentation's morphometry (the
    prepared geometry row: node volumes, tumour count, tumour-vessel distances and contacts, the
    same quantities STG reads as edge attributes), plus clinical features when `with_clinical`;
    reduced by a correlation filter and univariate Cox ranking fitted on the training fold, after a log
    of the right-skewed non-negative columns (volumes, counts, energies), without which the filter and
    the ranking follow the few largest tumours and drop the tumour volume."""

    requires = ("images", "geometry", "radiomics")
    with_clinical = False
    log_skewed = True
    selection_defaults = {"max_correlation": 0.9, "n_selected": 30}

    def features(self, data) -> pd.DataFrame:
        radiomics = data.artefact("radiomics").loc(data.ids).flat()
        morphometry = data.artefact("geometry").loc[data.ids].add_prefix("geometry:")
        imaging = pd.concat([radiomics, morphometry], axis=1)
        return pd.concat([data.X, imaging], axis=1) if self.with_clinical else imaging

    def selection(self) -> list:
        return [CorrelationFilter(self.params["max_correlation"]), UnivariateCoxSelector(self.params["n_selected"])]
