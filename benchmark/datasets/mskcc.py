"""`mskcc-crlm`: the real clinical table of the 197 MSKCC patients, shipped with the suite.

The table itself is read by benchmark.data.mskcc (checked by sha256). It has no images: image methods
are listed as not run on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.data import clinical
from benchmark.data.cohort import Cohort
from benchmark.data.mskcc import CITATION, TABLE, read_clinical
from benchmark.datasets import Dataset, DatasetError
from benchmark.datasets.tcia import cohort_from_clinical

NAME = "mskcc-crlm"


def load_mskcc(path: Path = TABLE) -> Cohort:
    """The shipped real clinical table as a cohort.

    All three endpoints and both feature sets are in its default run: it is the real cohort every
    published number on CRLM refers to.
    """
    cohort = cohort_from_clinical(read_clinical(path), NAME, None)
    cohort.description = f"real MSKCC CRLM cohort, clinical table only ({CITATION})"
    cohort.default_endpoints = tuple(clinical.ENDPOINTS)
    cohort.default_feature_sets = tuple(clinical.FEATURE_SETS)
    return cohort


@dataclass(frozen=True)
class MskccClinical(Dataset):
    kinds = (NAME,)
    usage = NAME
    description = f"real MSKCC CRLM clinical table (n=197, no images; {CITATION})"
    crlm = True

    @classmethod
    def parse(cls, kind: str, argument: str) -> MskccClinical:
        if argument:
            raise DatasetError(f"{NAME} takes no options (got {argument!r})")
        return cls()

    @property
    def name(self) -> str:
        return NAME

    def load(self, data_dir: Path, n_jobs: int = 1) -> Cohort:
        return load_mskcc()
