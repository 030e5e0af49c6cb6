"""The shipped real MSKCC CRLM tables: the release clinical table and the segmentation volumes.

The release xlsx of TCIA Colorectal-Liver-Metastases (CC BY 4.0; citation and facts in
``benchmark/data/real/mskcc_crlm/SOURCE.md``) is checked by sha256 and read through the same clinical
reader as a `tcia:PATH` download. Read here, below the dataset plug-ins, because both the `mskcc-crlm`
dataset and the synthetic generator's calibration on it use them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.data import clinical
from benchmark.files import file_digest

TABLE = (Path(__file__).parent / "real" / "mskcc_crlm"
         / "Colorectal Liver Metastases Clinical data April 2023.xlsx")
SHA256 = "57b3f64da1ba6697dcddf03748bee33c430cf45ec4e8c04c189944e5697be86a"
#: Volumes measured on the expert SEG of 50 of the patients (SOURCE.md): the anatomy's calibration.
SEGMENTATION_VOLUMES = TABLE.with_name("crlm_segmentation_volumes_n50.csv")
CITATION = ("Simpson et al., Sci Data 11:172 (2024), doi:10.1038/s41597-024-02981-2; "
            "TCIA doi:10.7937/QXK2-QG03; CC BY 4.0")


def read_clinical(path: Path = TABLE) -> pd.DataFrame:
    """The release table, indexed by patient id, once its checksum matches the release's."""
    if not path.is_file():
        raise clinical.ClinicalTableError(f"{path}: the shipped MSKCC table is missing (reinstall the package)")
    digest = file_digest(path)
    if digest != SHA256:
        raise clinical.ClinicalTableError(f"{path}: sha256 {digest} is not the release's {SHA256}; "
                                          "the shipped table was altered")
    return clinical.read_clinical_table(path)


def read_segmentation_volumes() -> pd.DataFrame:
    """Slices, slice spacing, tumour count, liver and total tumour volume (ml) of 50 real patients."""
    return pd.read_csv(SEGMENTATION_VOLUMES, index_col="patient_id")
