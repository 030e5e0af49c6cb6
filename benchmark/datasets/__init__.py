"""Dataset registry: turn a dataset spec from the command line into a Cohort.

Specs:
  mskcc-crlm                                        the real MSKCC clinical table (197 patients), shipped
  crlm-synthetic[:n=197,seed=0[,size=small|real]]  the embedded default, generated on first use
  tcia:PATH                                         a real TCIA Colorectal-Liver-Metastases download
  gbsg2 | whas500 | veterans                        real tabular cohorts shipped with scikit-survival

The synthetic cohort is written to disk in the real on-disk format and then read back through
the very same TCIA loader, so the default run exercises the path real data takes.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.data import clinical, synthetic
from benchmark.data.cohort import Cohort
from benchmark.features.node_features import file_digest
from benchmark.harness import results

DEFAULT_DATASET = "crlm-synthetic"
#: The real clinical table of TCIA Colorectal-Liver-Metastases, shipped unchanged (see its SOURCE.md).
MSKCC_DATASET = "mskcc-crlm"
MSKCC_TABLE = (Path(__file__).parents[1] / "data" / "real" / "mskcc_crlm"
               / "Colorectal Liver Metastases Clinical data April 2023.xlsx")
MSKCC_SHA256 = "57b3f64da1ba6697dcddf03748bee33c430cf45ec4e8c04c189944e5697be86a"
MSKCC_CITATION = ("Simpson et al., Sci Data 11:172 (2024), doi:10.1038/s41597-024-02981-2; "
                  "TCIA doi:10.7937/QXK2-QG03; CC BY 4.0")
TABULAR_DATASETS = {
    # name: (scikit-survival loader, endpoint, description)
    "gbsg2": ("load_gbsg2", "dfs", "German Breast Cancer Study Group 2 (n=686, recurrence-free survival, days)"),
    "whas500": ("load_whas500", "os", "Worcester Heart Attack Study (n=500, overall survival, days)"),
    "veterans": ("load_veterans_lung_cancer", "os", "Veterans' lung cancer trial (n=137, overall survival, days)"),
}


#: Datasets whose spec is their name alone.
NAMED_DATASETS = (MSKCC_DATASET, *TABULAR_DATASETS)
#: The datasets of `run --all`, in the order reports show them: the real CRLM cohort first, the
#: synthetic simulation calibrated on it next, then the real tabular sets of scikit-survival.
RUN_ALL_DATASETS = (MSKCC_DATASET, DEFAULT_DATASET, *TABULAR_DATASETS)


def display_order(name: str) -> int:
    """Position of a dataset (result name) in reports: RUN_ALL_DATASETS first, others after."""
    base = "crlm-synthetic" if name.startswith("crlm-synthetic") else name
    return RUN_ALL_DATASETS.index(base) if base in RUN_ALL_DATASETS else len(RUN_ALL_DATASETS)


class DatasetError(ValueError):
    """An unknown dataset spec or an unreadable dataset; the message names it."""


@dataclass(frozen=True)
class DatasetSpec:
    kind: str                 # "mskcc-crlm", "crlm-synthetic", "tcia" or a TABULAR_DATASETS key
    path: Path | None = None  # tcia only
    n_patients: int = 197     # crlm-synthetic only
    seed: int = 0
    image_size: str = "small"

    @property
    def name(self) -> str:
        """Stable name used in result paths and table footers."""
        if self.kind == "crlm-synthetic":
            default = (self.n_patients, self.seed, self.image_size) == (197, 0, "small")
            return self.kind if default else f"{self.kind}-n{self.n_patients}-seed{self.seed}-{self.image_size}"
        return self.kind

    @property
    def is_imaging(self) -> bool:
        return self.kind in {"crlm-synthetic", "tcia"}

    @property
    def is_crlm(self) -> bool:
        """A CRLM cohort (real or synthetic): it also runs the paper's fixed 177/20 split."""
        return self.is_imaging or self.kind == MSKCC_DATASET


def parse_spec(spec: str) -> DatasetSpec:
    """Parse a dataset spec; raises DatasetError with the list of valid names."""
    kind, _, argument = spec.partition(":")
    if kind == "tcia":
        if not argument:
            raise DatasetError("dataset 'tcia' needs a path: tcia:PATH")
        return DatasetSpec("tcia", path=Path(argument).expanduser())
    if kind == "crlm-synthetic":
        options = {}
        for item in filter(None, argument.split(",")):
            key, _, value = item.partition("=")
            if key not in {"n", "seed", "size"}:
                raise DatasetError(f"crlm-synthetic: unknown option {key!r} (n, seed, size)")
            options[key] = value
        try:
            n, seed = int(options.get("n", 197)), int(options.get("seed", 0))
        except ValueError as error:
            raise DatasetError(f"crlm-synthetic: {error}") from error
        size = options.get("size", "small")
        if n < 10 or n > 1000 or size not in {"small", "real"}:
            raise DatasetError("crlm-synthetic: n must be in 10..1000 and size small|real")
        return DatasetSpec("crlm-synthetic", n_patients=n, seed=seed, image_size=size)
    if kind in NAMED_DATASETS and not argument:
        return DatasetSpec(kind)
    names = ", ".join([MSKCC_DATASET, "crlm-synthetic", "tcia:PATH", *TABULAR_DATASETS])
    raise DatasetError(f"unknown dataset {spec!r} (choose from {names})")


def available_datasets() -> list[tuple[str, str]]:
    """(spec, description) of every dataset, for `benchmark list`."""
    return [
        (MSKCC_DATASET, f"real MSKCC CRLM clinical table (n=197, no images; {MSKCC_CITATION})"),
        ("crlm-synthetic", "synthetic CRLM cohort in the TCIA on-disk format (default, n=197, seed 0)"),
        ("tcia:PATH", "real TCIA Colorectal-Liver-Metastases download (DICOM CT + SEG + clinical xlsx)"),
        *[(name, description) for name, (_, _, description) in TABULAR_DATASETS.items()],
    ]


def find_clinical_file(root: Path) -> Path:
    """The clinical table in a TCIA download: the release xlsx, or any *Clinical* xlsx/csv."""
    exact = root / clinical.CLINICAL_FILENAME
    if exact.is_file():
        return exact
    candidates = sorted(p for p in root.glob("*") if p.suffix.lower() in {".xlsx", ".csv"}
                        and "clinical" in p.name.lower())
    if not candidates:
        raise DatasetError(f"{root}: no clinical table (expected {clinical.CLINICAL_FILENAME})")
    return candidates[0]


def cohort_from_clinical(table: pd.DataFrame, name: str, root: Path | None) -> Cohort:
    outcomes = {
        endpoint: pd.DataFrame({"time": table[time_column], "event": table[event_column].astype(int)})
        for endpoint, (time_column, event_column) in clinical.ENDPOINTS.items()
    }
    return Cohort(name=name, clinical=table, outcomes=outcomes, feature_sets=clinical.FEATURE_SETS,
                  units_per_year=12.0, primary_endpoint="dfs", root=root,
                  description="CRLM cohort in the TCIA format")


def load_tcia(root: Path, name: str = "tcia", data_dir: Path = Path("data"), n_jobs: int = 1) -> Cohort:
    """Read a TCIA-format cohort: the clinical table, plus prepared images when a DICOM tree is present.

    Patients whose images cannot be read are excluded here, before any split is drawn, with the
    reason kept on the cohort, so every method sees the same patients.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    table = clinical.read_clinical_table(find_clinical_file(root))
    cohort = cohort_from_clinical(table, name, root)
    from benchmark.data import imaging
    imaging.attach_images(cohort, Path(data_dir) / "cache" / name, n_jobs)
    return cohort


#: Written last into a finished synthetic tree. A tree with another marker (a half-written one, or
#: one from an older generator or layout) is regenerated, never half-used.
SYNTHETIC_TREE_MARKER = (f"generated by benchmark.datasets.ensure_synthetic; generator version "
                         f"{synthetic.GENERATOR_VERSION}; clinical xlsx, latents, DICOM\n")


def synthetic_root(data_dir: Path, spec: DatasetSpec) -> Path:
    return Path(data_dir) / f"crlm-synthetic-n{spec.n_patients}-seed{spec.seed}-{spec.image_size}"


def synthetic_ready(data_dir: Path, spec: DatasetSpec) -> bool:
    """True when the synthetic tree of `spec` is on disk, finished and in the current layout."""
    marker = synthetic_root(data_dir, spec) / "COMPLETE"
    return marker.is_file() and marker.read_text() == SYNTHETIC_TREE_MARKER


def ensure_synthetic(data_dir: Path, spec: DatasetSpec, n_jobs: int = 1) -> Path:
    """Generate the synthetic cohort on disk once (`n_jobs` patients rendered in parallel);
    a half-written tree never looks finished."""
    root = synthetic_root(data_dir, spec)
    if synthetic_ready(data_dir, spec):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
    staging.chmod(0o777 & ~results.current_umask())   # mkdtemp's private mode would outlive the rename
    try:
        drawn = synthetic.generate(spec.n_patients, seed=spec.seed)
        clinical.write_clinical_xlsx(drawn.clinical, staging / clinical.CLINICAL_FILENAME)
        synthetic.write_latents(drawn, staging / "latents")
        from benchmark.data import imaging
        imaging.write_synthetic_tree(drawn, staging, size=spec.image_size, seed=spec.seed, n_jobs=n_jobs)
        (staging / "COMPLETE").write_text(SYNTHETIC_TREE_MARKER)
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def load_synthetic(data_dir: Path, spec: DatasetSpec, n_jobs: int = 1) -> Cohort:
    root = ensure_synthetic(data_dir, spec, n_jobs)
    cohort = load_tcia(root, spec.name, data_dir, n_jobs)
    cohort.description = f"synthetic CRLM cohort (n={spec.n_patients}, seed {spec.seed}, {spec.image_size} images)"
    cohort.truth = synthetic.read_latents(root / "latents").patients.loc[cohort.patient_ids]
    return cohort


def load_mskcc(path: Path = MSKCC_TABLE) -> Cohort:
    """The shipped real clinical table, read through the TCIA clinical reader after its checksum.

    All three endpoints and both feature sets are in its default run: it is the real cohort every
    published number on CRLM refers to.
    """
    if not path.is_file():
        raise DatasetError(f"{path}: the shipped {MSKCC_DATASET} table is missing (reinstall the package)")
    digest = file_digest(path)
    if digest != MSKCC_SHA256:
        raise DatasetError(f"{path}: sha256 {digest} is not the release's {MSKCC_SHA256}; "
                           "the shipped table was altered")
    cohort = cohort_from_clinical(clinical.read_clinical_table(path), MSKCC_DATASET, None)
    cohort.description = f"real MSKCC CRLM cohort, clinical table only ({MSKCC_CITATION})"
    cohort.default_endpoints = tuple(clinical.ENDPOINTS)
    cohort.default_feature_sets = tuple(clinical.FEATURE_SETS)
    return cohort


def load_tabular(name: str) -> Cohort:
    import sksurv.datasets
    from sksurv.column import encode_categorical

    loader, endpoint, description = TABULAR_DATASETS[name]
    features, y = getattr(sksurv.datasets, loader)()
    features = encode_categorical(features).astype(float)
    ids = pd.Index([f"{name}-{i:04d}" for i in range(len(features))], name="patient_id")
    features.index = ids
    event_field, time_field = y.dtype.names
    outcome = pd.DataFrame({"time": y[time_field].astype(float), "event": y[event_field].astype(int)}, index=ids)
    return Cohort(name=name, clinical=features, outcomes={endpoint: outcome},
                  feature_sets={"clinical": list(features.columns)}, units_per_year=365.25,
                  primary_endpoint=endpoint, description=description)


def load(spec: str | DatasetSpec, data_dir: Path = Path("data"), n_jobs: int = 1) -> Cohort:
    """Load a dataset by spec (see the module docstring); `n_jobs` parallelises image preparation."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "crlm-synthetic":
        return load_synthetic(Path(data_dir), spec, n_jobs)
    if spec.kind == "tcia":
        return load_tcia(spec.path, "tcia", Path(data_dir), n_jobs)
    if spec.kind == MSKCC_DATASET:
        return load_mskcc()
    return load_tabular(spec.kind)


def default_feature_sets(cohort: Cohort) -> tuple[str, ...]:
    """The feature sets a run uses when none is asked for: the cohort's own choice, else the
    pre-operative set (or the only one)."""
    if cohort.default_feature_sets:
        return cohort.default_feature_sets
    return ("preoperative",) if "preoperative" in cohort.feature_sets else (next(iter(cohort.feature_sets)),)


