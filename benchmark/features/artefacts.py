"""Derived per-cohort inputs (prepared images, feature tables, graphs), built once and cached.

A method names what it needs in `requires`; before any cell runs, the runner calls `ensure` in
the main process, which builds what is missing (in parallel, with progress) into the on-disk
cache. Cells then `get` the artefact, which only reads that cache.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from benchmark.data.cohort import Cohort

#: requirement -> "module:function"; function(cohort, cache_dir, n_jobs) -> artefact.
PROVIDERS: dict[str, str] = {
    "radiomics": "benchmark.features.radiomics_features:radiomics_table",
    "deep": "benchmark.features.deep_features:deep_table",
    "graphs_radiomics": "stg.graphs:radiomics_graphs",
    "graphs_deep": "stg.graphs:deep_graphs",
}
#: Requirements met by the cohort itself.
INTRINSIC = {"clinical", "truth", "images"}


class ArtefactError(RuntimeError):
    """A requirement no provider offers."""


def cache_dir(data_dir: Path, cohort: Cohort) -> Path:
    return Path(data_dir) / "cache" / cohort.name


def get(cohort: Cohort, name: str, data_dir: Path, n_jobs: int = 1):
    """The artefact `name` of this cohort, built (or read from cache) on first use."""
    if name in cohort.artefacts:
        return cohort.artefacts[name]
    if name not in PROVIDERS:
        raise ArtefactError(f"no provider for {name!r} (known: {sorted(PROVIDERS)})")
    module, _, function = PROVIDERS[name].partition(":")
    provider = getattr(importlib.import_module(module), function)
    cohort.artefacts[name] = provider(cohort, cache_dir(data_dir, cohort), n_jobs)
    return cohort.artefacts[name]


def ensure(cohort: Cohort, names, data_dir: Path, n_jobs: int = 1) -> None:
    """Build every artefact in `names` (in the order given) that the cohort does not yet have."""
    for name in names:
        if name not in INTRINSIC:
            get(cohort, name, data_dir, n_jobs)
