"""Derived per-cohort inputs (prepared images, feature tables, graphs), built once and cached.

A method names what it reads in `requires` (or `inputs()`); before any cell runs, the runner calls
`ensure` in the main process, which builds what is missing into the on-disk cache. Cells then `get`
the artefact, which only reads that cache. A provider registers itself where it is defined, with the
`provider` decorator, naming the artefacts it is built from: `get` builds those first and hands them
over, so no provider looks another up.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.data.cohort import Cohort
from benchmark.features.encoder_options import EncoderOptions

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
