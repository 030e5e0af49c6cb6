"""`gbsg2`, `whas500`, `veterans`: real tabular survival cohorts shipped with scikit-survival.

The clinical methods run on them too: a real-data check of the harness against published figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.data.cohort import Cohort
from benchmark.datasets import Dataset, DatasetError

#: name -> (scikit-survival loader, endpoint, description)
TABULAR = {
    "gbsg2": ("load_gbsg2", "dfs", "German Breast Cancer Study Group 2 (n=686, recurrence-free survival, days)"),
    "whas500": ("load_whas500", "os", "Worcester Heart Attack Study (n=500, overall survival, days)"),
    "veterans": ("load_veterans_lung_cancer", "os", "Veterans' lung cancer trial (n=137, overall survival, days)"),
}


@dataclass(frozen=True)
class TabularCohort(Dataset):
    kind: str

    kinds = tuple(TABULAR)
    usage = " | ".join(TABULAR)
    description = "real tabular cohorts of scikit-survival: " + "; ".join(d for _, _, d in TABULAR.values())
    units_per_year = 365.25

    @classmethod
    def parse(cls, kind: str, argument: str) -> TabularCohort:
        if argument:
            raise DatasetError(f"{kind} takes no options (got {argument!r})")
        return cls(kind)

    @property
    def name(self) -> str:
        return self.kind

    def load(self, data_dir: Path, n_jobs: int = 1) -> Cohort:
        import sksurv.datasets
        from sksurv.column import encode_categorical

        loader, endpoint, description = TABULAR[self.kind]
        features, y = getattr(sksurv.datasets, loader)()
        features = encode_categorical(features).astype(float)
        ids = pd.Index([f"{self.kind}-{i:04d}" for i in range(len(features))], name="patient_id")
        features.index = ids
        event_field, time_field = y.dtype.names
        outcome = pd.DataFrame({"time": y[time_field].astype(float), "event": y[event_field].astype(int)},
                               index=ids)
        return Cohort(name=self.kind, clinical=features, outcomes={endpoint: outcome},
                      feature_sets={"clinical": list(features.columns)}, units_per_year=self.units_per_year,
                      primary_endpoint=endpoint, description=description)
