"""Ridge Cox on clinical features plus the segmentation's native-grid morphometry.

What a clinician-researcher fits first on segmented CTs: volumes, lesion count, lesion-vessel
distances and the future remnant (`benchmark.data.imaging.morphometry`) beside the clinical table, in
a Cox model. Image models have to beat it to show they see more than these numbers. Volumes (ml) and
counts are log1p-transformed, as their effect on the hazard is roughly multiplicative; imputation
and scaling are fitted on the training fold (`SksurvMethod`). The ridge penalty is fixed at alpha = 1.0
on standardised features, a conventional default chosen once, not tuned on any cohort: with some 30
covariates and 100-odd patients an unpenalised fit overfits (raised tenfold only where the fit diverges).
"""
import numpy as np
import pandas as pd

from baselines.coxph import CoxPH


def morphometry_features(table: pd.DataFrame) -> pd.DataFrame:
    """The morphometry columns as the model reads them: volumes and counts on a log1p scale."""
    logged = [column for column in table.columns if column.endswith("_ml") or column.startswith("n_")]
    return table.assign(**{column: np.log1p(table[column]) for column in logged}).add_prefix("morphometry:")


class Morphometry(CoxPH):
    name = "morphometry"
    description = ("Cox-PH, ridge alpha 1.0 on standardised clinical features + native-grid SEG morphometry "
                   "(log1p volumes and counts, lesion-vessel distances, remnant)")
    requires = ("clinical", "images", "morphometry")
    defaults = {"alpha": 1.0}

    @classmethod
    def search_space(cls, trial) -> dict:
        """None: the bar stays where it was set, also under `--tune`."""
        return {}

    def features(self, data) -> pd.DataFrame:
        return pd.concat([data.X, morphometry_features(data.artefact("morphometry").loc[data.ids])], axis=1)
