"""`tcia:PATH`: a TCIA Colorectal-Liver-Metastases download (DICOM CT + SEG + the
clinical table), in whichever shape it was downloaded (see benchmark.data.imaging.discovery).

Also the reader of every CRLM cohort in the TCIA format: the synthetic default is written in it, and
the shipped real clinical table is read by the same clinical reader.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.data import clinical
from benchmark.data.cohort import Cohort
from benchmark.datasets import Dataset, DatasetError


def cohort_from_clinical(table: pd.DataFrame, name: str, root: Path | None) -> Cohort:
    """A CRLM Cohort from a parsed clinical table: the three endpoints, both feature sets."""
    outcomes = {
        endpoint: pd.DataFrame({"time": table[time_column], "event": table[event_column].astype(int)})
        for endpoint, (time_column, event_column) in clinical.ENDPOINTS.items()
    }
    return Cohort(name=name, clinical=table, outcomes=outcomes, feature_sets=clinical.FEATURE_SETS,
                  units_per_year=12.0, primary_endpoint="dfs", root=root,
                  description="CRLM cohort in the TCIA format")


def load_tcia(root: Path, name: str = "tcia", data_dir: Path = Path("data"), n_jobs: int = 1) -> Cohort:
    """Read a TCIA-format cohort: find the download's patients and clinical table, prepare the images.

    Patients whose images cannot be read or who have none are excluded here, before any split is
    drawn, with the reason kept on the cohort, so every method sees the same patients. The
    description says how many of the clinical table's patients have images and which files were
    used (table footers show it).
    """
    from benchmark.data import imaging  # imported late: the DICOM stack is only needed here
    from benchmark.data.imaging import discovery

    try:
        download = discovery.discover(Path(root))
    except discovery.DownloadError as error:
        raise DatasetError(str(error)) from error
    table = clinical.read_clinical_table(download.clinical_file)
    cohort = cohort_from_clinical(table, name, Path(root))
    imaged = sum(pid in download.patients for pid in table.index)
    imaging.attach_images(cohort, download.patients, Path(data_dir) / "cache" / name, n_jobs)
    cohort.description = (f"TCIA CRLM download: images for {imaged} of the {len(table)} patients of the clinical "
                          f"table; {download.describe()}")
    return cohort


@dataclass(frozen=True)
class TciaDownload(Dataset):
    path: Path

    kinds = ("tcia",)
    usage = "tcia:PATH"
    description = "real TCIA Colorectal-Liver-Metastases download (DICOM CT + SEG + clinical xlsx)"
    imaging = True
    crlm = True

    @classmethod
    def parse(cls, kind: str, argument: str) -> TciaDownload:
        if not argument:
            raise DatasetError("dataset 'tcia' needs a path: tcia:PATH")
        return cls(Path(argument).expanduser())

    @property
    def name(self) -> str:
        return "tcia"

    @property
    def spec(self) -> str:
        return f"tcia:{self.path}"

    @classmethod
    def from_name(cls, name: str) -> None:
        return None   # the name does not say where the download is

    def present(self, data_dir: Path) -> bool:
        return self.path.is_dir()

    def load(self, data_dir: Path, n_jobs: int = 1) -> Cohort:
        return load_tcia(self.path, self.name, data_dir, n_jobs)
