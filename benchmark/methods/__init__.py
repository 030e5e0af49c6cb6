"""The method plug-in API and its registry.

A method is one class in one file under ``baselines/`` (or ``stg/``): subclass `Method`, give it a
`name`, declare what it `requires`, implement `fit`, `predict_survival` (or `predict`) and
`n_params`. The registry imports every module of those packages and collects the subclasses;
a module that fails to import is listed as unavailable with its error, never hidden.

The base classes of the usual kinds of method live beside this API, so a method file states only
what is its own: `tabular.SksurvMethod` (a scikit-survival estimator on a feature table),
`radiomics.RadiomicsInputs` (the radiomics baselines' features and selection) and
`neural.NeuralSurvivalMethod` (a network built from `layers`, trained by the shared loop).
"""
from __future__ import annotations

import abc
import importlib
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from benchmark.data.cohort import Cohort
from benchmark.features import artefacts
from benchmark.features.artefacts import BuildContext
from benchmark.scoring.metrics import Prediction, median_survival_years, year_status_from_survival

METHOD_PACKAGES = ("baselines", "stg")


@dataclass
class FoldData:
    """The patients of one side of a split, with lazy access to everything a method may use.

    Methods only ever see a FoldData of the training side in `fit`, so whatever they learn
    (imputation, scaling, selection, tuning) is fitted on training patients only.
    """

    cohort: Cohort
    ids: np.ndarray
    endpoint: str
    feature_set: str
    seed: int
    context: BuildContext = field(default_factory=BuildContext)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def X(self) -> pd.DataFrame:
        """Clinical features of the chosen feature set, NaN where missing."""
        return self.cohort.clinical.loc[self.ids, self.cohort.feature_sets[self.feature_set]]

    @property
    def y(self) -> np.ndarray:
        return self.cohort.y(self.endpoint, self.ids)

    @property
    def time_grid(self) -> np.ndarray:
        return self.cohort.time_grid()

    @property
    def units_per_year(self) -> float:
        return self.cohort.units_per_year

    def artefact(self, name: str):
        """A derived cohort input (benchmark.features.artefacts), e.g. a feature table indexed by patient."""
        return artefacts.get(self.cohort, name, self.context)

    def subset(self, positions) -> "FoldData":
        """A FoldData of some of these patients (inner validation splits)."""
        return FoldData(self.cohort, self.ids[positions], self.endpoint, self.feature_set, self.seed, self.context)


class MethodError(ValueError):
    """An unknown method name or bad parameters; the message lists the valid ones."""


class Method(abc.ABC):
    """Base class of every method: a scikit-survival-like estimator over a FoldData.

    Class attributes:
      name: registry name (command line, result paths, tables).
      requires: inputs it needs: "clinical", "images", "morphometry", "radiomics", "deep", "graphs", "truth".
      family: "baseline", "stg", "ablation", "gnn" or "reference": groups rows in the tables.
      stochastic: True when results depend on the seed beyond the splits (neural nets, forests).
      defaults: default hyper-parameters; `__init__` rejects unknown keys.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("clinical",)
    family: ClassVar[str] = "baseline"
    stochastic: ClassVar[bool] = False
    defaults: ClassVar[dict] = {}

    def __init__(self, **params):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise MethodError(f"{self.name}: unknown parameter(s) {sorted(unknown)}; valid: {sorted(self.defaults)}")
        self.params = {**self.defaults, **params}

    @classmethod
    def applicable(cls, cohort: Cohort) -> str | None:
        """None if the method can run on this cohort, else the reason it cannot."""
        if "images" in cls.requires and not cohort.images:
            return "needs CT images; the dataset has none"
        if "truth" in cls.requires and cohort.truth is None:
            return "needs the true risk; only synthetic cohorts have it"
        return None

    def inputs(self) -> tuple[str, ...]:
        """The derived inputs this configured instance reads (the runner builds them before any
        cell runs); `requires` unless a parameter changes them."""
        return self.requires

    @classmethod
    def search_space(cls, trial) -> dict:
        """Hyper-parameters to tune (Optuna trial -> params); empty when nothing is tuned."""
        return {}

    @abc.abstractmethod
    def fit(self, data: FoldData) -> "Method":
        """Learn from the training patients of one fold."""

    def predict(self, data: FoldData) -> Prediction:
        """Risk, survival curve and predicted year; by default all derived from the curve."""
        risk, surv = self.predict_survival(data)
        return survival_prediction(risk, surv, data)

    def predict_survival(self, data: FoldData) -> tuple[np.ndarray, np.ndarray]:
        """(risk (n,), survival (n, T) on data.time_grid); implement this or `predict`."""
        raise NotImplementedError

    @abc.abstractmethod
    def n_params(self) -> int:
        """Trainable parameters of every learned stage (trees: node count)."""


def survival_prediction(risk, surv, data: FoldData) -> Prediction:
    """A Prediction whose year is the median survival time and year status read off the curve."""
    surv = np.minimum.accumulate(np.clip(np.asarray(surv, dtype=float), 0.0, 1.0), axis=1)
    return Prediction(
        risk=np.asarray(risk, dtype=float),
        surv=surv,
        year=median_survival_years(surv, data.time_grid, data.units_per_year),
        year_status=year_status_from_survival(surv, data.time_grid, data.units_per_year),
    )


def step_functions_on_grid(functions, grid: np.ndarray) -> np.ndarray:
    """Evaluate scikit-survival StepFunctions on a grid, holding the ends constant outside their domain."""
    rows = []
    for function in functions:
        rows.append(function(np.clip(grid, function.x[0], function.x[-1])))
    return np.vstack(rows)


@dataclass(frozen=True)
class Registered:
    name: str
    cls: type[Method] | None
    module: str
    error: str | None = None


_REGISTRY: dict[str, Registered] | None = None


def registry() -> dict[str, Registered]:
    """name -> Registered, importing every module of METHOD_PACKAGES once."""
    global _REGISTRY
    if _REGISTRY is not None:
        return _REGISTRY
    found: dict[str, Registered] = {}
    for package_name in METHOD_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            module_name = f"{package_name}.{info.name}"
            try:
                module = importlib.import_module(module_name)
            except Exception as error:  # listed as unavailable, with the reason
                message = "".join(traceback.format_exception_only(error)).strip()
                found[f"<{module_name}>"] = Registered(f"<{module_name}>", None, module_name, message)
                continue
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, Method) and value.__module__ == module_name
                        and not getattr(value, "__abstractmethods__", None) and hasattr(value, "name")):
                    if value.name in found:
                        raise MethodError(f"method name {value.name!r} defined twice "
                                          f"({found[value.name].module}, {module_name})")
                    found[value.name] = Registered(value.name, value, module_name)
    _REGISTRY = found
    return found


def get(name: str) -> type[Method]:
    entries = registry()
    if name not in entries or entries[name].cls is None:
        valid = ", ".join(sorted(n for n, r in entries.items() if r.cls is not None))
        raise MethodError(f"unknown method {name!r} (available: {valid})")
    return entries[name].cls


def available() -> list[type[Method]]:
    return [r.cls for r in registry().values() if r.cls is not None]
