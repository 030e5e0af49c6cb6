"""`tcia:PATH[,max_slice_mm=X]`: a TCIA Colorectal-Liver-Metastases download (DICOM CT + SEG + the
clinical table), in whichever shape it was downloaded (see benchmark.data.imaging.discovery).

Also the reader of every CRLM cohort in the TCIA format: the synthetic default is written in it, and
the shipped real clinical table is read by the same clinical reader. ``max_slice_mm`` leaves out the
patients whose CT slices are thicker; it names the cohort (``tcia-max-slice-5mm``), so its results
and caches never mix with those of the whole download.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from benchmark.data import clinical
from benchmark.data.cohort import Cohort
from benchmark.datasets import Dataset, DatasetError

_SPEC = re.compile(r"(?P<path>.+?)(?:,max_slice_mm=(?P<mm>[^,]*))?")


def cohort_from_clinical(table: pd.DataFrame, name: str, root: Path | None) -> Cohort:
    """A CRLM Cohort from a parsed clinical table: the three endpoints, both feature sets."""
    outcomes = {
        endpoint: pd.DataFrame({"time": table[time_column], "event": table[event_column].astype(int)})
        for endpoint, (time_column, event_column) in clinical.ENDPOINTS.items()
    }
    return Cohort(name=name, clinical=table, outcomes=outcomes, feature_sets=clinical.FEATURE_SETS,
                  units_per_year=12.0, primary_endpoint="dfs", root=root,
                  description="CRLM cohort in the TCIA format")


def slice_spacing_counts(manifest: pd.DataFrame) -> str:
    """'2.5 mm: 40, 5 mm: 11' over the patients whose CT was read (before any slice-spacing limit)."""
    counts = manifest["slice_mm"].dropna().astype(float).value_counts().sort_index()
    return ", ".join(f"{mm:g} mm: {n}" for mm, n in counts.items()) or "none read"


def load_tcia(root: Path, name: str = "tcia", data_dir: Path = Path("data"), n_jobs: int = 1,
              max_slice_mm: float | None = None, clinical_file: Path | None = None,
              cache_name: str | None = None) -> Cohort:
    """Read a TCIA-format cohort: find the download's patients and clinical table, prepare the images.

    Patients whose images cannot be read, who have none, or whose slices are thicker than
    `max_slice_mm` are excluded here, before any split is drawn, with the reason kept on the cohort,
    so every method sees the same patients. `clinical_file` replaces the table the download holds
    (the synthetic scenarios); `cache_name` shares the image and feature caches of another cohort
    with the same images. The description says how many of the clinical table's
    patients have images, which files were used and the slice spacings met (table footers show it).
    """
    from benchmark.data import imaging  # imported late: the DICOM stack is only needed here
    from benchmark.data.imaging import discovery

    try:
        download = discovery.discover(Path(root))
    except discovery.DownloadError as error:
        raise DatasetError(str(error)) from error
    table = clinical.read_clinical_table(clinical_file or download.clinical_file)
    cohort = cohort_from_clinical(table, name, Path(root))
    cohort.cache_name = cache_name or name
    imaged = sum(pid in download.patients for pid in table.index)
    manifest = imaging.attach_images(cohort, download.patients, Path(data_dir) / "cache" / cohort.cache_name,
                                     n_jobs, max_slice_mm=max_slice_mm)
    cohort.description = (f"TCIA CRLM download: images for {imaged} of the {len(table)} patients of the clinical "
                          f"table; {download.describe()}; CT slice spacing {slice_spacing_counts(manifest)}")
    return cohort


@dataclass(frozen=True)
class TciaDownload(Dataset):
    path: Path
    max_slice_mm: float | None = None

    kinds = ("tcia",)
    usage = "tcia:PATH[,max_slice_mm=X]"
    description = "real TCIA Colorectal-Liver-Metastases download (DICOM CT + SEG + clinical xlsx)"
    imaging = True
    crlm = True

    def __post_init__(self):
        if self.max_slice_mm is not None and not self.max_slice_mm > 0:
            raise DatasetError(f"tcia: max_slice_mm must be a positive number of mm, not {self.max_slice_mm}")

    @classmethod
    def parse(cls, kind: str, argument: str) -> TciaDownload:
        if not argument:
            raise DatasetError("dataset 'tcia' needs a path: tcia:PATH")
        match = _SPEC.fullmatch(argument)
        try:
            millimetres = float(match["mm"]) if match["mm"] is not None else None
        except ValueError:
            raise DatasetError(f"tcia: max_slice_mm={match['mm']!r} is not a number") from None
        return cls(Path(match["path"]).expanduser(), millimetres)

    @property
    def name(self) -> str:
        return "tcia" if self.max_slice_mm is None else f"tcia-max-slice-{self.max_slice_mm:g}mm"

    @property
    def spec(self) -> str:
        return f"tcia:{self.path}" + ("" if self.max_slice_mm is None else f",max_slice_mm={self.max_slice_mm:g}")

    @classmethod
    def from_name(cls, name: str) -> None:
        return None   # the name does not say where the download is

    def with_max_slice_mm(self, millimetres: float) -> TciaDownload:
        return replace(self, max_slice_mm=millimetres)

    def present(self, data_dir: Path) -> bool:
        return self.path.is_dir()

    def load(self, data_dir: Path, n_jobs: int = 1) -> Cohort:
        return load_tcia(self.path, self.name, data_dir, n_jobs, self.max_slice_mm)
