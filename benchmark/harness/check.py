"""Regression guard and plug-in smoke test (``python -m benchmark check``).

`regression` runs every registered method on the CI profiles (a synthetic cohort with images, and
the clinical methods on the real MSKCC table, OS and DFS) and compares each method's mean test-fold
metrics and exact per-fold parameter counts with the reference file (``results/reference/ci.json``).

The guard is two-sided: a metric that moved beyond its tolerance in *either* direction fails and is
named with its method, since a metric that suddenly improves is as likely a bug (a flattering metric,
leakage) as a better method. Accepting a move is a deliberate ``check --update --reason TEXT``; the
reason is kept in the file's history.

Tolerances come from measured spread, not from a guess. A deterministic method must reproduce its
metrics to `DETERMINISTIC_TOLERANCE`. A stochastic one (forests, neural networks) runs with
`MODEL_SEEDS` model seeds on the same splits (the reference with `REFERENCE_SEEDS`); its reference is
the mean over seeds, and its tolerance per metric is `Z` standard errors of the difference between
two such means, from the within-fold variance over seeds pooled across folds, never below a floor.
A seed change therefore stays within tolerance; a change of the method's inputs or of a metric's
definition larger than the noise does not. The file states every tolerance.

A method trains briefly here through its ``ci_params`` class attribute (a dict of parameters,
e.g. fewer epochs), passed to it as the cell's parameters; without one it runs its defaults.

`smoke` fits one method on one fold of the same cohort twice and checks its outputs (the
Prediction contract: shapes, finite risks, non-increasing survival in [0, 1]), its parameter
count and that the same seed gives the same result. `dataset_smoke` loads a dataset plug-in and
checks the Cohort contract every method relies on.
"""
from __future__ import annotations

import datetime
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark import datasets, files, methods
from benchmark.harness import leakage, results, runner
from benchmark.scoring.metrics import HIGHER_IS_BETTER, METRIC_NAMES

#: Every registered method on a synthetic cohort; the first profile is also the smoke test's.
#: A profile with endpoints keys its entries "METHOD @ DATASET/ENDPOINT" and records only the methods
#: that apply to it (the real clinical table has no images).
SYNTHETIC_PROFILE = {"dataset": "crlm-synthetic:n=120,scenario=mixed-double", "folds": 5, "repeats": 1, "seed": 0,
                     "protocol": "cv"}
REAL_PROFILE = {"dataset": "mskcc-crlm", "endpoints": ["os", "dfs"], "feature_sets": ["preoperative"], "folds": 3,
                "repeats": 1, "seed": 0, "protocol": "cv"}
PROFILES = [SYNTHETIC_PROFILE, REAL_PROFILE]
COMPARED_METRICS = [name for name in METRIC_NAMES if not name.startswith("n_")]  # counts, not results
NEURAL_FAMILIES = ("gnn", "stg", "ablation")
#: Model seeds of every stochastic method in a check, and in the reference (more: a steadier mean and spread).
MODEL_SEEDS = 4
REFERENCE_SEEDS = 8
#: Standard errors of the difference of two seed means a stochastic metric may move. Some 300 metrics
#: are compared, with spreads estimated on 5 folds x 7 degrees of freedom, and some (AUC at 1 year, few
#: events) have heavier tails than normal: 5 keeps a seed change from failing the check by chance.
Z = 5.0
DETERMINISTIC_TOLERANCE = 1e-6
#: Smallest tolerance of a stochastic metric (a method whose seed hardly moves a metric); a forest's
#: mean node count may move by N_PARAMS_FLOOR of itself. The calibration p-values are heavy-tailed over
#: seeds on folds of 24 patients: with seeds 1000-1003 STG-lite's one-time calibration p at 1 year moved
#: by 0.19 (1.2 of its spread-based tolerance), so they may move by 0.2 of their [0, 1] range.
CALIBRATION_P_FLOOR = 0.2
FLOORS = {"*": 0.005, "mae_po": 0.02, "mae_hinge": 0.02, "mae_uncensored": 0.02,
          **{name: CALIBRATION_P_FLOOR for name in ("dcal_p", "onecal_1y_p", "onecal_3y_p")}}
N_PARAMS_FLOOR = 0.01
FAILING = ("MOVED", "CHANGED", "ERROR", "MISSING", "GONE")


def kind(method: type[methods.Method]) -> str:
    if method.family in NEURAL_FAMILIES:
        return "neural"
    return "stochastic" if method.stochastic else "deterministic"


def ci_params(method: type[methods.Method]) -> dict:
    return dict(getattr(method, "ci_params", {}))


def profile_config(profile: dict, names: list[str], output: Path, data_dir: Path, n_jobs: int = 1) -> runner.RunConfig:
    return runner.RunConfig(
        datasets=[datasets.parse_spec(profile["dataset"])], methods=names, endpoints=profile.get("endpoints"),
        feature_sets=profile.get("feature_sets"), protocols=[profile["protocol"]], folds=profile["folds"],
        repeats=profile["repeats"], seed=profile["seed"], n_jobs=n_jobs, output=output, data_dir=data_dir,
        params={name: ci_params(methods.get(name)) for name in names})


def entry_key(profile: dict, method: str, endpoint: str) -> str:
    return f"{method} @ {profile['dataset']}/{endpoint}" if profile.get("endpoints") else method


def measure_methods(data_dir: Path, n_jobs: int, model_seeds: int = MODEL_SEEDS, first_seed: int = 0,
                    only: list[str] | None = None) -> dict[str, dict]:
    """Run the registered methods (or `only` these) on the CI profiles: key -> entry (as stored in the
    reference). Deterministic methods run once; stochastic ones with model seeds
    first_seed .. first_seed + model_seeds - 1, each seed in its own results root on the same splits."""
    entries: dict[str, dict] = {}
    runnable = []
    for name, registered in sorted(methods.registry().items()):
        if only is not None and name not in only:
            continue
        if registered.cls is None:
            entries[name] = {"kind": "?", "status": "error", "error": f"module does not import: {registered.error}"}
        else:
            runnable.append(name)
    seeded = [name for name in runnable if kind(methods.get(name)) != "deterministic"]
    for profile in PROFILES:
        with tempfile.TemporaryDirectory(prefix="stg-check-") as output:
            frames = []
            for k in range(model_seeds):
                names = runnable if k == 0 else seeded
                if not names:
                    continue
                config = replace(profile_config(profile, names, Path(output) / f"seed{k}", data_dir, n_jobs),
                                 model_seed=first_seed + k)
                summary = runner.execute(config)   # its bars on stderr: a check takes minutes
                frames.append(results.read_all(config.output).assign(model_seed=k))
                if k == 0 and not profile.get("endpoints"):
                    for _, name, reason in summary.not_applicable:
                        entries[name] = {"kind": kind(methods.get(name)), "status": "not applicable", "error": reason}
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        for (name, endpoint), cells in frame.groupby(["method", "endpoint"]) if not frame.empty else []:
            entries[entry_key(profile, name, endpoint)] = measured_entry(name, cells)
    return entries


def measured_entry(name: str, cells: pd.DataFrame) -> dict:
    """The reference entry of one method's cells (every fold of every model seed) on one profile.

    Parameter counts are compared exactly, fold by fold, except a forest's node count, which its seed
    moves: its mean is guarded like a metric."""
    entry = {"kind": kind(methods.get(name))}
    failed = cells[cells["status"] != "ok"]
    if len(failed):
        entry.update(status="error", error=f"{len(failed)} cell(s): {failed['error'].iloc[0]}")
        return entry
    guarded = list(COMPARED_METRICS)
    if entry["kind"] == "stochastic":
        entry["n_params"] = "depends on the model seed: its mean is guarded as a metric"
        guarded.append("n_params")
    else:
        first = cells[cells["model_seed"] == cells["model_seed"].min()].sort_values(["repeat", "fold"])
        entry["n_params"] = [int(n) for n in first["n_params"]]
    entry.update(status="ok", metrics={m: _seed_mean(cells, m) for m in guarded},
                 seconds=round(float((cells["fit_s"] + cells["predict_s"]).sum()), 1))
    if entry["kind"] != "deterministic":
        entry.update(model_seeds=int(cells["model_seed"].nunique()),
                     standard_errors={m: _seed_standard_error(cells, m) for m in guarded})
    return entry


def _seed_mean(cells: pd.DataFrame, metric: str) -> float | None:
    """Mean over model seeds of each seed's mean over its folds (NaN folds left out)."""
    per_seed = cells.groupby("model_seed")[metric].mean().dropna()
    return float(per_seed.mean()) if len(per_seed) else None


def _seed_standard_error(cells: pd.DataFrame, metric: str) -> float | None:
    """Standard error of one seed's fold mean due to the model seed: the variance over seeds within
    each fold, pooled over folds, divided by the number of folds."""
    per_fold = cells.pivot_table(index=["repeat", "fold"], columns="model_seed", values=metric)
    within = per_fold.var(axis=1, ddof=1).dropna()
    return float(math.sqrt(within.mean() / len(within))) if len(within) else None


def tolerance(entry: dict, metric: str, model_seeds: int = MODEL_SEEDS) -> float:
    """How far `metric` of a check with `model_seeds` seeds may lie from the reference `entry`."""
    if entry["kind"] == "deterministic":
        return DETERMINISTIC_TOLERANCE
    floor = (N_PARAMS_FLOOR * abs(entry["metrics"]["n_params"]) if metric == "n_params"
             else FLOORS.get(metric, FLOORS["*"]))
    error = (entry.get("standard_errors") or {}).get(metric)
    if error is None:
        return floor
    return max(floor, Z * error * math.sqrt(1 / model_seeds + 1 / entry["model_seeds"]))


def compare(reference: dict, current: dict[str, dict]) -> list[dict]:
    """One row per thing that moved or failed: method, what, reference, now, delta, tolerance, verdict."""
    rows = []
    stored = reference.get("methods", {})
    for name, entry in sorted(current.items()):
        if entry["status"] != "ok":
            was = stored.get(name, {})
            if entry["status"] == was.get("status") and entry.get("error") == was.get("error"):
                continue  # e.g. not applicable to the CI cohort, as recorded
            rows.append(dict(method=name, what=entry["status"], now=entry.get("error"), verdict="ERROR"))
            continue
        if name not in stored:
            rows.append(dict(method=name, what="not in the reference", verdict="MISSING",
                             now="run `python -m benchmark check --update --reason TEXT`"))
            continue
        was = stored[name]
        if was.get("n_params") != entry["n_params"]:
            rows.append(dict(method=name, what="n_params", reference=was.get("n_params"), now=entry["n_params"],
                             verdict="CHANGED"))
        for metric in dict.fromkeys([*was.get("metrics", {}), *entry["metrics"]]):
            old, new = was.get("metrics", {}).get(metric), entry["metrics"].get(metric)
            if old == new:
                continue
            allowed = was.get("tolerances", {}).get(metric, tolerance(was, metric))
            if old is None or new is None:
                rows.append(dict(method=name, what=metric, reference=old, now=new, tolerance=allowed,
                                 verdict="CHANGED"))
                continue
            direction = ("up" if new > old else "down") if metric not in HIGHER_IS_BETTER else (
                "better" if (new - old) * HIGHER_IS_BETTER[metric] > 0 else "worse")
            verdict = "within" if abs(new - old) <= allowed else f"MOVED ({direction})"
            rows.append(dict(method=name, what=metric, reference=old, now=new, delta=new - old, tolerance=allowed,
                             verdict=verdict))
    for name in sorted(set(stored) - set(current)):
        rows.append(dict(method=name, what="in the reference, not registered", verdict="GONE",
                         now="run `python -m benchmark check --update --reason TEXT`"))
    return rows


def failing(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["verdict"].startswith(FAILING)]


def print_rows(rows: list[dict]) -> None:
    columns = ["method", "what", "reference", "now", "delta", "tolerance", "verdict"]
    print(tabulate([[row.get(c, "") for c in columns] for row in rows], headers=columns, floatfmt=".4g"))


def regression(reference_path: Path, data_dir: Path, n_jobs: int = 1, update: bool = False, reason: str = "",
               only: list[str] | None = None, first_seed: int = 0) -> int:
    """Run the CI profiles and compare them with (or, with `update`, write) the reference; exit status.

    `only` restricts the run and the comparison to these methods; `first_seed` shifts the stochastic
    methods' model seeds (a seed change must pass)."""
    reference = json.loads(reference_path.read_text()) if reference_path.is_file() else {}
    seeds = REFERENCE_SEEDS if update else MODEL_SEEDS
    start = time.perf_counter()
    try:
        current = measure_methods(data_dir, n_jobs, seeds, first_seed, only)
    except leakage.LeakageError as error:
        print(f"check FAILED: leakage refused: {error}")
        return 1
    seconds = time.perf_counter() - start
    print(tabulate([[name, e["kind"], e["status"], e.get("seconds", ""),
                     _format(e.get("metrics", {}).get("cindex_harrell")), e.get("n_params", e.get("error", ""))]
                    for name, e in current.items()],
                   headers=["method", "kind", "status", "seconds", "C-index", "n_params / error"]))
    print(f"\nCI profiles {PROFILES}, {seeds} model seed(s) from {first_seed}: "
          f"{len(current)} entries in {seconds:.0f} s")
    if reference and reference.get("profiles") != PROFILES and not update:
        print(f"check FAILED: the reference was made with profiles {reference['profiles']}; "
              "run `python -m benchmark check --update --reason TEXT`")
        return 1
    if only is not None:
        reference = {**reference, "methods": {k: v for k, v in reference.get("methods", {}).items()
                                              if k.split(" @ ")[0] in only}}
    rows = compare(reference, current)
    if rows:
        print("\nWhat moved:")
        print_rows(rows)
    if update:
        return write_reference(reference_path, reference, current, rows, seconds, reason)
    failed = sorted({row["method"] for row in failing(rows)})
    if failed:
        print(f"\ncheck FAILED for: {', '.join(failed)}")
        print("A move beyond tolerance in either direction fails. If it is intended, accept it with "
              "`python -m benchmark check --update --reason TEXT`.")
        return 1
    print("\ncheck passed")
    return 0


def write_reference(path: Path, old: dict, current: dict[str, dict], rows: list[dict], seconds: float,
                    reason: str) -> int:
    """Write the reference from this run, each stochastic entry with its tolerances, and the reason
    with what it accepts into the file's history."""
    errored = sorted(name for name, entry in current.items() if entry["status"] == "error")
    if errored:
        print(f"\nreference NOT updated: {', '.join(errored)} errored")
        return 1
    for entry in current.values():
        if entry["status"] == "ok" and entry["kind"] != "deterministic":
            entry["tolerances"] = {m: tolerance(entry, m) for m in entry["metrics"]}
    accepted = [f"{row['method']}: {row['what']} {row.get('verdict')}" for row in failing(rows)]
    history = [*old.get("history", []), {"date": datetime.date.today().isoformat(), "reason": reason,
                                         "accepted": accepted}]
    payload = {"profiles": PROFILES, "model_seeds": MODEL_SEEDS, "reference_seeds": REFERENCE_SEEDS, "z": Z,
               "floors": FLOORS, "deterministic_tolerance": DETERMINISTIC_TOLERANCE, "seconds": round(seconds),
               "history": history, "methods": current}
    files.atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"\nreference written: {path} ({len(current)} entries; {len(accepted)} move(s) accepted: {reason})")
    return 0


def _format(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def smoke(names: list[str], data_dir: Path) -> int:
    """Fit each method on the first fold of the CI cohort, twice; validate what it returns."""
    failures = 0
    with tempfile.TemporaryDirectory(prefix="stg-smoke-") as output:
        for name in names:
            config = profile_config(PROFILES[0], [name], Path(output), data_dir)
            the_plan = runner.plan(config)
            if the_plan.skipped:
                print(f"{name}: FAILED: not applicable to {PROFILES[0]['dataset']}: {the_plan.skipped[0][2]}")
                failures += 1
                continue
            cell = the_plan.cells[0]
            runner.prepare_inputs(the_plan, [cell], config)
            first, second = (runner.compute_cell(cell, the_plan.specs[cell.dataset], the_plan.split(cell), config)
                             for _ in range(2))
            problems = smoke_problems(first, second)
            if problems:
                failures += 1
                print(f"{name}: FAILED: " + "; ".join(problems))
                if first.status != "ok":
                    print(first.record.get("traceback", ""))
                continue
            record = first.record
            print(f"{name}: ok: fit {record['timings']['fit_s']:.2f} s on {record['n_train']} patients, "
                  f"{record['n_test']} predicted, n_params {record['n_params']}, "
                  f"C-index {_format(record['metrics']['cindex_harrell'])}")
    return 1 if failures else 0


def smoke_problems(first: runner.CellOutput, second: runner.CellOutput) -> list[str]:
    """What is wrong with a method's outputs (the cell already validated the Prediction)."""
    if first.status != "ok":
        return [first.record["error"]]
    problems = []
    if first.record["n_params"] < 0:
        problems.append(f"n_params {first.record['n_params']} < 0")
    if second.status != "ok":
        problems.append(f"second fit failed: {second.record['error']}")
    elif not first.predictions.equals(second.predictions) or first.record["n_params"] != second.record["n_params"]:
        problems.append("two fits with the same seed differ (seed every random generator from data.seed)")
    return problems


def dataset_smoke(specs: list[str], data_dir: Path) -> int:
    """Load each dataset and check what the harness relies on: it keeps its name, its name leads back
    to it (unless a path is part of it), and its Cohort keeps the contract."""
    failures = 0
    for text in specs:
        dataset = datasets.parse_spec(text)
        cohort = dataset.load(Path(data_dir))
        problems = datasets.contract_problems(cohort)
        if cohort.name != dataset.name:
            problems.append(f"the cohort is named {cohort.name!r}, the dataset {dataset.name!r}")
        back = datasets.from_name(dataset.name)
        if back is not None and back != dataset:
            problems.append(f"the name {dataset.name!r} leads back to another dataset ({back.spec})")
        if problems:
            failures += 1
            print(f"{text}: FAILED: " + "; ".join(problems))
            continue
        print(f"{text}: ok: {cohort.name}, {len(cohort)} patients ({len(cohort.excluded)} excluded), "
              f"endpoints {', '.join(cohort.outcomes)}, feature sets {', '.join(cohort.feature_sets)}, "
              f"{len(cohort.images)} with images")
    return 1 if failures else 0
