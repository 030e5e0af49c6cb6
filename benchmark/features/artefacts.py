"""Derived per-cohort inputs (prepared images, feature tables, graphs), built once and cached.

A method names what it reads in `requires` (or `inputs()`); before any cell runs, the runner calls
`ensure` in the main process, which builds what is missing into the on-disk cache. Cells then `get`
the artefact, which only reads that cache. A provider registers itself where it is defined, with the
`provider` decorator, naming the artefacts it is built from: `get` builds those first and hands them
over, so no provider looks another up.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.data.cohort import Cohort
from benchmark.features.encoder_options import EncoderOptions
from benchmark.features.feature_table import FeatureTable

#: Requirements met by the cohort itself (prepared images set "geometry", "morphometry" and "lesions" on it).
INTRINSIC = {"clinical", "truth", "images"}


class ArtefactError(RuntimeError):
    """A requirement no provider offers, or one that cannot be built for this cohort."""


@dataclass(frozen=True)
class BuildContext:
    """What building an artefact may depend on besides the cohort; travels with every cell."""

    data_dir: Path = Path("data")
    n_jobs: int = 1                                           # worker processes for per-patient extraction
    encoder: EncoderOptions = field(default_factory=EncoderOptions)


#: build(cohort, cache_dir, inputs, context) -> artefact; inputs maps each named input to its artefact.
Build = Callable[[Cohort, Path, dict, BuildContext], object]


@dataclass(frozen=True)
class Provider:
    build: Build
    inputs: tuple[str, ...] = ()


PROVIDERS: dict[str, Provider] = {}


def provider(name: str, inputs: tuple[str, ...] = ()) -> Callable[[Build], Build]:
    """Register the decorated function as the builder of artefact `name` from `inputs`."""
    def register(build: Build) -> Build:
        PROVIDERS[name] = Provider(build, tuple(inputs))
        return build
    return register


def cache_dir(data_dir: Path, cohort: Cohort) -> Path:
    return Path(data_dir) / "cache" / (cohort.cache_name or cohort.name)


def get(cohort: Cohort, name: str, context: BuildContext = BuildContext()):
    """The artefact `name` of this cohort, built (or read from cache) on first use."""
    if name in cohort.artefacts:
        return cohort.artefacts[name]
    if name not in PROVIDERS:
        raise ArtefactError(f"{cohort.name}: no provider for {name!r} (registered: {', '.join(sorted(PROVIDERS))})")
    entry = PROVIDERS[name]
    inputs = {needed: get(cohort, needed, context) for needed in entry.inputs}
    cohort.artefacts[name] = entry.build(cohort, cache_dir(context.data_dir, cohort), inputs, context)
    return cohort.artefacts[name]


def ensure(cohort: Cohort, names, context: BuildContext) -> None:
    """Build every artefact in `names` (in the order given) that the cohort does not yet have."""
    for name in names:
        if name not in INTRINSIC:
            get(cohort, name, context)


def fingerprint(cohort: Cohort, names: Iterable[str], context: BuildContext = BuildContext()) -> str:
    """A digest of what the artefacts `names` are made of, followed through their providers' inputs down to the
    tables: the clinical table (outcomes included), the true risk, the prepared images (whose cache files are
    named by their content and preparation), the feature tables and the geometry, morphometry and lesion tables.
    A result stores it, so a fit on other inputs (after the images, their preparation or the radiomics settings
    changed) is refitted rather than reused. Builds what it digests, like `get`."""
    digest = hashlib.sha256()
    for name in sorted(_tables_behind(names)):
        digest.update(f"{name}:{_table_digest(_table(cohort, name, context))};".encode())
    return digest.hexdigest()[:16]


def _tables_behind(names: Iterable[str]) -> set[str]:
    """The artefacts without inputs of their own that `names` are built from (a name without a provider, or
    whose provider reads nothing else, is one itself)."""
    found = set()
    for name in names:
        entry = PROVIDERS.get(name)
        found |= _tables_behind(entry.inputs) if entry is not None and entry.inputs else {name}
    return found


def _table(cohort: Cohort, name: str, context: BuildContext):
    if name == "clinical":
        return cohort.clinical
    if name == "truth":
        return cohort.truth
    if name == "images":
        return pd.Series({pid: getattr(ref, "name", str(ref)) for pid, ref in sorted(cohort.images.items())},
                         dtype=object)
    return get(cohort, name, context)


def _table_digest(table) -> str:
    """Content digest of a DataFrame or Series (values, index and column names), of a feature table (its values
    and which nodes are present), or "none"."""
    if table is None:
        return "none"
    if isinstance(table, FeatureTable):
        return _table_digest(table.values) + _table_digest(table.present)
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    digest.update(repr(list(table.columns) if isinstance(table, pd.DataFrame) else [table.name]).encode())
    return digest.hexdigest()
