"""How the neural methods' shared training defaults (benchmark.methods.neural.DEFAULTS) are chosen.

Once, on training folds only, across every scenario and size the suite offers. Each candidate of
CANDIDATES is fitted and scored by the inner K-fold CV of benchmark.harness.tuning inside the outer
training folds of development draws, one per scenario and size. The development draws have cohort
seed DEVELOPMENT_SEED, which the scenario grid never draws (it uses seeds 0..draws-1), so no cohort
that the tables report is looked at, and no outer test fold is read.

The choice: the highest mean inner Harrell C-index over methods × scenarios × sizes × folds, except
that a candidate earlier in the list within one paired standard error of it wins. The list starts
with the defaults used before the study, then one change at a time, so a change has to earn its place.

`python -m benchmark defaults` runs it in parallel (-j). Each task's scores are written atomically
under <data-dir>/studies/neural-defaults/ with the digest of the outcomes they were scored on, so a rerun
resumes, and rescores a task whose development draw has changed since (a new synthetic world); the table
goes to results/tables/neural_defaults.{md,csv}.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark import datasets, files, methods
from benchmark.data import scenarios, splits
from benchmark.features import artefacts
from benchmark.harness import backends, results, runner, tuning

SIZES = (120, 197)
DEVELOPMENT_SEED = 100
ENDPOINT = "dfs"
OUTER_FOLDS = 3
#: The methods the choice is made on: STG, its lite variant and the plainest network of the baselines.
METHODS = ("stg", "stg-lite", "mlp")
_PREVIOUS = {"hidden": 64, "dropout": 0.3, "weight_decay": 1e-3, "lr": 5e-3, "patience": 20, "max_epochs": 150,
             "log_skewed": False, "ranking_weight": 0.0}
_REGULARISED = {"dropout": 0.5, "weight_decay": 1e-2}
CANDIDATES = {
    "previous": _PREVIOUS,
    "logged": {**_PREVIOUS, "log_skewed": True},
    "narrow": {**_PREVIOUS, "hidden": 32},
    "regularised": {**_PREVIOUS, **_REGULARISED},
    "narrow-regularised": {**_PREVIOUS, **_REGULARISED, "hidden": 32},
    "logged-regularised": {**_PREVIOUS, **_REGULARISED, "log_skewed": True},
    "slow": {**_PREVIOUS, "lr": 2e-3, "patience": 40, "max_epochs": 300},
    # a Cox partial likelihood on the exact times beside the yearly one (benchmark.methods.training.objective)
    "ranked": {**_PREVIOUS, "ranking_weight": 1.0},
}
STUDY = "neural-defaults"
TABLE = "neural_defaults"


@dataclass(frozen=True)
class Task:
    """One candidate × method × development cohort × outer fold: its inner-CV scores."""

    candidate: str
    method: str
    dataset: datasets.Dataset
    fold: int

    @property
    def params(self) -> dict:
        return CANDIDATES[self.candidate]

    def path(self, root: Path) -> Path:
        cohort = self.dataset.spec.partition(":")[2].replace(",", "_").replace("=", "")
        where = f"{self.candidate}-{results.params_hash(self.params)}/{self.method}/{cohort}-f{self.fold}.json"
        return Path(root) / "studies" / STUDY / where


def development_datasets() -> list[datasets.Dataset]:
    return [datasets.parse_spec(f"{datasets.DEFAULT_DATASET}:scenario={scenario},n={n},seed={DEVELOPMENT_SEED}")
            for n in SIZES for scenario in scenarios.SCENARIOS]


def score(task: Task, data_dir: Path) -> dict:
    """Inner Harrell C-indices of the task's candidate on its outer training fold (never its test fold)."""
    cohort = runner.load_cohort(task.dataset, data_dir)
    context = artefacts.BuildContext(Path(data_dir))
    feature_set = datasets.default_feature_sets(cohort)[0]
    whole = methods.FoldData(cohort, cohort.patient_ids, ENDPOINT, feature_set, DEVELOPMENT_SEED, context)
    train_positions, _ = tuning.inner_splits(whole, OUTER_FOLDS)[task.fold]
    train = methods.FoldData(cohort, whole.ids[train_positions], ENDPOINT, feature_set,
                             runner.cell_seed(DEVELOPMENT_SEED, 0, task.fold), context)
    inner = tuning.inner_splits(train, tuning.INNER_FOLDS)
    scores = tuning.inner_cindex(methods.get(task.method), task.params, train, inner, runner.seed_everything)
    return {"candidate": task.candidate, "method": task.method, "scenario": task.dataset.scenario, "n": len(cohort),
            "fold": task.fold, "n_train": len(train), "inner_cindex": scores}


def run(data_dir: Path, n_jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """Score every candidate not scored yet on its draw's current outcomes and inputs; the scores of every task,
    one row per outer fold."""
    development = development_datasets()
    needed = dict.fromkeys(r for name in METHODS for r in methods.get(name)().inputs())
    digests = {}
    for dataset in tqdm(development, desc="development cohorts", disable=not progress):
        cohort = runner.load_cohort(dataset, data_dir, n_jobs)
        artefacts.ensure(cohort, needed, artefacts.BuildContext(Path(data_dir), n_jobs))
        digests[dataset] = splits.outcomes_digest(cohort, ENDPOINT) + artefacts.fingerprint(
            cohort, needed, artefacts.BuildContext(Path(data_dir), n_jobs))
    tasks = [Task(c, m, s, f) for c in CANDIDATES for m in METHODS for s in development for f in range(OUTER_FOLDS)]
    pending = [t for t in tasks if not _scored_on(t.path(data_dir), digests[t.dataset])]
    bar = tqdm(total=len(pending), desc="candidate fits", unit="fold", disable=not progress or not pending)
    for task, record in backends.imap_unordered(_scored, [(t, data_dir) for t in pending], n_jobs=n_jobs):
        task.path(data_dir).parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_text(task.path(data_dir), json.dumps({**record, "scored_on": digests[task.dataset]}))
        bar.update()
    bar.close()
    return pd.DataFrame([json.loads(t.path(data_dir).read_text()) for t in tasks])


def _scored_on(path: Path, digest: str) -> bool:
    """Whether `path` holds a task's scores on the outcomes and inputs with this digest (not on an earlier world's
    or earlier features')."""
    return path.is_file() and json.loads(path.read_text()).get("scored_on") == digest


def _scored(task: Task, data_dir: Path) -> tuple[Task, dict]:
    return task, score(task, data_dir)


def unit_means(scores: pd.DataFrame) -> pd.DataFrame:
    """(unit × candidate) mean inner C, a unit being one method × scenario × size × outer fold."""
    frame = scores.assign(cindex=[np.nanmean(s) for s in scores["inner_cindex"]])
    return frame.pivot_table(index=["method", "scenario", "n", "fold"], columns="candidate", values="cindex")


def choose(units: pd.DataFrame, order: list[str]) -> tuple[str, pd.DataFrame]:
    """(chosen candidate, per-candidate mean and paired difference to the best with its standard error)."""
    means = units[order].mean()
    best = means.idxmax()
    differences = units[order].sub(units[best], axis=0)
    summary = pd.DataFrame({"mean_cindex": means, "difference_to_best": differences.mean(),
                            "se_difference": differences.std(ddof=1) / np.sqrt(len(units))})
    close = summary.index[summary["difference_to_best"] >= -summary["se_difference"]]
    return next(c for c in order if c in close), summary


def write_tables(scores: pd.DataFrame, output: Path) -> str:
    """results/tables/neural_defaults.{csv,md}; returns the chosen candidate."""
    units = unit_means(scores)
    order = [c for c in CANDIDATES if c in units.columns]
    chosen, summary = choose(units, order)
    by_scenario = units.groupby(level="scenario").mean()[order].T[list(scenarios.SCENARIOS)]
    by_size = units.groupby(level="n").mean()[order].T.rename(columns=lambda n: f"n={n}")
    by_method = units.groupby(level="method").mean()[order].T
    table = pd.concat([summary, by_scenario, by_size, by_method], axis=1)
    table.insert(0, "settings", [", ".join(f"{k} {v}" for k, v in CANDIDATES[c].items()) for c in order])
    table.insert(0, "chosen", ["yes" if c == chosen else "" for c in order])
    tables = Path(output) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(tables / f"{TABLE}.csv", table.rename_axis("candidate").to_csv())
    files.atomic_write_text(tables / f"{TABLE}.md", markdown(table, units, chosen))
    return chosen


def markdown(table: pd.DataFrame, units: pd.DataFrame, chosen: str) -> str:
    n_train = f"{OUTER_FOLDS}-fold outer split, {tuning.INNER_FOLDS}-fold inner CV"
    return "\n".join([
        "# Neural training defaults: how they were chosen",
        "",
        f"Chosen: **{chosen}** ({', '.join(f'{k} {v}' for k, v in CANDIDATES[chosen].items())}), now "
        "`benchmark.methods.neural.DEFAULTS` for every neural method (STG, its variants and ablations, the GNN "
        "baselines, DeepSurv).",
        "",
        f"Scored on development draws (cohort seed {DEVELOPMENT_SEED}, never drawn by the scenario grid) of every "
        f"scenario ({', '.join(scenarios.SCENARIOS)}) and size ({', '.join(map(str, SIZES))}), endpoint {ENDPOINT}; "
        f"{n_train} inside each outer training fold; the outer test folds are never read. Methods: "
        f"{', '.join(METHODS)}. Mean inner Harrell C-index over {len(units)} units (method × scenario × size × "
        "outer fold); difference to the best candidate paired over the same units, with its standard error. "
        "An earlier candidate within one standard error of the best is chosen.",
        "",
        table.rename_axis("candidate").to_markdown(floatfmt=".3f"),
        "",
        "Command: `python -m benchmark defaults`.",
        "",
    ])
