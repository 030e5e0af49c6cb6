"""Result files: one JSON (+ one per-patient CSV) per cell, written atomically.

A cell is dataset × endpoint × protocol × feature set × method × parameters × repeat × fold. Its
files live at ``<root>/runs/<dataset>/<endpoint>/<protocol>/<feature_set>/<method>-<params hash>/``
so a rerun finds what is finished and skips it, and a changed configuration never reuses a stale
cell. Files are written atomically (benchmark.files), so a killed run leaves either the whole
file or none.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from benchmark.files import atomic_write_text

VERSIONED_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "scikit-survival", "torch", "dgl",
                      "pyradiomics-bhklab", "SimpleITK", "pydicom", "highdicom", "optuna")


def params_hash(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Cell:
    dataset: str
    endpoint: str
    protocol: str          # "cv" (repeated K-fold) or "paper" (fixed 177/20)
    feature_set: str
    method: str
    repeat: int
    fold: int
    params: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def directory(self) -> Path:
        return (Path("runs") / self.dataset / self.endpoint / self.protocol / self.feature_set
                / f"{self.method}-{params_hash(self.params)}")

    @property
    def stem(self) -> str:
        return f"r{self.repeat}_f{self.fold}"

    def result_path(self, root: Path) -> Path:
        return Path(root) / self.directory / f"{self.stem}.json"

    def predictions_path(self, root: Path) -> Path:
        return Path(root) / self.directory / f"{self.stem}.predictions.csv"

    def label(self) -> str:
        where = f"{self.dataset}/{self.endpoint}/{self.protocol}/{self.feature_set}/{self.method}"
        return f"{where} r{self.repeat} f{self.fold}"


@lru_cache(maxsize=1)
def environment() -> dict:
    """Package versions and git commit, stored with every cell."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        sha = None
    return {"versions": versions, "git_sha": sha}


def is_finished(cell: Cell, root: Path, params: dict | None = None, inputs: str | None = None) -> bool:
    """A cell is finished when its result file exists and says ok (errored cells are retried) and,
    given the method's current full `params`, it was fitted with them: a method whose defaults
    changed is refitted instead of its old results being reused. A tuned cell is compared on the
    parameters its study did not choose. Given the digest of the method's `inputs`
    (benchmark.features.artefacts.fingerprint), it was fitted on them too: a result from other
    features or images is refitted."""
    path = cell.result_path(root)
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    if record.get("status") != "ok":
        return False
    if inputs is not None and record.get("inputs") != inputs:
        return False
    if params is None:
        return True
    tuned = set(record.get("tuning", {}).get("best_params", {}))
    return comparable(record.get("params", {}), tuned) == comparable(params, tuned)


def comparable(params: dict, leave_out: set) -> str:
    """Parameters as their JSON text (what a result file holds), without `leave_out`."""
    return json.dumps({k: v for k, v in params.items() if k not in leave_out}, sort_keys=True, default=_jsonable)


def write_cell(root: Path, cell: Cell, record: dict, predictions: pd.DataFrame | None) -> None:
    """Write predictions first, then the result file that marks the cell finished."""
    if predictions is not None:
        atomic_write_text(cell.predictions_path(root), predictions.to_csv(index=False))
    payload = {"cell": asdict(cell), **record, **environment()}
    atomic_write_text(cell.result_path(root), json.dumps(payload, indent=1, default=_jsonable))


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_all(root: Path) -> pd.DataFrame:
    """Every cell result under `root` as one flat frame (metrics as columns)."""
    rows = []
    for path in sorted((Path(root) / "runs").rglob("r*_f*.json")):
        record = json.loads(path.read_text())
        row = {**record["cell"], "status": record["status"], "error": record.get("error"),
               "n_params": record.get("n_params"), "git_sha": record.get("git_sha"),
               "path": str(path), **record.get("timings", {}), **(record.get("metrics") or {})}
        row["params_hash"] = params_hash(record["cell"].get("params", {}))
        row["nan_reasons"] = record.get("nan_reasons", {})
        row["notes"] = record.get("notes", [])
        row["own_year_label"] = record.get("own_year_label")
        row["n_train"], row["n_test"] = record.get("n_train"), record.get("n_test")
        rows.append(row)
    return pd.DataFrame(rows)
