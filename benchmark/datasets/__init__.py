"""Datasets as plug-ins: one file per kind in this package, each a `Dataset` subclass.

A kind parses its spec (``KIND[:ARGUMENT]`` on the command line), names itself (the name in result
paths and table footers), says whether its data is on disk, and loads a `Cohort`. The registry
imports every module of this package and collects the subclasses, as the method registry does for
methods, so a new dataset is one new file: `benchmark list` shows it and `benchmark check -d SPEC`
runs its contract check.
"""
from __future__ import annotations

import abc
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:   # the registry and its errors import no data library: the command line parses first
    from benchmark.data.cohort import Cohort

DEFAULT_DATASET = "crlm-synthetic"
#: The datasets of `run --all`, in the order reports show them: the real CRLM cohort first, the
#: synthetic simulation calibrated on it next, then the real tabular sets of scikit-survival.
RUN_ALL_DATASETS = ("mskcc-crlm", DEFAULT_DATASET, "gbsg2", "whas500", "veterans")


class DatasetError(ValueError):
    """An unknown dataset spec or an unreadable dataset; the message names it."""


@dataclass(frozen=True)
class Dataset(abc.ABC):
    """One dataset, as parsed from its spec; hashable, so a process loads each cohort once."""

    kinds: ClassVar[tuple[str, ...]]     # the spec prefixes this class reads
    usage: ClassVar[str]                 # the spec as `benchmark list` shows it
    description: ClassVar[str]
    imaging: ClassVar[bool] = False      # DICOM CT + SEG: `prepare` applies
    crlm: ClassVar[bool] = False         # a CRLM cohort: the paper's fixed 177/20 split applies too
    units_per_year: ClassVar[float] = 12.0

    @classmethod
    @abc.abstractmethod
    def parse(cls, kind: str, argument: str) -> Dataset:
        """The dataset of spec ``kind[:argument]``; DatasetError naming the bad part."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Stable name used in result paths and table footers."""

    @property
    def spec(self) -> str:
        """The spec that recreates this dataset."""
        return self.name

    @classmethod
    def from_name(cls, name: str) -> Dataset | None:
        """The dataset behind a result name, when the name determines it (a path-based one does not)."""
        return cls.parse(name, "") if name in cls.kinds else None

    def with_max_slice_mm(self, millimetres: float) -> Dataset:
        """This dataset without the patients whose CT slices are thicker than `millimetres`
        (`--max-slice-mm`); only a real CT download has acquisitions to filter."""
        raise DatasetError(f"{self.spec}: --max-slice-mm applies to a real CT download (tcia:PATH) only")

    def present(self, data_dir: Path) -> bool:
        """True when loading reads existing data (a report never generates a cohort)."""
        return True

    @abc.abstractmethod
    def load(self, data_dir: Path, n_jobs: int = 1) -> Cohort:
        """The cohort; `n_jobs` parallelises generation and image preparation where there is any."""


_REGISTRY: dict[str, type[Dataset]] | None = None


def registry() -> dict[str, type[Dataset]]:
    """Spec prefix -> Dataset class, importing every module of this package once."""
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, type[Dataset]] = {}
        for info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, Dataset) and value.__module__ == module.__name__
                        and not getattr(value, "__abstractmethods__", None)):
                    found.update(dict.fromkeys(value.kinds, value))
        _REGISTRY = found
    return _REGISTRY


def parse_spec(spec: str) -> Dataset:
    """Parse a dataset spec; raises DatasetError with the list of valid ones."""
    kind, _, argument = spec.partition(":")
    if kind not in registry():
        raise DatasetError(f"unknown dataset {spec!r} (choose from {', '.join(usages())})")
    return registry()[kind].parse(kind, argument)


def usages() -> list[str]:
    return list(dict.fromkeys(cls.usage for cls in registry().values()))


def available_datasets() -> list[tuple[str, str]]:
    """(spec, description) of every dataset kind, for `benchmark list`."""
    classes = dict.fromkeys(registry().values())
    return [(cls.usage, cls.description) for cls in sorted(classes, key=lambda c: display_order(c.kinds[0]))]


def from_name(name: str) -> Dataset | None:
    """The dataset a result name stands for, or None when the name alone does not give it (tcia)."""
    for cls in dict.fromkeys(registry().values()):
        dataset = cls.from_name(name)
        if dataset is not None:
            return dataset
    return None


def load(spec: str | Dataset, data_dir: Path = Path("data"), n_jobs: int = 1) -> Cohort:
    """Load a dataset by spec (see `benchmark list`)."""
    dataset = parse_spec(spec) if isinstance(spec, str) else spec
    return dataset.load(Path(data_dir), n_jobs)


def display_order(name: str) -> int:
    """Position of a dataset (kind or result name) in reports: RUN_ALL_DATASETS first, others after."""
    base = DEFAULT_DATASET if name.startswith(DEFAULT_DATASET) else name
    return RUN_ALL_DATASETS.index(base) if base in RUN_ALL_DATASETS else len(RUN_ALL_DATASETS)


def default_feature_sets(cohort: Cohort) -> tuple[str, ...]:
    """The feature sets a run uses when none is asked for: the cohort's own choice, else the
    pre-operative set (or the only one)."""
    if cohort.default_feature_sets:
        return cohort.default_feature_sets
    return ("preoperative",) if "preoperative" in cohort.feature_sets else (next(iter(cohort.feature_sets)),)


def contract_problems(cohort: Cohort) -> list[str]:
    """What breaks the Cohort contract every method relies on; empty when nothing does."""
    import numpy as np
    problems = []
    ids = cohort.clinical.index
    if ids.has_duplicates:
        problems.append(f"duplicated patient ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    if cohort.primary_endpoint not in cohort.outcomes:
        problems.append(f"primary endpoint {cohort.primary_endpoint!r} has no outcome")
    for endpoint, frame in cohort.outcomes.items():
        if not frame.index.equals(ids):
            problems.append(f"{endpoint}: outcome patients differ from the clinical table's")
        time, event = frame["time"].to_numpy(dtype=float), frame["event"].to_numpy()
        if not (np.isfinite(time).all() and (time >= 0).all()):
            problems.append(f"{endpoint}: times must be finite and >= 0")
        if not np.isin(event, (0, 1)).all() or not event.any():
            problems.append(f"{endpoint}: events must be 0/1 with at least one event")
    for feature_set, columns in cohort.feature_sets.items():
        missing = [c for c in columns if c not in cohort.clinical.columns]
        if missing:
            problems.append(f"feature set {feature_set!r}: column(s) {missing[:5]} absent")
    for feature_set in cohort.default_feature_sets:
        if feature_set not in cohort.feature_sets:
            problems.append(f"default feature set {feature_set!r} is not a feature set")
    unknown = [e for e in cohort.default_endpoints if e not in cohort.outcomes]
    if unknown:
        problems.append(f"default endpoint(s) {unknown} have no outcome")
    if cohort.images and set(cohort.images) - set(ids):
        problems.append("images of patients outside the clinical table")
    return problems
