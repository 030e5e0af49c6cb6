"""How much of the synthetic cohort's true recurrence log-hazard each method family's inputs explain.

The scenario tables say how well each method ranks patients; this study says how much of the signal
its inputs hold at all, so that a method which misses the signal can be told apart from inputs that do
not show it. For every scenario of one synthetic draw (the same patients and images, different
hazards; the rescaled scenarios aside, whose image term is the default's at another strength) the
target is each patient's true recurrence log-hazard (`true_lp_recurrence` of the
scenario's truth table), and the families' inputs are:

  clinical      the pre-operative clinical table the Cox-PH baseline reads;
  morphometry   the morphometry baseline's segmentation measurements, without its clinical columns;
  radiomics     the radiomics baselines' per-node radiomics and geometry, without clinical columns;
  lesion graph  the node features and edge attributes of the graphs STG reads, summarised per patient
                (`graph_summary`). A per-patient summary loses which node is which and how they connect,
                so it is a lower bound on what a graph network can extract;
  all           every family together.

Each is scored by the out-of-sample R² of 5-fold CV (shuffled, fixed seed) of two learners fitted on
the training folds only, after the family's own preprocessing (that of its methods: median imputation
with missing-value indicators, the log of right-skewed columns where they take it, standardisation):
a ridge regression whose penalty is chosen by inner leave-one-out CV, which finds linear signal, and
gradient-boosted trees with their defaults, which also find non-linear signal and interactions.
"Explained" is the larger of the two (slightly optimistic: the better of two noisy estimates). A target
without variance (the null scenario) has nothing to explain: NaN, with that reason.

`python -m benchmark inputs` runs it and writes results/tables/scenario_inputs.{md,csv}.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from baselines.morphometry import morphometry_features
from benchmark import datasets, files, methods
from benchmark.data import scenarios
from benchmark.data.cohort import Cohort
from benchmark.datasets.synthetic import SyntheticCrlm
from benchmark.features import artefacts
from benchmark.features.graphs import GLOBAL_FEATURES, LESION_FEATURES, RELATION_ATTRIBUTES, PatientGraphs
from benchmark.features.preprocessing import tabular_pipeline
from benchmark.harness.defaults import LARGE_DRAW as DATASET
from benchmark.methods import FoldData
from benchmark.progress import bar, shown

TARGET = "true_lp_recurrence"
FOLDS = 5
SEED = 0
TABLE = "scenario_inputs"
#: The scenarios scored: a rescaled one would repeat its base scenario's image term at another strength.
SCENARIOS = scenarios.DISTINCT
NOTHING_TO_EXPLAIN = "no log-hazard to explain"
#: The method whose inputs each family's table holds: the artefacts built are the ones it declares. radiomics_coxnet
#: stands for the radiomics baselines: all read the same radiomics and geometry, one adds the clinical table.
FAMILY_METHODS = {"clinical": "coxph", "morphometry": "morphometry", "radiomics": "radiomics_coxnet",
                  "lesion graph": "stg"}
ALL = "all"
#: What each family's table holds, for the table's header.
DESCRIPTIONS = {
    "clinical": "the pre-operative clinical table as Cox-PH reads it",
    "morphometry": "the morphometry baseline's segmentation measurements",
    "radiomics": "the radiomics baselines' per-node radiomics and geometry",
    "lesion graph": "STG's graphs summarised per patient, per node type the count and sum / mean / max of each "
                    "node feature, per edge type the count and mean / max of each attribute: a lower bound on what "
                    "a graph network can extract",
    ALL: "every family together",
}
#: The ridge penalties the inner CV chooses from, on standardised features: from almost none to shrinking every
#: coefficient to nothing (where the inputs show no signal, the prediction is the training mean).
ALPHAS = np.logspace(-3, 6, 19)
LEARNERS = {"ridge": RidgeCV(alphas=ALPHAS), "boosting": HistGradientBoostingRegressor(random_state=SEED)}


@dataclass(frozen=True)
class Family:
    """One family's inputs: patients × features (NaN where missing), and whether its methods log the
    right-skewed non-negative columns before standardising."""

    name: str
    table: pd.DataFrame
    log_skewed: bool = False


def scenario_datasets(draw: str | SyntheticCrlm | Sequence[SyntheticCrlm]) -> list[SyntheticCrlm]:
    """Every scenario of the draw a spec or dataset names (its own scenario aside), or the scenarios given;
    only the synthetic cohort knows its true log-hazard, and the families' tables are built once, so
    all must be scenarios of one draw."""
    if isinstance(draw, str):
        draw = datasets.parse_spec(draw)
    chosen = [draw] if isinstance(draw, datasets.Dataset) else list(draw)
    if not all(isinstance(dataset, SyntheticCrlm) for dataset in chosen):
        raise datasets.DatasetError(f"inputs: needs a {datasets.DEFAULT_DATASET} draw (only synthetic cohorts "
                                    "have a true log-hazard)")
    if len({dataset.draw_name for dataset in chosen}) != 1:
        raise datasets.DatasetError("inputs: the scenarios must be of one draw (the same patients and images)")
    return [replace(draw, scenario=s) for s in SCENARIOS] if isinstance(draw, datasets.Dataset) else chosen


def family_methods() -> dict[str, methods.Method]:
    """Each family's method with its defaults, the configuration the main tables run."""
    return {family: methods.get(name)() for family, name in FAMILY_METHODS.items()}


def needed_artefacts(configured: dict[str, methods.Method]) -> list[str]:
    """The inputs the families' methods declare, each once, in order."""
    return list(dict.fromkeys(name for method in configured.values() for name in method.inputs()))


def family_tables(cohort: Cohort, configured: dict[str, methods.Method],
                  context: artefacts.BuildContext) -> list[Family]:
    """The families' tables of every patient of the cohort, read through the methods' own feature code
    (their artefacts built beforehand)."""
    everyone = FoldData(cohort, cohort.patient_ids, cohort.primary_endpoint, datasets.default_feature_sets(cohort)[0],
                        SEED, context)
    clinical, morphometry = configured["clinical"], configured["morphometry"]
    radiomics, stg = configured["radiomics"], configured["lesion graph"]
    graphs = next(name for name in stg.inputs() if name.startswith("graphs_"))
    return [
        Family("clinical", clinical.features(everyone), clinical.log_skewed),
        Family("morphometry", morphometry_features(everyone.artefact("morphometry").loc[everyone.ids]),
               morphometry.log_skewed),
        Family("radiomics", radiomics.features(everyone), radiomics.log_skewed),
        Family("lesion graph", graph_summary(everyone.artefact(graphs)).loc[everyone.ids], stg.params["log_skewed"]),
    ]


def graph_summary(graphs: PatientGraphs) -> pd.DataFrame:
    """The patients' graphs as fixed-length rows: per node type its count and the sum, mean and max of each
    node feature (the present flag included, as the network reads it), per edge type its count and the mean
    and max of each attribute. A patient without nodes (or edges) of a type has count 0 and the rest missing.

    A per-patient summary, not the graph: which node is which and what connects to what are lost, so what
    these rows explain is a lower bound on what a graph network can extract from the same graphs."""
    batch = graphs.batch(graphs.ids)
    names = {"anatomy": graphs.anatomy_features, "ct": [*graphs.ct_features, *GLOBAL_FEATURES],
             "lesion": list(LESION_FEATURES)}
    parts = []
    for ntype in batch.ntypes:
        data = batch.nodes[ntype].data   # the clinical node stores nothing: the model attaches the clinical table
        values = pd.DataFrame(data["x"].numpy(), columns=names[ntype]) if "x" in data else pd.DataFrame()
        if "present" in data:
            values["present"] = data["present"].numpy()[:, 0]
        parts.append(per_patient(ntype, batch.batch_num_nodes(ntype).numpy(), values, ["sum", "mean", "max"]))
    for etype in batch.canonical_etypes:
        data, relation = batch.edges[etype].data, etype[1]
        values = pd.DataFrame(data["a"].numpy(), columns=RELATION_ATTRIBUTES[relation]) if "a" in data else None
        parts.append(per_patient(relation, batch.batch_num_edges(etype).numpy(), values, ["mean", "max"]))
    return pd.concat(parts, axis=1).set_axis(pd.Index(graphs.ids, name="patient_id"))


def per_patient(prefix: str, counts: np.ndarray, values: pd.DataFrame | None, statistics: list[str]) -> pd.DataFrame:
    """`values` (one row per node or edge, patients' rows consecutive, `counts` of each; None without any)
    reduced to one row per patient: the count, then each statistic of each column."""
    summary = pd.DataFrame({f"{prefix}:count": counts.astype(float)})
    if values is None or values.columns.empty:
        return summary
    reduced = values.astype(float).groupby(np.repeat(np.arange(len(counts)), counts)).agg(statistics)
    reduced.columns = [f"{prefix}:{name}:{statistic}" for name, statistic in reduced.columns]
    return summary.join(reduced)


def design(families: Sequence[Family]) -> tuple[np.ndarray, ColumnTransformer]:
    """The families' tables side by side, and the unfitted preprocessing that treats each family's block
    as its methods do."""
    if any(not family.table.index.equals(families[0].table.index) for family in families):
        raise ValueError("the families' tables must list the same patients in the same order")
    blocks, start = [], 0
    for family in families:
        stop = start + family.table.shape[1]
        blocks.append((family.name, tabular_pipeline(family.log_skewed), slice(start, stop)))
        start = stop
    return np.hstack([family.table.to_numpy(dtype=float) for family in families]), ColumnTransformer(blocks)


def scores(families: Sequence[Family], target: pd.Series, learners: dict = LEARNERS, n_jobs: int = 1) -> dict:
    """Out-of-sample R² of each learner on these families' inputs and "explained", the larger; NaN with
    the reason where the target does not vary. The fits use at most `n_jobs` threads: the boosting's OpenMP
    threads would otherwise take every core, and crawl where other processes keep them busy."""
    y = target.loc[families[0].table.index].to_numpy(dtype=float)
    if np.ptp(y) == 0:
        return {**dict.fromkeys([*learners, "explained"], np.nan), "note": NOTHING_TO_EXPLAIN}
    X, preprocessing = design(families)
    folds = KFold(FOLDS, shuffle=True, random_state=SEED)
    # cross_val_predict fits a clone of the whole pipeline, preprocessing included, on each fold's training rows
    with threadpool_limits(n_jobs):
        r2 = {name: r2_score(y, cross_val_predict(make_pipeline(preprocessing, learner), X, y, cv=folds))
              for name, learner in learners.items()}
    return {**r2, "explained": max(r2.values()), "note": ""}


def score_table(families: Sequence[Family], targets: dict[str, pd.Series], learners: dict = LEARNERS,
                n_jobs: int = 1) -> pd.DataFrame:
    """One row per scenario × family (each family alone, then all together); `n_jobs` threads per fit."""
    chosen = [(family.name, [family]) for family in families] + [(ALL, list(families))]
    rows = []
    with bar(total=len(targets) * len(chosen), desc="inputs R²", unit="fit") as fits:
        for scenario, target in targets.items():
            for name, included in chosen:
                fits.set_postfix_str(f"{scenario}: {name}")
                rows.append({"scenario": scenario, "family": name,
                             "features": sum(family.table.shape[1] for family in included),
                             **scores(included, target, learners, n_jobs)})
                fits.update()
    return pd.DataFrame(rows)


def load_families(chosen: Sequence[SyntheticCrlm], data_dir: Path, n_jobs: int = 1
                  ) -> tuple[list[Family], dict[str, pd.Series]]:
    """The families' tables of one draw's patients, and each scenario's target (its true recurrence log-hazard),
    the artefacts built (or read from the cache) on the way."""
    cohorts = {dataset.scenario: datasets.load(dataset, Path(data_dir), n_jobs) for dataset in chosen}
    first = next(iter(cohorts.values()))
    if any(not np.array_equal(cohort.patient_ids, first.patient_ids) for cohort in cohorts.values()):
        raise datasets.DatasetError(f"inputs: the scenarios of {first.cache_name} differ in their patients")
    configured = family_methods()
    context = artefacts.BuildContext(Path(data_dir), n_jobs)
    artefacts.ensure(first, needed_artefacts(configured), context)
    return (family_tables(first, configured, context),
            {scenario: cohort.truth[TARGET] for scenario, cohort in cohorts.items()})


def run(draw: str | SyntheticCrlm | Sequence[SyntheticCrlm] = DATASET, data_dir: Path = Path("data"),
        n_jobs: int = 1, progress: bool = True) -> pd.DataFrame:
    """Score every family on every scenario of the draw; one row per scenario × family. `n_jobs` bounds
    the processes preparing the cohort and the threads of the fits."""
    chosen = scenario_datasets(draw)
    with shown(progress):
        families, targets = load_families(chosen, data_dir, n_jobs)
        table = score_table(families, targets, n_jobs=n_jobs)
    spec = replace(chosen[0], scenario=scenarios.DEFAULT_SCENARIO).spec
    return table.assign(dataset=spec, patients=len(families[0].table))


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario, one column per family: "explained (ridge / boosting)", and the note."""
    def cell(row) -> str:
        if row["note"]:
            return "—"
        return f"{row['explained']:.2f} ({' / '.join(f'{row[name]:.2f}' for name in LEARNERS)})"

    text = table.assign(text=[cell(row) for _, row in table.iterrows()])
    order = [s for s in SCENARIOS if s in set(table["scenario"])]
    families = list(dict.fromkeys(table["family"]))
    out = text.pivot(index="scenario", columns="family", values="text").reindex(index=order, columns=families)
    out["note"] = table.groupby("scenario")["note"].first()
    return out.rename_axis(index="scenario", columns=None)


def markdown(table: pd.DataFrame) -> str:
    features = table.groupby("family", sort=False)["features"].first()
    families = "; ".join(f"{family} = {DESCRIPTIONS[family]} ({count})" if family in DESCRIPTIONS
                         else f"{family} ({count})" for family, count in features.items())
    first = table.iloc[0]
    return "\n".join([
        "# How much of the true recurrence log-hazard each family's inputs explain",
        "",
        f"{first['dataset']}, {first['patients']} patients, every hazard scenario of the draw (the same patients "
        "and images, different outcomes). Target: each patient's true recurrence log-hazard "
        f"(`{TARGET}`). Cells: out-of-sample R² from {FOLDS}-fold CV (shuffled, seed {SEED}) as \"explained "
        f"({' / '.join(LEARNERS)})\": ridge = standardised ridge regression, penalty by inner CV; boosting = "
        "histogram gradient boosting with its defaults; both fitted on the training folds only, after the "
        "preprocessing of the family's methods (median imputation with missing-value indicators, the log of "
        "right-skewed columns where they take it, standardisation); explained = the larger. "
        f"Families (features): {families}.",
        "",
        wide(table).to_markdown(),
        "",
        f"Command: `python -m benchmark inputs -d {first['dataset']}`.",
        "",
    ])


def write_tables(table: pd.DataFrame, output: Path) -> None:
    tables = Path(output) / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(tables / f"{TABLE}.csv", table.to_csv(index=False))
    files.atomic_write_text(tables / f"{TABLE}.md", markdown(table))
