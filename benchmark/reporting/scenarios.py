"""The synthetic scenario grid reported as a simulation study (Morris, White & Crowther, Stat Med 2019).

Every finished CV group of a synthetic cohort is one draw of a study: one hazard scenario at one cohort
size, endpoint and feature set. Per study and method, over the draws: the mean of the per-draw means of
each metric, their sd, the Monte Carlo standard error sd/sqrt(draws), and the C-index gap to the oracle
of the same draw. The null scenario adds how often the main tables' significance marks fire where
nothing predicts, to be read against the nominal 5 %. Written beside the group tables, under
``<root>/tables/`` (one table per study and ``scenarios__summary``), and ``<root>/plots/scenarios/``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import datasets
from benchmark.data import scenarios as scenario_names
from benchmark.data import synthetic
from benchmark.data.cohort import Cohort
from benchmark.datasets.synthetic import SyntheticCrlm
from benchmark.files import atomic_write_text
from benchmark.reporting import image_bars, plots
from benchmark.reporting.groups import LITE_METRICS, TESTED_METRICS, Group, in_family_order
from benchmark.reporting.tables import Table, main_numbers, markdown_text, method_label, write_table
from benchmark.scoring import stats

#: What each scenario adds to the calibrated clinical hazard (benchmark.data.synthetic draws the outcomes).
MECHANISMS = {
    "clinical": "no image term: the calibrated clinical hazard alone",
    "burden": "tumour burden: total tumour volume and tumour count",
    "spatial": "per-lesion relations: each tumour's proximity to the portal and hepatic veins, lesions in both "
               "lobes, a small future liver remnant",
    "texture": "the heterogeneity of the enhancement inside the tumours and in the liver parenchyma, rendered "
               "into the CT",
    "distribution": "the worst lesion (its size times its closeness to a vessel) and how far apart the lesions lie",
    "mixed": "burden, spatial, texture and distribution together; the default cohort",
    "mixed-half": "the default's image term at half its strength",
    "mixed-double": "the default's image term at twice its strength",
    "null": "no image term and no clinical one: outcomes independent of every input",
}
#: Summarised over draws: the compact metric set of the full-vs-lite tables.
METRICS = LITE_METRICS
#: The tested metrics every method scores 0.5 on in expectation when nothing predicts: under `null` a
#: mark on them is false. TAA, MAE and IBS still reward predicting the marginal survival well.
RANKING_METRICS = [metric for metric in TESTED_METRICS if metric.startswith(("cindex", "auc"))]
GAP = "oracle_gap"
ORACLE_FAMILY = "reference"
SUMMARY_STEM = "scenarios__summary"


@dataclass(frozen=True)
class Study:
    """The draws of one scenario at one cohort size, image size, endpoint and feature set."""

    scenario: str
    n_patients: int
    image_size: str
    endpoint: str
    feature_set: str

    @property
    def setting(self) -> tuple[int, str, str, str]:
        """Everything but the scenario: the studies of one setting share a summary column set and a plot."""
        return self.n_patients, self.image_size, self.endpoint, self.feature_set

    @property
    def size_text(self) -> str:
        default = self.image_size == SyntheticCrlm.image_size
        return f"n{self.n_patients}" + ("" if default else f"-{self.image_size}")

    @property
    def stem(self) -> str:
        return f"scenario-{self.scenario}-{self.size_text}__{self.endpoint}__cv__{self.feature_set}"

    @property
    def title(self) -> str:
        return (f"{datasets.DEFAULT_DATASET}, {self.scenario} scenario · n={self.n_patients} "
                f"({self.image_size} images) · {self.endpoint} · cv · {self.feature_set}")


@dataclass
class ScenarioReport:
    summary: Path           # the Markdown summary
    tables: list[Table]     # the summary's tables, then one per study (for the HTML report)
    plots: list[Path]       # PNG paths (an SVG beside each)


def find_studies(groups: Iterable[Group]) -> dict[Study, dict[int, Group]]:
    """The finished CV groups of synthetic cohorts by study, each study's draws by cohort seed, in
    reading order (setting, then the generator's scenario order)."""
    found: dict[Study, dict[int, Group]] = defaultdict(dict)
    for group in groups:
        dataset = datasets.from_name(group.dataset)
        if isinstance(dataset, SyntheticCrlm) and group.protocol == "cv" and not group.summary.empty:
            study = Study(dataset.scenario, dataset.n_patients, dataset.image_size, group.endpoint, group.feature_set)
            found[study][dataset.seed] = group
    order = sorted(found, key=lambda s: (s.setting, synthetic.SCENARIOS.index(s.scenario)))
    return {study: dict(sorted(found[study].items())) for study in order}


def detail_groups(groups: Iterable[Group]) -> list[Group]:
    """The grid's draws but the default cohort (which is reported as itself): the report shows the grid by
    its summary and links each draw's tables and figures."""
    studies = find_studies(groups)
    if not is_grid(studies):
        return []
    default = datasets.DEFAULT_DATASET
    return [group for draws in studies.values() for group in draws.values() if group.dataset != default]


def mechanism(scenario: str) -> str:
    return MECHANISMS.get(scenario, "see benchmark.data.synthetic")


def is_grid(studies: dict[Study, dict[int, Group]]) -> bool:
    """True when a synthetic cohort other than the default one finished: the default run alone is one
    draw of one scenario, not a simulation study."""
    return any(group.dataset != datasets.DEFAULT_DATASET for draws in studies.values() for group in draws.values())


def per_draw(draws: dict[int, Group]) -> pd.DataFrame:
    """One row per (draw, method): the method's mean of each metric over the draw's folds × repeats
    (its main-table number), and its C-index minus the oracle's of the same draw."""
    rows = []
    for seed, group in draws.items():
        summary = group.summary
        oracle = summary.loc[summary["family"] == ORACLE_FAMILY, "cindex_harrell_mean"]
        ceiling = oracle.iloc[0] if len(oracle) else np.nan
        for _, row in summary.iterrows():
            rows.append({"draw": seed, "method": row["method"], "family": row["family"],
                         **{metric: row[f"{metric}_mean"] for metric, _, _ in METRICS},
                         GAP: row["cindex_harrell_mean"] - ceiling})
    return pd.DataFrame(rows)


def over_draws(values: pd.DataFrame) -> pd.DataFrame:
    """Per method, for each metric and the oracle gap: mean, sd and MCSE over the draws where it is
    defined, and that number of draws."""
    rows = []
    for (method, family), part in values.groupby(["method", "family"]):
        row = {"method": method, "family": family, "draws": len(part)}
        for column in [metric for metric, _, _ in METRICS] + [GAP]:
            finite = part[column].dropna()
            n = len(finite)
            sd = finite.std(ddof=1) if n > 1 else np.nan
            row |= {f"{column}_mean": finite.mean() if n else np.nan, f"{column}_sd": sd,
                    f"{column}_mcse": sd / np.sqrt(n) if n > 1 else np.nan, f"{column}_n": n}
        rows.append(row)
    return in_family_order(pd.DataFrame(rows))


def spread_text(row: pd.Series, column: str, decimals: int = 3) -> str:
    """'mean ± sd (MCSE x)' over draws; the mean alone from a single draw."""
    mean, sd, mcse = row.get(f"{column}_mean", np.nan), row.get(f"{column}_sd"), row.get(f"{column}_mcse")
    if pd.isna(mean):
        return "n/a"
    if pd.isna(sd):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f} (MCSE {mcse:.{decimals}f})"


def gap_text(row: pd.Series, decimals: int = 3) -> str:
    """The oracle gap as 'mean (MCSE x)', signed."""
    mean, mcse = row.get(f"{GAP}_mean", np.nan), row.get(f"{GAP}_mcse")
    if pd.isna(mean):
        return "n/a"
    return f"{mean:+.{decimals}f}" + ("" if pd.isna(mcse) else f" (MCSE {mcse:.{decimals}f})")


def null_marks(draws: Iterable[Group], metrics: list[str] = TESTED_METRICS) -> dict[str, int]:
    """Over the main tables of draws where nothing predicts, for `metrics`: the (method, metric) tests,
    those with raw and with Holm-adjusted p < 0.05 (Holm over the whole table, as its marks are), and
    the draws showing any such mark (the family-wise error)."""
    counts = dict.fromkeys(("draws", "tests", "raw_marks", "holm_marks", "draws_marked"), 0)
    for group in draws:
        numbers = main_numbers(group.summary)
        columns = [f"{metric}_p" for metric in metrics if f"{metric}_p" in numbers]
        p = numbers[columns].to_numpy(dtype=float)
        adjusted = numbers[[f"{column}_holm" for column in columns]].to_numpy(dtype=float)
        marks = int((adjusted < stats.SIGNIFICANCE).sum())
        counts["draws"] += 1
        counts["tests"] += int(np.isfinite(p).sum())
        counts["raw_marks"] += int((p < stats.SIGNIFICANCE).sum())
        counts["holm_marks"] += marks
        counts["draws_marked"] += int(marks > 0)
    return counts


def share_text(count: int, total: int) -> str:
    return f"{count} / {total} ({100 * count / total:.1f} %)" if total else "n/a (no tests)"


def draws_text(draws: dict[int, Group]) -> str:
    seeds = list(draws)
    listed = f"{seeds[0]}–{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2 \
        else ", ".join(map(str, seeds))
    return f"{len(seeds)} draw{'s' if len(seeds) > 1 else ''} (cohort seed{'s' if len(seeds) > 1 else ''} {listed})"


def cv_text(draws: Iterable[Group]) -> str:
    """The draws' CV design, e.g. '5-fold CV × 5 repeats, run seed 0'."""
    designs = sorted({(g.folds, g.repeats, "unknown" if g.seed is None else str(g.seed)) for g in draws})
    return "; ".join(f"{k}-fold CV × {r} repeats, run seed {s}" for k, r, s in designs)


MEASURES_NOTE = ("Each draw gives one number per method and metric, its mean over the draw's folds × repeats (the "
                 "draw's main table); here mean ± sd over the draws, MCSE = sd/√draws the Monte Carlo standard error "
                 "of that mean; one draw has no sd. Draws: those where the method finished.")
GAP_NOTE = ("Oracle gap: the method's C-index minus the oracle's in the same draw, mean over the draws (MCSE); the "
            "oracle's C-index is the ranking ceiling, so the gap is ≤ 0 up to chance.")


def grid_command(studies: Iterable[Study]) -> str:
    """The `run` command that computes these studies' cells. A table of the grid names what it summarises, not
    the command that happened to write it (a run of one size rewrites the summary of every size)."""
    studies = list(studies)
    present = {study.scenario for study in studies}
    chosen = ["all"] if present == set(scenario_names.SCENARIOS) else [
        name for name in scenario_names.SCENARIOS if name in present]
    endpoints = sorted({study.endpoint for study in studies} - {Cohort.primary_endpoint})
    return " ".join(["python -m benchmark run --all", *(f"--scenario {name}" for name in chosen),
                     *(f"--grid-n {n}" for n in sorted({study.n_patients for study in studies}, reverse=True)),
                     *(f"--endpoint {endpoint}" for endpoint in endpoints)])


def study_table(study: Study, draws: dict[int, Group], numbers: pd.DataFrame) -> Table:
    """One study's methods over its draws; the numbers keep every mean, sd, MCSE and count."""
    rows = []
    for _, row in numbers.iterrows():
        out = {"Method": method_label(row, None), "Draws": str(row["draws"])}
        out |= {header: spread_text(row, metric, decimals) for metric, header, decimals in METRICS}
        out["Oracle gap (C)"] = gap_text(row)
        rows.append(out)
    footer = [f"Synthetic CRLM cohort, {study.scenario} scenario ({mechanism(study.scenario)}); "
              f"{study.n_patients} patients per draw, {draws_text(draws)}; {cv_text(draws.values())}.",
              MEASURES_NOTE, GAP_NOTE,
              "Per-draw tables: " + ", ".join(f"{group.stem}__main" for group in draws.values()) + ".",
              f"Table: `{grid_command([study])}`."]
    return Table("simulation", f"Over {draws_text(draws)}", pd.DataFrame(rows), numbers, footer)


def study_columns(study: Study, rows: int) -> pd.DataFrame:
    """The study's key as the leading CSV columns of `rows` rows (a reader of `null` should not take it
    for a missing value: pandas.read_csv(..., keep_default_na=False))."""
    key = {"scenario": study.scenario, "n_patients": study.n_patients, "image_size": study.image_size,
           "endpoint": study.endpoint, "feature_set": study.feature_set}
    return pd.DataFrame([key] * rows)


def setting_label(study: Study, several: bool) -> str:
    """'n=N', with the endpoint, feature set and image size when several settings ran."""
    return f"n={study.n_patients}" + (f" {study.endpoint} {study.feature_set} {study.image_size}" if several else "")


def column_labels(studies: Iterable[Study]) -> dict[Study, str]:
    """'scenario n=N' per study (see `setting_label`)."""
    studies = list(studies)
    several = len({study.setting for study in studies}) > 1
    return {study: f"{study.scenario} {setting_label(study, several)}" for study in studies}


def summary_tables(studies: dict[Study, dict[int, Group]], numbers: dict[Study, pd.DataFrame]) -> list[Table]:
    """Methods × studies for the C-index and the oracle gap, then the null scenario's mark rates."""
    labels = column_labels(studies)
    every = in_family_order(pd.concat(numbers.values())[["method", "family"]].drop_duplicates("method"))
    cindex, gap = [], []
    for _, method in every.iterrows():
        found = {study: frame.set_index("method").loc[method["method"]] for study, frame in numbers.items()
                 if method["method"] in set(frame["method"])}
        name = method_label(method, None)
        cindex.append({"Method": name, **{labels[s]: spread_text(found[s], "cindex_harrell") if s in found else "—"
                                          for s in studies}})
        gap.append({"Method": name, **{labels[s]: gap_text(found[s]) if s in found else "—" for s in studies}})
    long = pd.concat([pd.concat([study_columns(s, len(frame)), frame], axis=1) for s, frame in numbers.items()],
                     ignore_index=True)
    key = "Columns: scenario and patients per draw; cells: Harrell's C-index mean ± sd over the draws (MCSE)."
    tables = [Table("cindex", "C-index by scenario (mean ± sd over draws, MCSE)", pd.DataFrame(cindex), long,
                    [key, MEASURES_NOTE]),
              Table("oracle_gap", "Oracle gap by scenario (C − oracle C, mean over draws, MCSE)", pd.DataFrame(gap),
                    long, [GAP_NOTE])]
    null = null_table(studies, labels)
    if null is not None:
        tables.append(null)
    settings = by_setting(studies)
    tables += [t for t in (image_bars.bars_table(settings), image_bars.graph_table(settings)) if t is not None]
    return tables


def by_setting(studies: dict[Study, dict[int, Group]]) -> dict[str, dict[str, dict[int, Group]]]:
    """Setting label (`setting_label`) -> scenario -> draws."""
    several = len({study.setting for study in studies}) > 1
    found: dict[str, dict[str, dict[int, Group]]] = defaultdict(dict)
    for study, draws in studies.items():
        found[setting_label(study, several)][study.scenario] = draws
    return dict(found)


def null_table(studies: dict[Study, dict[int, Group]], labels: dict[Study, str]) -> Table | None:
    """The null scenario's significance marks against the nominal 5 %, per null study: over every
    tested metric, and over the ranking metrics alone, where every mark is false."""
    kinds = {"every tested metric": TESTED_METRICS, "ranking metrics": RANKING_METRICS}
    counts = {(study, kind): null_marks(draws.values(), metrics) for study, draws in studies.items()
              if study.scenario == "null" for kind, metrics in kinds.items()}
    if not counts:
        return None
    rows = [{"Study": labels[study], "Metrics": kind, "Draws": str(c["draws"]), "Tests": str(c["tests"]),
             f"Raw p < {stats.SIGNIFICANCE}": share_text(c["raw_marks"], c["tests"]),
             f"Holm p < {stats.SIGNIFICANCE} ({stats.MARK})": share_text(c["holm_marks"], c["tests"]),
             "Draws with a mark": share_text(c["draws_marked"], c["draws"])} for (study, kind), c in counts.items()]
    numbers = pd.concat([pd.concat([study_columns(s, 1), pd.DataFrame([{"metrics": kind, **c}])], axis=1)
                         for (s, kind), c in counts.items()], ignore_index=True)
    footer = [f"Tests: the (method, metric) p-values of each draw's main table against its reference; every "
              f"tested metric: {', '.join(TESTED_METRICS)}; ranking metrics: {', '.join(RANKING_METRICS)}.",
              "Outcomes are independent of every input, so every method's expected C-index, Uno C and AUC is 0.5 "
              "and a mark on them is false; TAA, MAE and IBS still reward predicting the marginal survival well, "
              "so a difference there can be real.",
              f"Raw p < {stats.SIGNIFICANCE}: false on about {100 * stats.SIGNIFICANCE:g} % of the ranking tests. "
              f"Holm (the table's {stats.MARK}, adjusted over the whole table) keeps the chance of any false mark in "
              f"a table at most {100 * stats.SIGNIFICANCE:g} %: read 'Draws with a mark' of the ranking metrics "
              "against that, with its Monte Carlo error over so few draws."]
    return Table("null_marks", "Significance marks under the null scenario", pd.DataFrame(rows), numbers, footer)


def run_text(studies: dict[Study, dict[int, Group]]) -> str:
    """The draws run per cohort size, e.g. 'n = 197 (small images), 3 draws (cohort seeds 0–2) of each
    scenario'; per scenario where their draws differ."""
    parts = []
    for n, size in sorted({(s.n_patients, s.image_size) for s in studies}):
        runs = {s.scenario: draws_text(d) for s, d in studies.items() if (s.n_patients, s.image_size) == (n, size)}
        listed = (f"{next(iter(runs.values()))} of each scenario" if len(set(runs.values())) == 1
                  else ", ".join(f"{scenario}: {text}" for scenario, text in runs.items()))
        parts.append(f"n = {n} ({size} images), {listed}")
    return "; ".join(parts)


def preamble(studies: dict[Study, dict[int, Group]]) -> str:
    """The study's aims, data-generating mechanisms, estimands, methods and performance measures (ADEMP)."""
    all_draws = [group for draws in studies.values() for group in draws.values()]
    methods = in_family_order(pd.concat([g.summary[["method", "family"]] for g in all_draws]).drop_duplicates("method"))
    mechanisms = "\n".join(f"  - `{scenario}`: {mechanism(scenario)}"
                           + ("" if any(s.scenario == scenario for s in studies) else " — not in this run")
                           for scenario in synthetic.SCENARIOS)
    endpoints = ", ".join(sorted({f"{s.endpoint} with the {s.feature_set} features" for s in studies}))
    return "\n".join([
        "# Scenario grid: a simulation study", "",
        "Reported in the structure of Morris, White & Crowther, \"Using simulation studies to evaluate statistical "
        "methods\", Stat Med 2019;38:2074–2102 (doi:10.1002/sim.8086).", "",
        "- **Aims.** How close each method comes to the true risk ranking when the hazard is built from different "
        "inputs, and whether the tables' significance marks keep their nominal level when nothing predicts.",
        "- **Data-generating mechanisms.** The synthetic CRLM cohort (`benchmark.data.synthetic`): an illness-death "
        "hazard fitted on the real clinical table, to which a scenario adds an image term (recurrence and death "
        "after recurrence). A draw is one cohort seed: its patients, anatomy, images and clinical covariates, shared "
        "by its scenarios, whose outcomes also share their random numbers:", mechanisms,
        f"  Run: {run_text(studies)}.",
        f"- **Estimands.** Each method's Harrell C-index for {endpoints}, estimated in a draw by its mean over "
        f"{cv_text(all_draws)}; the oracle's (the true risk's) C-index is the ceiling. TAA ±1y, MAE and IBS are "
        "summarised the same way.",
        f"- **Methods.** Every method of the run: {', '.join(methods['method'])}.",
        "- **Performance measures.** Over the draws: mean, sd, Monte Carlo standard error (MCSE = sd/√draws) of "
        "each estimate; the oracle gap (C − oracle C per draw: mean, MCSE); each image method's paired C-index "
        f"difference to {', '.join(image_bars.COMPARATORS)} (mean, MCSE, {100 * stats.LEVEL:g} % t interval over the "
        "draws, its verdict read off the interval); under `null`, the share of tests "
        f"with raw and with Holm-adjusted p < {stats.SIGNIFICANCE} and of draws with any mark.", ""])


def cindex_plot(root: Path, setting: list[Study], numbers: dict[Study, pd.DataFrame]) -> Path:
    """C-index per method per scenario of one setting: mean over draws with MCSE bars, the oracle marked."""
    first, scenarios = setting[0], [study.scenario for study in setting]
    frame = pd.concat([numbers[study].assign(position=index) for index, study in enumerate(setting)])
    methods = list(in_family_order(frame.drop_duplicates("method"))["method"])
    figure, axis = plots.plt.subplots(figsize=(1.6 * len(setting) + 3, 4))
    width = 0.8 / len(methods)
    for index, (colour, method) in enumerate(zip(plots.colours(len(methods)), methods)):
        rows = frame[frame["method"] == method]
        oracle = (rows["family"] == ORACLE_FAMILY).all()
        axis.errorbar(rows["position"] + (index - (len(methods) - 1) / 2) * width, rows["cindex_harrell_mean"],
                      yerr=rows["cindex_harrell_mcse"].fillna(0), capsize=2, linewidth=1,
                      fmt="D" if oracle else "o", markersize=6 if oracle else 4, color="black" if oracle else colour,
                      label=f"{method} (ceiling)" if oracle else method)
    axis.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
    axis.set_xticks(range(len(scenarios)), scenarios)
    axis.set(xlabel="scenario", ylabel="Harrell's C-index (mean over draws ± MCSE)",
             title=f"C-index by scenario: n={first.n_patients}, {first.endpoint}, {first.feature_set}")
    figure.legend(fontsize=7, frameon=False, loc="outside right center")
    return plots.save(figure, Path(root) / "plots" / "scenarios",
                      f"cindex__{first.size_text}__{first.endpoint}__{first.feature_set}")


def write_report(root: Path, groups: Iterable[Group]) -> ScenarioReport | None:
    """Every study's table, the summary (Markdown with its preamble, CSV of the numbers and of the null
    marks) and one plot per setting; None when the finished cells hold no scenario grid."""
    studies = find_studies(groups)
    if not is_grid(studies):
        return None
    numbers = {study: over_draws(per_draw(draws)) for study, draws in studies.items()}
    per_study = [study_table(study, draws, numbers[study]) for study, draws in studies.items()]
    for study, table in zip(studies, per_study):
        write_table(root, study, table)
    summary = summary_tables(studies, numbers)
    path = Path(root) / "tables" / f"{SUMMARY_STEM}.md"
    closing = (f"\nOne table per study: `scenario-*__simulation.md` beside this file; "
               f"table: `{grid_command(studies)}`.\n")
    atomic_write_text(path, preamble(studies) + "\n" + "\n".join(markdown_text(t.title, t) for t in summary) + closing)
    atomic_write_text(path.with_suffix(".csv"), summary[0].numbers.to_csv(index=False, float_format="%.6g"))
    for table in summary[2:]:   # the null marks, the image comparisons, the graph ablation, each with its own numbers
        atomic_write_text(path.with_name(f"scenarios__{table.name}.csv"), table.numbers.to_csv(index=False))
    settings: dict[tuple, list[Study]] = defaultdict(list)
    for study in studies:
        settings[study.setting].append(study)
    pngs = [cindex_plot(root, setting, numbers) for setting in settings.values()]
    return ScenarioReport(path, summary + per_study, pngs)
