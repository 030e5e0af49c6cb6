"""Nested hyper-parameter tuning: Optuna inside each outer training fold.

`run --tune` gives each tunable cell an Optuna study. A trial fits the method on the inner K-fold
splits of the *training* FoldData only (the outer test fold is never passed in) and scores it by
the mean inner Harrell C-index; the cell then refits on the whole training fold with the best
trial's parameters.

Studies live in a journal file under the results root by default (``<output>/tuning/
optuna.journal``; several local processes may share it), or in any SQLAlchemy URL given with
``--storage`` (e.g. PostgreSQL when workers are on several machines). A study is named after its
cell, so a killed run resumes where it stopped: finished trials are counted and only the missing
ones are run. Trial ``i`` is sampled by ``TPESampler(seed=cell seed + i)`` from the history of the
finished trials, so a resumed study proposes exactly what an uninterrupted one would have.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from sklearn.model_selection import StratifiedKFold

from benchmark.data.cohort import year_bin
from benchmark.data.splits import strata
from benchmark.methods import FoldData, Method
from benchmark.scoring.metrics import evaluate

#: Reserved key of a cell's params that marks a tuned cell: {"trials": N, "inner_folds": K}.
#: Part of the cell's parameter hash, so tuned and untuned results never share a directory.
PARAM_KEY = "tuning"
INNER_FOLDS = 3
DONE_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial would bury the run's progress


class TuningError(RuntimeError):
    """No trial of a study finished with a score; the message names the method and study."""


@dataclass
class TuningResult:
    params: dict           # the method's parameters of the best trial (fixed ones included)
    summary: dict          # what the cell's result records: best params, inner score, trial count
    report: dict           # everything, for tuning_<stem>.json


def tunable(method: type[Method]) -> bool:
    """True when the method declares a non-empty search space."""
    trial = optuna.create_study().ask()
    return bool(method.search_space(trial))


def cell_spec(trials: int) -> dict:
    """What `plan` stores under PARAM_KEY in a tuned cell's params."""
    return {"trials": trials, "inner_folds": INNER_FOLDS}


def storage_url(storage: str | None, output: Path) -> str:
    """The study storage: the given SQLAlchemy URL, else a journal file under the results root."""
    return storage or str((Path(output) / "tuning" / "optuna.journal").resolve())


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A storage object for `url`: an RDB for anything with a scheme, else a journal file path."""
    if "://" in url:
        return optuna.storages.RDBStorage(url)
    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))


def inner_splits(train: FoldData, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (event x year bin) K-fold positions within the training fold, seeded by the cell."""
    y = train.y
    labels = strata(y["event"], year_bin(y["time"] / train.units_per_year), folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=train.seed % 2**32)
    return list(splitter.split(np.zeros(len(train)), labels))


def inner_cindex(method: type[Method], params: dict, train: FoldData, folds,
                 reseed: Callable[[int], None]) -> list[float]:
    """Harrell C-index of `params` on each inner validation split (NaN where it cannot be computed)."""
    scores = []
    for fit_positions, validation_positions in folds:
        fit_data, validation = train.subset(fit_positions), train.subset(validation_positions)
        reseed(train.seed)
        prediction = method(**params).fit(fit_data).predict(validation)
        prediction.validate(len(validation), len(validation.time_grid))
        values, _ = evaluate(prediction, fit_data.y, validation.y, validation.time_grid, validation.units_per_year)
        scores.append(values["cindex_harrell"])
    return scores


def tune(method: type[Method], train: FoldData, fixed: dict, spec: dict, storage: str, study_name: str,
         reseed: Callable[[int], None], fresh: bool = False) -> TuningResult:
    """Run the trials of `study_name` that are not finished yet and return the best parameters.

    `fixed` are the cell's own parameters; a trial's suggestions override them. `fresh` deletes
    a stored study of the same name first (``run --force``).
    """
    backend = open_storage(storage)
    if fresh and study_name in optuna.study.get_all_study_names(backend):
        optuna.delete_study(study_name=study_name, storage=backend)
    folds = inner_splits(train, spec["inner_folds"])

    def objective(trial: optuna.Trial) -> float:
        try:
            scores = inner_cindex(method, {**fixed, **method.search_space(trial)}, train, folds, reseed)
        except Exception as error:  # a failed trial, recorded; the study goes on
            trial.set_user_attr("error", f"{type(error).__name__}: {error}")
            raise
        trial.set_user_attr("inner_cindex", scores)
        finite = [s for s in scores if math.isfinite(s)]
        return float(np.mean(finite)) if finite else float("nan")  # NaN: Optuna records a failed trial

    study = optuna.create_study(study_name=study_name, storage=backend, direction="maximize", load_if_exists=True)
    while (done := len(study.get_trials(deepcopy=False, states=DONE_STATES))) < spec["trials"]:
        study.sampler = optuna.samplers.TPESampler(seed=(train.seed + done) % 2**32)
        study.optimize(objective, n_trials=1, catch=(Exception,))
    finished = study.get_trials(deepcopy=False, states=DONE_STATES)[:spec["trials"]]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        errors = sorted({t.user_attrs.get("error", "no finite inner C-index") for t in finished})
        raise TuningError(f"{method.name}: no trial of study {study_name!r} finished with a score "
                          f"({'; '.join(errors)})")
    best = max(complete, key=lambda t: (t.value, -t.number))
    params = {**fixed, **method.search_space(optuna.trial.FixedTrial(best.params))}
    summary = {"best_params": best.params, "best_inner_cindex": best.value, "trials": len(finished),
               "complete": len(complete), "inner_folds": spec["inner_folds"]}
    report = {"study": study_name, **summary, "refit_params": params,
              "trials_detail": [{"number": i, "state": t.state.name, "params": t.params, "value": t.value,
                                 "inner_cindex": t.user_attrs.get("inner_cindex"), "error": t.user_attrs.get("error")}
                                for i, t in enumerate(finished)]}
    return TuningResult(params, summary, report)


def report_text(report: dict) -> str:
    """The tuning_<stem>.json text (no timings, so backends give identical files)."""
    return json.dumps(report, indent=1, default=float)
