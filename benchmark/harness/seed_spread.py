"""How much a neural method's score moves with its own random seed, the outer splits held fixed.

A neural fit depends on its seed twice: the weight initialisation (and dropout) and the inner
validation split that stops it early. The main tables use one seed per cell; this study refits
every neural method of the main table on the same outer 5 × 5 splits with model seeds 0..K-1
(`RunConfig.model_seed`: seed 0 is the main table's cell seed, the others shift the cells' generators,
not the splits) and reports the spread of the mean C-index over seeds.

`python -m benchmark seeds` runs it (-j processes; cells are written atomically under
<data-dir>/studies/seed-spread/seed<k>/, so a rerun resumes) and writes
results/tables/seed_spread.{md,csv}.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from benchmark import datasets, files, methods
from benchmark.harness import results, runner
from benchmark.harness.defaults import MODEL_SEEDS
from benchmark.methods.neural import NeuralSurvivalMethod
from benchmark.progress import shown

ENDPOINT = "dfs"   # where the cohort has it, else its primary endpoint
STUDY = "seed-spread"
TABLE = "seed_spread"
METRIC = "cindex_harrell"


def neural_methods() -> list[str]:
    """Every neural method of the main table (ablations are parts of STG, not methods of their own)."""
    return [m.name for m in methods.available() if issubclass(m, NeuralSurvivalMethod) and m.family != "ablation"]


def run(dataset: datasets.Dataset, data_dir: Path, n_jobs: int = 1, model_seeds: int = MODEL_SEEDS,
        progress: bool = True, force: bool = False) -> pd.DataFrame:
    """Fit every cell with every model seed (resuming finished ones unless `force`); one row per cell and seed."""
    cohort = runner.load_cohort(dataset, Path(data_dir), n_jobs)
    endpoint = ENDPOINT if ENDPOINT in cohort.outcomes else cohort.primary_endpoint
    config = runner.RunConfig(datasets=[dataset], methods=neural_methods(), endpoints=[endpoint], protocols=["cv"],
                              n_jobs=n_jobs, data_dir=Path(data_dir), output=Path(data_dir) / "studies" / STUDY,
                              force=force)
    roots = {k: config.output / f"seed{k}" for k in range(model_seeds)}
    with shown(progress):
        the_plan = runner.plan(config)
        the_plan.write_splits()
        for k, root in roots.items():   # each seed's cells in parallel, written under its own root
            runner.compute(the_plan, the_plan.to_compute(the_plan.cells, root, force),
                           replace(config, model_seed=k, output=root), runner.Summary())
    frames = [results.read_all(root).assign(model_seed=k) for k, root in roots.items()]
    return pd.concat(frames, ignore_index=True)


def spread(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean C-index of each model seed over its folds, their mean and sd, and the mean
    per-fold sd over seeds (how much one fit moves)."""
    ok = cells[cells["status"] == "ok"]
    values = ok.assign(value=ok[METRIC])
    per_seed = values.pivot_table(index="method", columns="model_seed", values="value", aggfunc="mean")
    per_fold = values.pivot_table(index=["method", "repeat", "fold"], columns="model_seed", values="value")
    table = per_seed.rename(columns=lambda k: f"seed {k}")
    table["mean"] = per_seed.mean(axis=1)
    table["sd over seeds"] = per_seed.std(axis=1, ddof=1)
    table["per-fold sd"] = per_fold.std(axis=1, ddof=1).groupby(level="method").mean()
    table["cells"] = values.groupby("method").size()
    return table.sort_values("mean", ascending=False)


def write_tables(cells: pd.DataFrame, dataset: datasets.Dataset, output: Path) -> pd.DataFrame:
    table = spread(cells)
    tables = Path(output) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(tables / f"{TABLE}.csv", table.to_csv())
    seeds = sorted(cells["model_seed"].unique())
    text = "\n".join([
        "# Neural methods: spread over model seeds",
        "",
        f"{dataset.spec}, {cells['endpoint'].iloc[0]}, 5 × 5 CV, the same outer splits for "
        "every seed; "
        f"model seeds {', '.join(map(str, seeds))} (initialisation, dropout and the inner early-stopping split). "
        "Harrell C-index: mean over the 25 folds per seed; sd over seeds of that mean; per-fold sd = the sd over "
        "seeds of one fold's C-index, averaged over folds.",
        "",
        table.astype({"cells": str}).to_markdown(floatfmt=".3f"),
        "",
        "Command: `python -m benchmark seeds`.",
        "",
    ])
    files.atomic_write_text(tables / f"{TABLE}.md", text)
    return table
