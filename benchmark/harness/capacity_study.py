"""Capacity apart from sample size: can a method represent the signal when patients are plentiful?

At 120-197 patients every method is limited by its sample; this study asks what each can learn at all.
One large draw (DRAW: 3,000 patients, a cohort seed that neither the scenario grid, seeds 0..draws-1,
nor the defaults study draws; the scenario-inputs study reads it too), every image mechanism (the
rescaled scenarios repeat the default's), DFS, one stratified 80/20 split (the first fold of a 5-fold
split): each method is fitted with its defaults on the training patients and scored on the test
patients, where the oracle ranks them by the true risk. Radiomics (Coxnet) is there for the `texture`
scenario, the one signal the graphs can only read through their nodes' radiomics features.
The table gives Harrell's C-index and each method's difference to the oracle on the same test
patients, with a paired bootstrap interval over those patients.

A model can rank no better than its inputs allow, so the table also has the graph inputs' ceiling: the
true recurrence log-hazard regressed on what the graph methods read (the clinical table and the graphs
summarised per patient, the scenario-inputs study's families), fitted on the training patients with the
truth as target, by whichever of ridge and boosting scores the higher R² in 5-fold CV on the training
patients, and ranking the test patients. Where the ceiling itself is far below the oracle, the gap is
the inputs' (what the images show), not the models'.

`python -m benchmark capacity` runs it (-j processes; cells are written atomically under
<data-dir>/studies/capacity/, so a rerun resumes) and writes results/tables/capacity.{md,csv}.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from benchmark import datasets, files
from benchmark.data import scenarios
from benchmark.harness import inputs_study, results, runner
from benchmark.harness.defaults import LARGE_DRAW as DRAW
from benchmark.progress import shown
from benchmark.scoring.stats import LEVEL, harrell_cindex

ENDPOINT = "dfs"
FOLDS = 5              # the split's test share is 1 / FOLDS; only its first fold is fitted
SCENARIOS = scenarios.IMAGE_MECHANISMS
METHODS = ("stg", "stg-lite", "gcn", "gat", "sage", "morphometry", "radiomics_coxnet", "oracle")
#: The claim the table tests: a method that can represent the signal comes this close to the oracle.
MARGIN = 0.02
N_RESAMPLES = 1000
#: The row of the graph inputs' ceiling, and the inputs study's families it reads.
CEILING = "graph inputs' ceiling"
CEILING_FAMILIES = ("clinical", "lesion graph")
STUDY = "capacity"
TABLE = "capacity"


def capacity_datasets() -> list[datasets.Dataset]:
    draw = datasets.parse_spec(DRAW)
    return [replace(draw, scenario=scenario) for scenario in SCENARIOS]


def run(data_dir: Path, n_jobs: int = 1, progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Fit every method on every scenario's training split (resuming finished cells unless `force`); one row
    per cell."""
    root = Path(data_dir) / "studies" / STUDY
    config = runner.RunConfig(datasets=capacity_datasets(), methods=list(METHODS), endpoints=[ENDPOINT],
                              protocols=["cv"], folds=FOLDS, repeats=1, n_jobs=n_jobs, data_dir=Path(data_dir),
                              output=root, force=force)
    with shown(progress):
        the_plan = runner.plan(config)
        the_plan.write_splits()
        cells = [c for c in the_plan.cells if c.fold == 0]
        runner.compute(the_plan, the_plan.to_compute(cells, root, force), config, runner.Summary())
    wanted = {(c.dataset, c.method) for c in cells}
    frame = results.read_all(root)
    planned = np.array([(d, m) in wanted for d, m in zip(frame["dataset"], frame["method"])])
    return frame[planned & (frame["fold"] == 0).to_numpy()]


def inputs_ceiling(data_dir: Path, oracle_tests: dict[str, pd.DataFrame], n_jobs: int = 1) -> dict[str, pd.DataFrame]:
    """Per dataset, the ceiling's predictions on the oracle's test patients (patient_id, time, event, risk)."""
    chosen = capacity_datasets()
    families, targets = inputs_study.load_families(chosen, data_dir, n_jobs)
    families = [family for family in families if family.name in CEILING_FAMILIES]
    X, preprocessing = inputs_study.design(families)
    ids = families[0].table.index
    ceilings = {}
    for dataset in chosen:
        test = oracle_tests.get(dataset.name)
        if test is None or np.ptp(targets[dataset.scenario]) == 0:
            continue
        is_test = ids.isin(test["patient_id"])
        y = targets[dataset.scenario].loc[ids].to_numpy(dtype=float)
        with threadpool_limits(n_jobs):
            models = {name: make_pipeline(preprocessing, learner) for name, learner in inputs_study.LEARNERS.items()}
            folds = KFold(inputs_study.FOLDS, shuffle=True, random_state=inputs_study.SEED)
            r2 = {name: cross_val_score(model, X[~is_test], y[~is_test], cv=folds).mean()
                  for name, model in models.items()}
            best = models[max(r2, key=r2.get)].fit(X[~is_test], y[~is_test])
            risk = pd.Series(best.predict(X[is_test]), index=ids[is_test])
        ceilings[dataset.name] = test[["patient_id", "time", "event"]].assign(
            risk=risk.loc[test["patient_id"]].to_numpy())
    return ceilings


def difference_interval(method: pd.DataFrame, oracle: pd.DataFrame, seed: int = 0) -> tuple[float, float, float]:
    """C(method) - C(oracle) on the same test patients, with its paired percentile bootstrap interval."""
    both = method.set_index("patient_id").join(oracle.set_index("patient_id")["risk"].rename("risk_oracle"))
    time, event = both["time"].to_numpy(float), both["event"].to_numpy().astype(bool)
    risk, oracle_risk = both["risk"].to_numpy(float), both["risk_oracle"].to_numpy(float)

    def difference(rows: np.ndarray) -> np.ndarray:   # (B, n) patient positions -> (B,)
        return (harrell_cindex(time[rows], event[rows], risk[rows])
                - harrell_cindex(time[rows], event[rows], oracle_risk[rows]))

    point = difference(np.arange(len(both))[None])[0]
    resamples = np.random.default_rng(seed).integers(0, len(both), size=(N_RESAMPLES, len(both)))
    draws = np.concatenate([difference(chunk) for chunk in np.array_split(resamples, N_RESAMPLES // 25)])
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(point), float(low), float(high)


def oracle_tests(cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, the oracle's predictions on its test patients (the patients every method is scored on)."""
    return {row.dataset: pd.read_csv(Path(row.path).with_suffix(".predictions.csv"))
            for row in cells.itertuples() if row.method == "oracle" and row.status == "ok"}


def summarise(cells: pd.DataFrame, ceilings: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per scenario × method: C-index, difference to the oracle and its interval; then the graph inputs'
    ceiling of each scenario that has one."""
    scenario_of = {d.name: d.scenario for d in capacity_datasets()}
    ceilings = ceilings or {}
    rows = []
    for dataset, group in cells.groupby("dataset", sort=False):
        predictions = {row.method: pd.read_csv(Path(row.path).with_suffix(".predictions.csv"))
                       for row in group.itertuples() if row.status == "ok"}
        entries = [{"method": row.method, "n_train": row.n_train, "n_test": row.n_test,
                    "cindex": getattr(row, "cindex_harrell", np.nan), "status": row.status}
                   for row in group.itertuples()]
        if dataset in ceilings:
            ceiling = predictions[CEILING] = ceilings[dataset]
            time, event = ceiling["time"].to_numpy(float)[None], ceiling["event"].to_numpy(bool)[None]
            entries.append({"method": CEILING, "n_train": entries[0]["n_train"], "n_test": len(ceiling),
                            "cindex": float(harrell_cindex(time, event, ceiling["risk"].to_numpy(float)[None])[0]),
                            "status": "ok"})
        for entry in entries:
            entry["scenario"] = scenario_of[dataset]
            if entry["status"] == "ok" and "oracle" in predictions and entry["method"] != "oracle":
                entry["difference"], entry["ci_low"], entry["ci_high"] = difference_interval(
                    predictions[entry["method"]], predictions["oracle"])
                entry["within_margin"] = entry["difference"] >= -MARGIN
            rows.append(entry)
    return pd.DataFrame(rows)


def write_tables(summary: pd.DataFrame, output: Path) -> None:
    tables = Path(output) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(tables / f"{TABLE}.csv", summary.to_csv(index=False))
    files.atomic_write_text(tables / f"{TABLE}.md", markdown(summary))


def markdown(summary: pd.DataFrame) -> str:
    def cell(row) -> str:
        if row.status != "ok":
            return f"failed ({row.status})"
        if row.method == "oracle":
            return f"{row.cindex:.3f}"
        mark = "" if row.within_margin else " ✗"
        return f"{row.cindex:.3f} ({row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]){mark}"

    wide = summary.assign(text=[cell(r) for r in summary.itertuples()]).pivot(
        index="method", columns="scenario", values="text")
    wide = wide.reindex(index=[m for m in (*METHODS[:-1], CEILING, METHODS[-1]) if m in wide.index],
                        columns=list(SCENARIOS))
    first = summary.iloc[0]
    return "\n".join([
        "# Capacity: what each method learns when patients are plentiful",
        "",
        f"One synthetic draw, `{DRAW}` (a seed no table of `run` draws), {ENDPOINT.upper()}, "
        f"pre-operative features, one stratified split: {first.n_train} training and {first.n_test} test patients. "
        "Each method with its defaults. Cells: Harrell C-index on the test patients (difference to the oracle on the "
        f"same patients [{LEVEL:.0%} paired bootstrap interval, {N_RESAMPLES} resamples]); ✗: more than "
        f"{MARGIN} below the oracle. Row \"{CEILING}\": the true recurrence log-hazard regressed on what the graph "
        "methods read (the clinical table and the graphs summarised per patient, as in `scenario_inputs.md`), fitted "
        "on the training patients by the better of ridge and boosting in 5-fold CV there, ranking the test patients: "
        "where it is itself below the oracle, the inputs do not show the signal, and no model of them can rank better.",
        "",
        wide.rename_axis(index="method", columns=None).to_markdown(),
        "",
        "Command: `python -m benchmark capacity`.",
        "",
    ])
