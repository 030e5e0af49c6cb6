"""Regression guard and plug-in smoke test (``python -m benchmark check``).

`regression` runs every registered method on the CI profiles (a small synthetic cohort, few
folds, one repeat; and the clinical methods on the real MSKCC table, OS and DFS) and compares each
method's mean test-fold metrics and exact per-fold parameter counts with the reference file
(``results/reference/ci.json``). The file states the
tolerances per kind of method: deterministic ones must match tightly, stochastic and neural
ones within looser bounds. A metric that got worse beyond its tolerance, a changed parameter
count, a method that errors, or a registered method missing from the reference fails the
check; ``--update`` rewrites the reference deliberately.

A method trains briefly here through its ``ci_params`` class attribute (a dict of parameters,
e.g. fewer epochs), passed to it as the cell's parameters; without one it runs its defaults.

`smoke` fits one method on one fold of the same cohort twice and checks its outputs (the
Prediction contract: shapes, finite risks, non-increasing survival in [0, 1]), its parameter
count and that the same seed gives the same result. `dataset_smoke` loads a dataset plug-in and
checks the Cohort contract every method relies on.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from benchmark import datasets, methods
from benchmark.harness import results, runner
from benchmark.scoring.metrics import HIGHER_IS_BETTER, METRIC_NAMES

REFERENCE = Path("results/reference/ci.json")
#: Every registered method on a small synthetic cohort; the first profile is also the smoke test's.
#: A profile with endpoints keys its entries "METHOD @ DATASET/ENDPOINT" and records only the methods
#: that apply to it (the real clinical table has no images).
SYNTHETIC_PROFILE = {"dataset": "crlm-synthetic:n=60", "folds": 3, "repeats": 1, "seed": 0, "protocol": "cv"}
REAL_PROFILE = {"dataset": "mskcc-crlm", "endpoints": ["os", "dfs"], "feature_sets": ["preoperative"], "folds": 3,
                "repeats": 1, "seed": 0, "protocol": "cv"}
PROFILES = [SYNTHETIC_PROFILE, REAL_PROFILE]
COMPARED_METRICS = [name for name in METRIC_NAMES if not name.startswith("n_")]  # counts, not results
NEURAL_FAMILIES = ("gnn", "stg", "ablation")
#: Absolute tolerance per kind of method and metric ("*": every other metric).
DEFAULT_TOLERANCES = {
    "deterministic": {"*": 1e-6},
    "stochastic": {"*": 0.03, "mae_po": 0.1, "mae_hinge": 0.1, "mae_uncensored": 0.1},
    "neural": {"*": 0.05, "mae_po": 0.15, "mae_hinge": 0.15, "mae_uncensored": 0.15},
}
FAILING = ("REGRESSED", "CHANGED", "ERROR", "MISSING", "GONE")


def kind(method: type[methods.Method]) -> str:
    if method.family in NEURAL_FAMILIES:
        return "neural"
    return "stochastic" if method.stochastic else "deterministic"


def ci_params(method: type[methods.Method]) -> dict:
    return dict(getattr(method, "ci_params", {}))


def profile_config(profile: dict, names: list[str], output: Path, data_dir: Path, n_jobs: int = 1) -> runner.RunConfig:
    return runner.RunConfig(
        datasets=[profile["dataset"]], methods=names, endpoints=profile.get("endpoints"),
        feature_sets=profile.get("feature_sets"), protocols=[profile["protocol"]], folds=profile["folds"],
        repeats=profile["repeats"], seed=profile["seed"], n_jobs=n_jobs, output=output, data_dir=data_dir,
        params={name: ci_params(methods.get(name)) for name in names})


def entry_key(profile: dict, method: str, endpoint: str) -> str:
    return f"{method} @ {profile['dataset']}/{endpoint}" if profile.get("endpoints") else method


def measure_methods(data_dir: Path, n_jobs: int) -> dict[str, dict]:
    """Run every registered method on the CI profiles: key -> entry (as stored in the reference)."""
    entries: dict[str, dict] = {}
    runnable = []
    for name, registered in sorted(methods.registry().items()):
        if registered.cls is None:
            entries[name] = {"kind": "?", "status": "error", "error": f"module does not import: {registered.error}"}
        else:
            runnable.append(name)
    for profile in PROFILES:
        with tempfile.TemporaryDirectory(prefix="stg-check-") as output:
            summary = runner.execute(profile_config(profile, runnable, Path(output), data_dir, n_jobs))
            frame = results.read_all(Path(output))
        if not profile.get("endpoints"):
            for _, name, reason in summary.not_applicable:
                entries[name] = {"kind": kind(methods.get(name)), "status": "not applicable", "error": reason}
        for (name, endpoint), cells in frame.groupby(["method", "endpoint"]) if not frame.empty else []:
            entries[entry_key(profile, name, endpoint)] = measured_entry(name, cells)
    return entries


def measured_entry(name: str, cells: pd.DataFrame) -> dict:
    """The reference entry of one method's cells on one profile."""
    entry = {"kind": kind(methods.get(name))}
    failed = cells[cells["status"] != "ok"]
    if len(failed):
        entry.update(status="error", error=f"{len(failed)} cell(s): {failed['error'].iloc[0]}")
    else:
        cells = cells.sort_values(["repeat", "fold"])
        entry.update(status="ok", n_params=[int(n) for n in cells["n_params"]],
                     metrics={m: _mean(cells[m]) for m in COMPARED_METRICS},
                     seconds=round(float((cells["fit_s"] + cells["predict_s"]).sum()), 1))
    return entry


def _mean(values: pd.Series) -> float | None:
    finite = values.dropna()
    return float(finite.mean()) if len(finite) else None


def tolerance(tolerances: dict, method_kind: str, metric: str) -> float:
    table = tolerances.get(method_kind, tolerances["deterministic"])
    return float(table.get(metric, table["*"]))


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
                             now="run `python -m benchmark check --update`"))
            continue
        was = stored[name]
        if was.get("n_params") != entry["n_params"]:
            rows.append(dict(method=name, what="n_params", reference=was.get("n_params"), now=entry["n_params"],
                             verdict="CHANGED"))
        for metric in COMPARED_METRICS:
            old, new = was.get("metrics", {}).get(metric), entry["metrics"][metric]
            if old == new:
                continue
            allowed = tolerance(reference["tolerances"], entry["kind"], metric)
            if old is None or new is None:
                rows.append(dict(method=name, what=metric, reference=old, now=new, tolerance=allowed,
                                 verdict="CHANGED"))
                continue
            better = (new - old) * HIGHER_IS_BETTER[metric]
            verdict = "within" if abs(new - old) <= allowed else ("improved" if better > 0 else "REGRESSED")
            rows.append(dict(method=name, what=metric, reference=old, now=new, delta=new - old, tolerance=allowed,
                             verdict=verdict))
    for name in sorted(set(stored) - set(current)):
        rows.append(dict(method=name, what="in the reference, not registered", verdict="GONE",
                         now="run `python -m benchmark check --update`"))
    return rows


def print_rows(rows: list[dict]) -> None:
    columns = ["method", "what", "reference", "now", "delta", "tolerance", "verdict"]
    print(tabulate([[row.get(c, "") for c in columns] for row in rows], headers=columns, floatfmt=".4g"))


def regression(reference_path: Path, data_dir: Path, n_jobs: int = 1, update: bool = False) -> int:
    """Run the CI profile and compare it with (or, with `update`, write) the reference; exit status."""
    reference = json.loads(reference_path.read_text()) if reference_path.is_file() else {}
    reference.setdefault("tolerances", DEFAULT_TOLERANCES)
    start = time.perf_counter()
    current = measure_methods(data_dir, n_jobs)
    seconds = time.perf_counter() - start
    print(tabulate([[name, e["kind"], e["status"], e.get("seconds", ""),
                     _format(e.get("metrics", {}).get("cindex_harrell")), e.get("n_params", e.get("error", ""))]
                    for name, e in current.items()],
                   headers=["method", "kind", "status", "seconds", "C-index", "n_params / error"]))
    print(f"\nCI profiles {PROFILES}: {len(current)} entries in {seconds:.0f} s")
    if reference.get("profiles", PROFILES) != PROFILES:
        print(f"FAILED: the reference was made with profiles {reference['profiles']}; "
              "run `python -m benchmark check --update`")
        return 1
    rows = compare(reference, current)
    if update:
        new = [row["method"] for row in rows if row["verdict"] == "MISSING"]
        rows = [row for row in rows if row["verdict"] != "MISSING"]
        if new:
            print(f"\nnew in the reference: {', '.join(new)}")
    if rows:
        print("\nWhat moved:")
        print_rows(rows)
    errored = sorted(name for name, entry in current.items() if entry["status"] == "error")
    if update:
        if errored:
            print(f"\nreference NOT updated: {', '.join(errored)} errored")
            return 1
        payload = {"profiles": PROFILES, "tolerances": reference["tolerances"], "seconds": round(seconds),
                   "methods": current}
        results.atomic_write_text(reference_path, json.dumps(payload, indent=1, sort_keys=True) + "\n")
        print(f"\nreference written: {reference_path} ({len(current)} method(s))")
        return 0
    failed = sorted({row["method"] for row in rows if row["verdict"] in FAILING})
    if failed:
        print(f"\ncheck FAILED for: {', '.join(failed)}")
        return 1
    print("\ncheck passed" + ("; improvements: run `check --update` to accept them"
                              if any(row["verdict"] == "improved" for row in rows) else ""))
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
