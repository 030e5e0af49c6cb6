"""`mskcc-crlm`: the real clinical table of the 197 MSKCC patients, shipped with the suite.

The release xlsx of TCIA Colorectal-Liver-Metastases (CC BY 4.0; citation and facts in
``benchmark/data/real/mskcc_crlm/SOURCE.md``), checked by sha256 and read through the same clinical
reader as a `tcia:PATH` download. It has no images: image methods are listed as not run on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.data import clinical
from benchmark.data.cohort import Cohort
from benchmark.datasets import Dataset, DatasetError
from benchmark.datasets.tcia import cohort_from_clinical
from benchmark.files import file_digest

NAME = "mskcc-crlm"
TABLE = (Path(__file__).parents[1] / "data" / "real" / "mskcc_crlm"
         / "Colorectal Liver Metastases Clinical data April 2023.xlsx")
SHA256 = "57b3f64da1ba6697dcddf03748bee33c430cf45ec4e8c04c189944e5697be86a"
#: Volumes measured on the expert SEG of 50 of the patients (SOURCE.md): the anatomy's calibration.
SEGMENTATION_VOLUMES = TABLE.with_name("crlm_segmentation_volumes_n50.csv")
CITATION = ("Simpson et al., Sci Data 11:172 (2024), doi:10.1038/s41597-024-02981-2; "
            "TCIA doi:10.7937/QXK2-QG03; CC BY 4.0")


def load_mskcc(path: Path = TABLE) -> Cohort:
    """The shipped real clinical table, read through the TCIA clinical reader after its checksum.

    All three endpoints and both feature sets are in its default run: it is the real cohort every
    published number on CRLM refers to.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: the shipped {NAME} table is missing (reinstall the package)")
    digest = file_digest(path)
    if digest != SHA256:
        raise DatasetError(f"{path}: sha256 {digest} is not the release's {SHA256}; the shipped table was altered")
    cohort = cohort_from_clinical(clinical.read_clinical_table(path), NAME, None)
    cohort.description = f"real MSKCC CRLM cohort, clinical table only ({CITATION})"
    cohort.default_endpoints = tuple(clinical.ENDPOINTS)
    cohort.default_feature_sets = tuple(clinical.FEATURE_SETS)
    return cohort


def read_clinical() -> pd.DataFrame:
    """The release table itself (checked like `load_mskcc`), indexed by patient id."""
    return load_mskcc().clinical


def read_segmentation_volumes() -> pd.DataFrame:
    """Slices, slice spacing, tumour count, liver and total tumour volume (ml) of 50 real patients."""
    return pd.read_csv(SEGMENTATION_VOLUMES, index_col="patient_id")


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
