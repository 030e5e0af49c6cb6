"""Find what a TCIA Colorectal-Liver-Metastases download holds, in whichever shape it came.

Users pass the folder they have: the one above the collection folder, the collection folder itself
(``Colorectal-Liver-Metastases``, what the NBIA retriever creates), or a folder holding ``manifest-*``
download folders. Patients are looked for in the folder passed, its collection subfolder and every
``manifest-*`` folder (and its collection subfolder) up to two levels below. A manifest folder's
NBIA ``metadata.csv`` maps each series to its folder, so its patients are found without opening a
DICOM file; elsewhere a patient folder is one named ``CRLM-CT-<n>``, or, failing that (an
nbiatoolkit download named by UIDs or renamed), one whose ``<study>/<series>/*.dcm`` gives a
PatientID. The clinical table is the release xlsx (dashes or spaces in its name) or any
``*clinical*`` xlsx/csv (its CSV export) up to two levels down, or beside the collection folder
passed. Finding nothing raises DownloadError with one line naming the folder and the layout
expected, so a wrong path never reads as a cohort of 0 patients.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom

from benchmark.data.clinical import CLINICAL_FILENAME
from benchmark.data.imaging.tcia_reader import PatientFolder, Series
from benchmark.data.imaging.writer import COLLECTION

METADATA_NAME = "metadata.csv"
PATIENT_FOLDER = re.compile(r"CRLM-CT-\d+")
EXPECTED_LAYOUT = (f"expected PATH[/manifest-*][/{COLLECTION}]/<patient>/<study>/<series>/*.dcm and the clinical "
                   f"table ({CLINICAL_FILENAME} or its CSV export) in PATH")
#: metadata.csv columns read, as NBIA writes them.
_METADATA_COLUMNS = ["Series UID", "Subject ID", "Modality", "File Location"]
_TABLE_SUFFIXES = {".xlsx": 0, ".csv": 1}


class DownloadError(ValueError):
    """Nothing usable where the download should be; the message names the folder and the layout."""


@dataclass(frozen=True)
class Download:
    """What a download holds and which files say so (shown by `prepare` and in table footers)."""

    root: Path
    clinical_file: Path
    patients: dict[str, PatientFolder]
    sources: tuple[str, ...]    # where the patients were found and how, one entry per place

    def describe(self) -> str:
        """Where the clinical table and the patients were found, paths relative to the folder passed."""
        return f"clinical table {_shown(self.clinical_file, self.root)}; patients: {', '.join(self.sources)}"


def _shown(path: Path, root: Path) -> str:
    """`path` relative to `root` (footers name no local directories); '.' for root itself."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(Path("..") / path.relative_to(root.parent))


def discover(root: Path) -> Download:
    """The patients and the clinical table of the download at `root`; DownloadError when either is missing."""
    root = Path(root)
    if not root.is_dir():
        raise DownloadError(f"{root}: not a folder; {EXPECTED_LAYOUT}")
    patients, sources = find_patients(root)
    return Download(root, find_clinical_file(root), patients, sources)


def manifest_folders(root: Path) -> list[Path]:
    """The NBIA download folders: `root` itself when it is one, and ``manifest-*`` up to two levels below."""
    own = [root] if root.name.startswith("manifest-") or (root / METADATA_NAME).is_file() else []
    below = sorted(p for pattern in ("manifest-*", "*/manifest-*") for p in root.glob(pattern) if p.is_dir())
    return own + below


def find_patients(root: Path) -> tuple[dict[str, PatientFolder], tuple[str, ...]]:
    """Patient id -> folder over every place a download keeps patients, and one line per place used."""
    patients: dict[str, PatientFolder] = {}
    sources, listed, manifests = [], [], manifest_folders(root)
    for manifest in manifests:
        found = patients_from_metadata(manifest)
        if found:
            _merge(patients, found)
            listed.append(manifest)
            sources.append(f"{len(found)} listed in {_shown(manifest / METADATA_NAME, root)}")
    places = dict.fromkeys(p for folder in [root, *manifests] for p in (folder, folder / COLLECTION)
                           if p.is_dir() and not any(p == m or m in p.parents for m in listed))
    for place in places:
        found = patients_in_folder(place)
        if found:
            _merge(patients, found)
            sources.append(f"{len(found)} folder(s) in {_shown(place, root)}")
    if not patients:
        raise DownloadError(f"{root}: no patient folder (CRLM-CT-* or <study>/<series>/*.dcm with a PatientID) "
                            f"in it, its {COLLECTION} or manifest-* folders; {EXPECTED_LAYOUT}")
    if not any(next(p.directory.glob("*/*/*.dcm"), None) for p in patients.values()):
        raise DownloadError(f"{root}: {len(patients)} patient folder(s) but no DICOM file (*.dcm) in their "
                            f"<study>/<series> folders; {EXPECTED_LAYOUT}")
    return dict(sorted(patients.items())), tuple(sources)


def _merge(patients: dict[str, PatientFolder], found: dict[str, PatientFolder]) -> None:
    """Add `found`; a patient in two places (two downloads of the same patient) is an error, never a guess."""
    for pid, folder in found.items():
        if pid in patients and patients[pid].directory != folder.directory:
            raise DownloadError(f"{pid} is in two folders, {patients[pid].directory} and {folder.directory}; "
                                f"keep one download of each patient")
        patients[pid] = folder


def patients_from_metadata(manifest: Path) -> dict[str, PatientFolder]:
    """Patients of a manifest folder from its NBIA metadata.csv (Subject ID, Modality, File Location);
    series whose folder is not on disk (an unfinished download) are left out. Empty without the file."""
    path = manifest / METADATA_NAME
    if not path.is_file():
        return {}
    try:
        table = pd.read_csv(path, dtype=str, usecols=_METADATA_COLUMNS).dropna()
    except (ValueError, OSError) as error:
        raise DownloadError(f"{path}: not an NBIA metadata.csv ({error})") from error
    series: dict[str, list[Series]] = {}
    for uid, pid, modality, location in zip(*(table[c].str.strip() for c in _METADATA_COLUMNS)):
        directory = manifest / location.replace("\\", "/")
        if directory.is_dir():
            series.setdefault(pid, []).append(Series(directory, modality, uid))
    return {pid: PatientFolder(pid, found[0].directory.parent.parent, tuple(found)) for pid, found in series.items()}


def patients_in_folder(folder: Path) -> dict[str, PatientFolder]:
    """The patient folders directly in `folder`, by name or else by the PatientID of their DICOM files."""
    found = {}
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        pid = directory.name if PATIENT_FOLDER.fullmatch(directory.name) else dicom_patient_id(directory)
        if pid:
            _merge(found, {pid: PatientFolder(pid, directory)})
    return found


def dicom_patient_id(directory: Path) -> str | None:
    """The PatientID of the first readable ``<study>/<series>/*.dcm`` below `directory`, None without one."""
    for path in sorted(directory.glob("*/*/*.dcm")):
        try:
            pid = str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"]).get("PatientID", ""))
        except Exception:  # pydicom raises several types for damaged files; the next file may do
            continue
        return pid.strip() or None
    return None


def _table_rank(path: Path, depth: int) -> tuple:
    """Sort key of a clinical-table candidate: the release name first, xlsx before csv, shallow first."""
    release = _folded(path.stem) != _folded(Path(CLINICAL_FILENAME).stem)
    return release, _TABLE_SUFFIXES[path.suffix.lower()], depth, path.name


def _folded(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


def _tables(folder: Path, pattern: str) -> list[Path]:
    return [path for path in folder.glob(pattern) if path.suffix.lower() in _TABLE_SUFFIXES
            and "clinical" in path.name.lower() and path.is_file()]


def find_clinical_file(root: Path) -> Path:
    """The clinical table of the download: the release table (any spelling) or a *clinical* xlsx/csv, in
    `root` up to two levels down (never among the DICOM files), else beside `root` when `root` is the
    collection folder."""
    candidates = [(path, depth) for depth, pattern in enumerate(("*", "*/*", "*/*/*"))
                  for path in _tables(root, pattern)]
    if not candidates and root.name == COLLECTION:
        candidates = [(path, 0) for path in _tables(root.parent, "*")]
    if not candidates:
        raise DownloadError(f"{root}: no clinical table (*clinical*.xlsx or .csv); {EXPECTED_LAYOUT}")
    return min(candidates, key=lambda item: _table_rank(*item))[0]
