"""Refuse leakage where it would happen: a test patient among the patients a method learns from.

Every cell checks its split (no patient on both sides), and a method fits on a *training view* of
the cohort: the same cohort without the outcomes of the fold's test patients. Whatever the method
does with its training FoldData (inner validation splits, tuning folds, early stopping, or a new
FoldData over other patients of the same cohort), the outcomes it can read are the training
patients' only; asking for a test patient's outcome raises `LeakageError` naming the fold and the
patients, and the run stops.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from benchmark.data.cohort import Cohort

SHOWN = 10   # patients named in a message


class LeakageError(RuntimeError):
    """Test patients where only training patients may be; the message names the fold and patients."""


def _named(patients) -> str:
    patients = sorted(map(str, patients))
    more = f" and {len(patients) - SHOWN} more" if len(patients) > SHOWN else ""
    return ", ".join(patients[:SHOWN]) + more


def check_split(where: str, train, test) -> None:
    """A split whose training and test sides share patients is refused."""
    shared = set(train) & set(test)
    if shared:
        raise LeakageError(f"{where}: {len(shared)} test patient(s) also in the training side: {_named(shared)}")


@dataclass
class TrainingView(Cohort):
    """A cohort whose outcomes are those of the training patients of one fold (see the module)."""

    withheld: frozenset = frozenset()
    where: str = ""

    def outcome(self, endpoint: str, ids=None) -> pd.DataFrame:
        requested = self.patient_ids if ids is None else np.atleast_1d(ids)
        leaked = self.withheld.intersection(requested)
        if leaked:
            raise LeakageError(f"{self.where}: the method read the outcomes of {len(leaked)} test patient(s) "
                               f"while fitting: {_named(leaked)}")
        return super().outcome(endpoint, ids)


def training_view(cohort: Cohort, test, where: str) -> TrainingView:
    """`cohort` without the outcomes of the `test` patients (their features stay: the harness predicts
    them with the same cohort)."""
    withheld = frozenset(test)
    outcomes = {name: frame.drop(index=list(withheld), errors="ignore") for name, frame in cohort.outcomes.items()}
    shared = {f.name: getattr(cohort, f.name) for f in fields(Cohort) if f.name != "outcomes"}
    return TrainingView(**shared, outcomes=outcomes, withheld=withheld, where=where)
