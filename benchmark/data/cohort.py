"""The Cohort: patients, their clinical table, outcomes per endpoint and (optionally) truth.

Every dataset, real or synthetic, tabular or imaging, becomes a Cohort, so the splits, methods,
metrics and tables never need to know where the data came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sksurv.util import Surv

N_YEARS = 12


def year_bin(years) -> np.ndarray:
    """Discretise years into the 12 one-year bins of the task: clip(floor(years), 0, 11)."""
    return np.clip(np.floor(np.asarray(years, dtype=float)), 0, N_YEARS - 1).astype(int)


def structured(time, event) -> np.ndarray:
    """The scikit-survival structured array (event, time)."""
    return Surv.from_arrays(event=np.asarray(event).astype(bool), time=np.asarray(time, dtype=float))


@dataclass
class Cohort:
    """A dataset ready for the harness.

    `outcomes` maps each endpoint to a frame (index: patient id; columns ``time``, ``event``).
    `units_per_year` converts follow-up times to years (12 for months, 365.25 for days); the
    suite-wide year bins and time grid are defined in years so every cohort is scored alike.
    `truth` holds the true risk per endpoint (column ``true_risk_<endpoint>``) for synthetic data.
    `excluded` maps patients left out of every analysis to the reason, shown in table footers.
    `images` maps patient id to that patient's image references (imaging cohorts only).
    `artefacts` caches derived per-cohort inputs (prepared volumes, features, graphs) by name.
    `default_endpoints` / `default_feature_sets`: what a run without --endpoint / --feature-set
    covers; empty means the primary endpoint / the pre-operative set.
    `cache_name` names the on-disk cache of the derived inputs; cohorts with the same images share
    it (the scenarios of one synthetic draw). Empty means the cohort's own name.
    """

    name: str
    clinical: pd.DataFrame
    outcomes: dict[str, pd.DataFrame]
    feature_sets: dict[str, list[str]]
    units_per_year: float = 12.0
    primary_endpoint: str = "dfs"
    description: str = ""
    root: Path | None = None
    truth: pd.DataFrame | None = None
    images: dict[str, object] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    artefacts: dict[str, object] = field(default_factory=dict)
    default_endpoints: tuple[str, ...] = ()
    default_feature_sets: tuple[str, ...] = ()
    cache_name: str = ""

    @property
    def patient_ids(self) -> np.ndarray:
        return self.clinical.index.to_numpy()

    def __len__(self) -> int:
        return len(self.clinical)

    def time_grid(self) -> np.ndarray:
        """Suite-wide evaluation grid: monthly from 0 to 12 years, in the cohort's time unit."""
        return np.arange(0, N_YEARS * 12 + 1) / 12 * self.units_per_year

    def outcome(self, endpoint: str, ids=None) -> pd.DataFrame:
        frame = self.outcomes[endpoint]
        return frame if ids is None else frame.loc[ids]

    def y(self, endpoint: str, ids=None) -> np.ndarray:
        frame = self.outcome(endpoint, ids)
        return structured(frame["time"], frame["event"])

    def year_bins(self, endpoint: str, ids=None) -> np.ndarray:
        return year_bin(self.outcome(endpoint, ids)["time"].to_numpy() / self.units_per_year)

    def exclude(self, patient_id: str, reason: str) -> None:
        """Drop a patient from every analysis, keeping the reason for the tables' footers."""
        self.excluded[patient_id] = reason
        self.clinical = self.clinical.drop(index=patient_id, errors="ignore")
        self.outcomes = {name: frame.drop(index=patient_id, errors="ignore")
                         for name, frame in self.outcomes.items()}
        self.images.pop(patient_id, None)
