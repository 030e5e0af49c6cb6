"""Cohort records: what a report needs to know of a dataset that the cells do not carry.

``<root>/cohorts/<dataset>.json`` holds the dataset's spec, size, time unit and excluded patients,
written by `record_cohorts` from the loaded cohort, so table footers can name who was left out and
why even where the data is not at hand.
"""
from __future__ import annotations

import json
from pathlib import Path

from benchmark import datasets
from benchmark.data.cohort import Cohort
from benchmark.files import atomic_write_text
from benchmark.harness import results


def cohort_record_path(root: Path, dataset: str) -> Path:
    return Path(root) / "cohorts" / f"{dataset}.json"


def spec_from_name(name: str) -> str | None:
    """The dataset spec behind a result dataset name, when the name determines it (not tcia)."""
    dataset = datasets.from_name(name)
    return dataset.spec if dataset else None


def record_cohorts(root: Path, data_dir: Path, specs: list[str] = ()) -> list[str]:
    """Write ``<root>/cohorts/<name>.json`` (spec, size, time unit, excluded patients) per dataset.

    Datasets come from `specs` and from the result tree (those whose name gives the spec); a
    cohort whose data is not on disk keeps its previous record. Returns the names recorded.
    """
    frame = results.read_all(root)
    wanted = {datasets.parse_spec(text).name: text for text in specs}
    for name in (frame["dataset"].unique() if not frame.empty else []):
        wanted.setdefault(name, spec_from_name(name))
    recorded = (record_cohort(root, data_dir, wanted[name]) for name in sorted(wanted) if wanted[name])
    return [name for name in recorded if name]


def record_cohort(root: Path, data_dir: Path, text: str) -> str | None:
    """Write the record of the dataset of spec `text`; its name, or None when its data is not on disk."""
    spec = datasets.parse_spec(text)
    if not spec.present(Path(data_dir)):
        return None
    return write_cohort_record(root, datasets.load(spec, Path(data_dir)), text)


def write_cohort_record(root: Path, cohort: Cohort, text: str) -> str:
    """Write the record of a loaded cohort (dataset spec `text`); its name."""
    record = {"name": cohort.name, "spec": text, "description": cohort.description,
              "n_patients": len(cohort), "units_per_year": cohort.units_per_year,
              "excluded": dict(sorted(cohort.excluded.items()))}
    atomic_write_text(cohort_record_path(root, cohort.name), json.dumps(record, indent=1) + "\n")
    return cohort.name


def read_cohort_record(root: Path, dataset: str) -> dict | None:
    path = cohort_record_path(root, dataset)
    return json.loads(path.read_text()) if path.is_file() else None
