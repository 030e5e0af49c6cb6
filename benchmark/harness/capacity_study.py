"""Capacity apart from sample size: can a method represent the signal when patients are plentiful?

At 120-197 patients every method is limited by its sample; this study asks what each can learn at all.
One large draw (DRAW: 3,000 patients, a cohort seed that neither the scenario grid, seeds 0..draws-1,
nor the defaults study draws; the scenario-inputs study reads it too), every image mechanism (the
rescaled scenarios repeat the default's), DFS, one stratified 5-fold split: each method is fitted with
its defaults on each fold's 80 % training patients and scored on its 20 % test patients, where the
oracle ranks them by the true risk, so every patient is a test patient once. Radiomics (Coxnet) is there
for the `texture` scenario, the one signal the graphs can only read through their nodes' radiomics features.
The table gives Harrell's C-index and each method's difference to the oracle on the same test patients,
both the mean over the five folds, with a paired bootstrap interval that resamples the patients within
each fold: one 600-patient fold alone measures the difference with an interval about ±0.016 wide, too
wide to tell a method 0.01 from the margin from one 0.03 from it.

A model can rank no better than its inputs allow, so the table also has the graph inputs' ceiling: the
true recurrence log-hazard regressed on what the graph methods read (the clinical table and the graphs
summarised per patient, the scenario-inputs study's families), fitted on each fold's training patients with
the truth as target, by whichever of ridge and boosting scores the higher R² in 5-fold CV on those
patients, and ranking the fold's test patients. Where the ceiling itself is far below the oracle, the gap
is the inputs' (what the images show), not the models'. And STG's network fitted to the truth
(benchmark.harness.truth_fit) asks the same of the architecture: trained on the true log-hazard instead of the
outcomes, how close does it rank to the oracle?

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

from benchmark import datasets, files, methods
from benchmark.data import scenarios
from benchmark.features import artefacts
from benchmark.harness import backends, inputs_study, results, runner, truth_fit
from benchmark.harness.defaults import LARGE_DRAW as DRAW
from benchmark.progress import bar, shown
from benchmark.scoring.stats import LEVEL, harrell_cindex, resampled_harrell_cindex

ENDPOINT = "dfs"
FOLDS = 5              # each fold's test share is 1 / FOLDS; every fold is fitted
SCENARIOS = scenarios.IMAGE_MECHANISMS
METHODS = ("stg", "stg-lite", "gcn", "gat", "sage", "morphometry", "radiomics_coxnet", "oracle")
#: The claim the table tests: a method that can represent the signal comes this close to the oracle.
MARGIN = 0.02
N_RESAMPLES = 1000
#: The row of the graph inputs' ceiling, and the inputs study's families it reads.
CEILING = "graph inputs' ceiling"
#: The row of STG's network fitted to the true log-hazard (benchmark.harness.truth_fit).
TRUTH_FIT = "stg fitted to the truth"
CEILING_FAMILIES = ("clinical", "lesion graph")
STUDY = "capacity"
TABLE = "capacity"


def capacity_datasets() -> list[datasets.Dataset]:
    draw = datasets.parse_spec(DRAW)
    return [replace(draw, scenario=scenario) for scenario in SCENARIOS]


def study_config(data_dir: Path, n_jobs: int = 1, force: bool = False) -> runner.RunConfig:
    return runner.RunConfig(datasets=capacity_datasets(), methods=list(METHODS), endpoints=[ENDPOINT],
                            protocols=["cv"], folds=FOLDS, repeats=1, n_jobs=n_jobs, data_dir=Path(data_dir),
                            output=Path(data_dir) / "studies" / STUDY, force=force)


def run(data_dir: Path, n_jobs: int = 1, progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Fit every method on every fold of every scenario (resuming finished cells unless `force`); one row per
    cell."""
    config = study_config(data_dir, n_jobs, force)
    with shown(progress):
        the_plan = runner.plan(config)
        the_plan.write_splits()
        runner.compute(the_plan, the_plan.to_compute(the_plan.cells, config.output, force), config, runner.Summary())
    wanted = {(c.dataset, c.method, c.fold) for c in the_plan.cells}
    frame = results.read_all(config.output)
    return frame[[key in wanted for key in zip(frame["dataset"], frame["method"], frame["fold"])]]


def truth_fits(data_dir: Path, oracle_tests: dict[str, pd.DataFrame], n_jobs: int = 1, progress: bool = True,
               force: bool = False) -> dict[str, pd.DataFrame]:
    """Per dataset, STG's network fitted to the truth on each fold's training patients, ranking its test patients
    (patient_id, time, event, fold, risk); kept per fold (a rerun reads them; `force` refits)."""
    config = study_config(data_dir, n_jobs, force)
    the_plan = runner.plan(config)
    cells = {(c.dataset, c.fold): c for c in the_plan.cells if c.method == "oracle"}

    def compute(pending: list[tuple[str, int]]) -> dict[tuple[str, int], pd.Series]:
        jobs = [(key, the_plan, cells[key], config) for key in pending]
        with shown(progress):
            return dict(bar(backends.imap_unordered(_truth_fit, jobs, n_jobs=n_jobs), total=len(jobs),
                            desc="STG fitted to the truth"))

    return kept_predictions(config.output / f"truth-fit-{stg_settings(data_dir)}", oracle_tests, compute, force)


def _truth_fit(key: tuple[str, int], the_plan: runner.Plan, cell: results.Cell,
               config: runner.RunConfig) -> tuple[tuple[str, int], pd.Series]:
    """One fold's test predictions of STG fitted to the truth (patient id -> predicted log-hazard), with its key."""
    cohort = runner.load_cohort(the_plan.specs[cell.dataset], config.data_dir)
    train, test = runner.fold_data(cell, cohort, the_plan.split(cell), config)
    return key, pd.Series(truth_fit.fit_and_rank(train, test, cohort.truth[inputs_study.TARGET]), index=test.ids)


def inputs_ceiling(data_dir: Path, oracle_tests: dict[str, pd.DataFrame], n_jobs: int = 1,
                   force: bool = False) -> dict[str, pd.DataFrame]:
    """Per dataset, the ceiling's predictions on the oracle's test patients of every fold (patient_id, time,
    event, fold, risk), each fold's fitted on the patients outside it; kept per fold like the truth fits."""
    def compute(pending: list[tuple[str, int]]) -> dict[tuple[str, int], pd.Series]:
        scenario_of = {d.name: d.scenario for d in capacity_datasets()}
        families, targets = inputs_study.load_families(capacity_datasets(), data_dir, n_jobs)
        families = [family for family in families if family.name in CEILING_FAMILIES]
        X, preprocessing = inputs_study.design(families)
        ids = families[0].table.index
        risks = {}
        for dataset, fold in pending:
            y = targets[scenario_of[dataset]].loc[ids].to_numpy(dtype=float)
            test = oracle_tests[dataset]
            is_test = ids.isin(test.loc[test["fold"] == fold, "patient_id"])
            with threadpool_limits(n_jobs):
                models = {name: make_pipeline(preprocessing, learner)
                          for name, learner in inputs_study.LEARNERS.items()}
                folds = KFold(inputs_study.FOLDS, shuffle=True, random_state=inputs_study.SEED)
                r2 = {name: cross_val_score(model, X[~is_test], y[~is_test], cv=folds).mean()
                      for name, model in models.items()}
                best = models[max(r2, key=r2.get)].fit(X[~is_test], y[~is_test])
                risks[dataset, fold] = pd.Series(best.predict(X[is_test]), index=ids[is_test])
        return risks

    return kept_predictions(Path(data_dir) / "studies" / STUDY / f"ceiling-{stg_settings(data_dir)}", oracle_tests,
                            compute, force)


def stg_settings(data_dir: Path) -> str:
    """STG's parameters and what it reads on every scenario of the draw, hashed. Both reference rows read what STG
    reads with its settings (the truth fit its network, the ceiling its graphs, logged or not), so their kept
    predictions live under this key: a change of the neural defaults or of the features refits them rather than
    reading the former ones' predictions."""
    stg = methods.get("stg")()
    inputs = [artefacts.fingerprint(runner.load_cohort(dataset, Path(data_dir)), stg.inputs(),
                                    artefacts.BuildContext(Path(data_dir))) for dataset in capacity_datasets()]
    return results.params_hash({"params": stg.params, "inputs": inputs})


def kept_predictions(directory: Path, oracle_tests: dict[str, pd.DataFrame], compute,
                     force: bool) -> dict[str, pd.DataFrame]:
    """Per dataset, a reference row's predictions on the oracle's test patients of every fold (patient_id, time,
    event, fold, risk). Each fold's are written atomically under `directory` and read back by a rerun;
    `compute(pending (dataset, fold) list) -> (dataset, fold) -> patient id -> risk` makes the others (every fold's
    with `force`)."""
    path = {(dataset, fold): Path(directory) / f"{dataset}-f{fold}.csv"
            for dataset, test in oracle_tests.items() for fold in sorted(test["fold"].unique())}
    pending = [key for key in path if force or not path[key].exists()]
    for (dataset, fold), risk in (compute(pending) if pending else {}).items():
        test = oracle_tests[dataset]
        frame = test.loc[test["fold"] == fold, ["patient_id", "time", "event", "fold"]]
        path[dataset, fold].parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_text(path[dataset, fold], frame.assign(risk=risk.loc[frame["patient_id"]].to_numpy())
                                .to_csv(index=False))
    return {dataset: pd.concat([pd.read_csv(path[key]) for key in path if key[0] == dataset], ignore_index=True)
            for dataset in oracle_tests}


def difference_interval(method: pd.DataFrame, oracle: pd.DataFrame, seed: int = 0) -> tuple[float, float, float]:
    """C(method) - C(oracle) on the same test patients, the mean over folds (a `fold` column; one fold without
    it), with its paired percentile bootstrap interval (patients resampled within each fold)."""
    oracle = oracle.set_index("patient_id")
    both = method.set_index("patient_id")[["time", "event", "risk"]].join(oracle["risk"].rename("risk_oracle"))
    fold = oracle["fold"].loc[both.index].to_numpy() if "fold" in oracle else np.zeros(len(both))
    rng = np.random.default_rng(seed)
    points, draws = [], []
    for k in np.unique(fold):
        rows = both[fold == k]
        counts = np.zeros((1 + N_RESAMPLES, len(rows)))
        counts[0] = 1   # the patients as they are: the point estimate
        drawn = rng.integers(0, len(rows), size=(N_RESAMPLES, len(rows)))
        np.add.at(counts[1:], (np.arange(N_RESAMPLES)[:, None], drawn), 1)
        difference = paired_difference(rows, counts)
        points.append(difference[0])
        draws.append(difference[1:])
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(np.mean(draws, axis=0), [tail, 100 - tail])
    return float(np.mean(points)), float(low), float(high)


def paired_difference(rows: pd.DataFrame, counts: np.ndarray) -> np.ndarray:
    """C(risk) - C(risk_oracle) of each resample of `rows`, given as (B, n) counts of each patient. (B,)"""
    time, event = rows["time"].to_numpy(float), rows["event"].to_numpy().astype(bool)
    return (resampled_harrell_cindex(time, event, rows["risk"].to_numpy(float), counts)
            - resampled_harrell_cindex(time, event, rows["risk_oracle"].to_numpy(float), counts))


def fold_cindex(predictions: pd.DataFrame) -> float:
    """Harrell's C on each fold's test patients, the mean over folds."""
    return float(np.mean([harrell_cindex(f["time"].to_numpy(float)[None], f["event"].to_numpy(bool)[None],
                                         f["risk"].to_numpy(float)[None])[0]
                          for _, f in predictions.groupby("fold")]))


def predictions_of(rows: pd.DataFrame) -> pd.DataFrame:
    """The test predictions of a method's cells, every fold's, with their fold."""
    return pd.concat([pd.read_csv(Path(row.path).with_suffix(".predictions.csv")).assign(fold=row.fold)
                      for row in rows.itertuples()], ignore_index=True)


def oracle_tests(cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per dataset, the oracle's predictions on the test patients of every fold (those every method is scored on)."""
    oracle = cells[(cells["method"] == "oracle") & (cells["status"] == "ok")]
    return {dataset: predictions_of(rows) for dataset, rows in oracle.groupby("dataset", sort=False)}


def summarise(cells: pd.DataFrame, references: dict[str, dict[str, pd.DataFrame]] | None = None,
              n_jobs: int = 1, progress: bool = False) -> pd.DataFrame:
    """One row per scenario × method: C-index, difference to the oracle and its interval (means over folds); then
    the reference rows (row name -> dataset -> predictions with their fold: the graph inputs' ceiling, STG fitted to
    the truth) of each scenario that has them. A method with a failed fold shows the failure. The bootstrap
    intervals (each a thousand resamples of every fold) are computed in parallel (`n_jobs`)."""
    scenario_of = {d.name: d.scenario for d in capacity_datasets()}
    references = references or {}
    rows, intervals = [], []
    for dataset, group in cells.groupby("dataset", sort=False):
        predictions, entries = {}, []
        for method, runs in group.groupby("method", sort=False):
            failed = runs[runs["status"] != "ok"]
            entries.append({"method": method, "n_train": int(runs["n_train"].median()),
                            "n_test": int(runs["n_test"].median()), "folds": len(runs), "cindex": np.nan,
                            "status": failed["status"].iloc[0] if len(failed) else "ok"})
            if not len(failed):
                predictions[method] = predictions_of(runs)
                entries[-1]["cindex"] = fold_cindex(predictions[method])
        for name, by_dataset in references.items():
            if dataset in by_dataset:
                predictions[name] = by_dataset[dataset]
                entries.append({**entries[0], "method": name, "folds": by_dataset[dataset]["fold"].nunique(),
                                "cindex": fold_cindex(by_dataset[dataset]), "status": "ok"})
        for entry in entries:
            entry["scenario"] = scenario_of[dataset]
            if entry["status"] == "ok" and "oracle" in predictions and entry["method"] != "oracle":
                intervals.append((len(rows), predictions[entry["method"]], predictions["oracle"]))
            rows.append(entry)
    done = backends.imap_unordered(_numbered_interval, intervals, n_jobs=n_jobs)
    with shown(progress):
        for position, (difference, low, high) in bar(done, total=len(intervals), desc="bootstrap intervals"):
            rows[position].update(difference=difference, ci_low=low, ci_high=high, within_margin=difference >= -MARGIN)
    return pd.DataFrame(rows)


def _numbered_interval(position: int, method: pd.DataFrame, oracle: pd.DataFrame) -> tuple[int, tuple]:
    return position, difference_interval(method, oracle)


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
    wide = wide.reindex(index=[m for m in (*METHODS[:-1], TRUTH_FIT, CEILING, METHODS[-1]) if m in wide.index],
                        columns=list(SCENARIOS))
    first = summary.iloc[0]
    return "\n".join([
        "# Capacity: what each method learns when patients are plentiful",
        "",
        f"One synthetic draw, `{DRAW}` (a seed no table of `run` draws), {ENDPOINT.upper()}, pre-operative "
        f"features, one stratified {FOLDS}-fold split: {first.n_train} training and {first.n_test} test patients per "
        "fold, every patient a test patient once. Each method with its defaults. Cells: Harrell C-index on each "
        f"fold's test patients (difference to the oracle on the same patients [{LEVEL:.0%} paired bootstrap "
        f"interval, {N_RESAMPLES} resamples of the patients within each fold]), means over the folds; ✗: more than "
        f"{MARGIN} below the oracle. Row \"{CEILING}\": the true recurrence log-hazard regressed on what the "
        "graph methods read (the clinical table and the graphs summarised per patient, as in `scenario_inputs.md`), "
        "fitted on each fold's training patients by the better of ridge and boosting in 5-fold CV there, ranking the "
        "fold's test patients: "
        "where it is itself below the oracle, the inputs do not show the signal, and no model of them can rank better. "
        f"Row \"{TRUTH_FIT}\": STG's network (its defaults) with a linear head, trained on each fold's training "
        "patients by squared error on the same true log-hazard instead of on their outcomes, ranking the fold's test "
        "patients: what the architecture can represent, apart from what 2,400 patients' censored outcomes teach it.",
        "",
        wide.rename_axis(index="method", columns=None).to_markdown(),
        "",
        "Command: `python -m benchmark capacity`.",
        "",
    ])
