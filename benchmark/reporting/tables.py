"""Paper-style tables of each group, in Markdown, LaTeX (booktabs) and CSV under ``<root>/tables/``.

Each group gives "Main comparison" (every method but ablations, the oracle first on synthetic
data), "Ablations" (beside STG, when any ran), "Full vs lite" (each ``X`` / ``X-lite`` pair) and
"Significance" (differences and p-values against the reference method). The CSV holds the numbers
the formatted tables are made of. Footers name the dataset, endpoint, feature set, folds × repeats,
seed, excluded patients, git commit, the command that computes the cells and the one that wrote the
table, and why any metric was NaN or any method was adjusted.
"""
from __future__ import annotations

import glob
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmark.files import atomic_write_text
from benchmark.harness import tuning
from benchmark.reporting.cohorts import spec_from_name
from benchmark.reporting.groups import LITE_METRICS, MAIN_METRICS, TESTED_METRICS, Group, collect, lite_pairs, with_holm
from benchmark.scoring import stats
from benchmark.scoring.metrics import OWN_METRICS


def format_metric(row: pd.Series, metric: str, decimals: int, mark: bool) -> str:
    """'mean ± sd [low, high]' (CV) or 'value [low, high]' (single split), with * and † marks."""
    mean = row[f"{metric}_mean"]
    if pd.isna(mean):
        return "n/a"
    text = f"{mean:.{decimals}f}"
    if pd.notna(row[f"{metric}_sd"]):
        text += f" ± {row[f'{metric}_sd']:.{decimals}f}"
    low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
    if pd.notna(low):
        text += f" [{low:.{decimals}f}, {high:.{decimals}f}]"
    if row[f"{metric}_n"] < row["n_cells"]:
        text += "*"
    if mark and row.get(f"{metric}_p_holm", np.nan) < stats.SIGNIFICANCE:
        text += stats.MARK
    return text


def main_numbers(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the main table (every method but the ablations), Holm-adjusted together."""
    return with_holm(summary[summary["family"] != "ablation"])


def ablation_numbers(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the ablations table (the ablations beside the STG family), Holm-adjusted together."""
    return with_holm(summary[summary["family"].isin(["ablation", "stg"])])


def method_label(row: pd.Series, reference: str | None) -> str:
    label = row["method"]
    if row["family"] == "reference":
        label += " (true model)"
    if row["method"] == reference:
        label += " (ref.)"
    return label


def metric_table(summary: pd.DataFrame, reference: str | None, metrics=MAIN_METRICS) -> pd.DataFrame:
    """One formatted row per method; a method with its own year read-out gets a second, labelled row
    of the year metrics on that read-out (no marks: it is not tested)."""
    rows = []
    for _, row in summary.iterrows():
        out = {"Method": method_label(row, reference), "n": str(row["n_cells"]), "n scored": scored_text(row)}
        for metric, header, decimals in metrics:
            out[header] = format_metric(row, metric, decimals, mark=row["method"] != reference)
        out["#Params"] = f"{row['n_params_mean']:,.0f}" if pd.notna(row["n_params_mean"]) else "n/a"
        out["Fit s/fold"] = f"{row['fit_s_mean']:.2f}" if pd.notna(row["fit_s_mean"]) else "n/a"
        rows.append(out)
        if pd.notna(row.get("own_year_label")):
            rows.append(own_read_out_row(row, metrics, list(out)))
    return pd.DataFrame(rows)


def scored_text(row: pd.Series) -> str:
    """'scored / with an event': the mean per fold of the test patients behind every figure (the same
    for every method) and of those with an event."""
    scored, events = row.get("n_scored_mean", np.nan), row.get("n_events_mean", np.nan)
    return "n/a" if pd.isna(scored) or pd.isna(events) else f"{scored:.1f} / {events:.1f}"


def own_read_out_row(row: pd.Series, metrics, columns: list[str]) -> dict:
    """The year metrics of a method's own read-out, in the columns of its main row ("—" elsewhere)."""
    own = pd.Series({key.replace("_own_", "_", 1): value for key, value in row.items() if "_own_" in key})
    for key in ("n_cells", "n_scored_mean", "n_events_mean"):
        own[key] = row[key]
    out = dict.fromkeys(columns, "—")
    out.update({"Method": f"{row['method']} (own read-out: {row['own_year_label']})", "n": str(row["n_cells"]),
                "n scored": scored_text(own)})
    for metric, header, decimals in metrics:
        if metric in OWN_METRICS:
            out[header] = format_metric(own, metric, decimals, mark=False)
    return out


def full_vs_lite(group: Group) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Formatted and numeric rows of each full/lite pair: parameters, their ratio, metrics, p (each
    lite model against its full one; Holm over every pair and metric of the table)."""
    tested = [metric for metric, _, _ in LITE_METRICS]
    numeric = []
    summary = group.summary.set_index("method")
    summary = summary.drop(columns=[c for c in summary.columns if c.endswith("_p")])  # those are vs the reference
    for full, lite in lite_pairs(summary.index):
        tests = (stats.paired_tests(group.ok[group.ok["method"].isin([full, lite])], full, tested)
                 if group.protocol != "paper" else pd.DataFrame(columns=["metric", "p"]))
        p = dict(zip(tests["metric"], tests["p"]))
        ratio = summary.at[lite, "n_params_mean"] / summary.at[full, "n_params_mean"]
        for method in (full, lite):
            numeric.append({"method": method, "full": full, "params_ratio": 1.0 if method == full else ratio,
                            **summary.loc[method].to_dict(),
                            **{f"{metric}_p": p.get(metric, np.nan) if method == lite else np.nan
                               for metric in tested}})
    numbers = with_holm(pd.DataFrame(numeric), tested)
    rows = []
    for _, row in numbers.iterrows():
        lite = row["method"] != row["full"]
        out = {"Method": row["method"], "#Params": f"{row['n_params_mean']:,.0f}",
               "Params vs full": (f"{100 * row['params_ratio']:.2f} % (−{100 * (1 - row['params_ratio']):.2f} %)"
                                  if lite else "100 %")}
        for metric, header, decimals in LITE_METRICS:
            out[header] = format_metric(row, metric, decimals, mark=lite)
        rows.append(out)
    return pd.DataFrame(rows), numbers


def significance_table(group: Group, adjusted: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean difference to the reference, its p and Holm-adjusted p per main metric: formatted (one
    row per method, 'difference (p, Holm p)' per metric) and long numbers (CV groups only).

    adjusted: the tables' numbers with ``<metric>_p_holm`` (main table, then ablations).
    """
    tests = stats.paired_tests(group.ok, group.reference, TESTED_METRICS)
    holm = adjusted.drop_duplicates("method").set_index("method").to_dict("index")
    tests["p_holm"] = [holm[method].get(f"{metric}_p_holm", np.nan)
                       for method, metric in zip(tests["method"], tests["metric"])]
    found = {(method, metric): (difference, p, p_holm) for method, metric, difference, p, p_holm
             in tests[["method", "metric", "mean_difference", "p", "p_holm"]].itertuples(index=False)}
    rows = []
    for method in tests["method"].unique():
        row = {"Method": method}
        for metric, header, _ in [entry for entry in MAIN_METRICS if entry[0] in TESTED_METRICS]:
            difference, p, p_holm = found.get((method, metric), (np.nan, np.nan, np.nan))
            row[header] = ("n/a" if pd.isna(p) else f"{difference:+.3f} (p={p:.3f}, Holm {p_holm:.3f})"
                           f"{stats.MARK if p_holm < stats.SIGNIFICANCE else ''}")
        rows.append(row)
    return pd.DataFrame(rows), tests


def spec_text(group: Group) -> str:
    return (group.cohort or {}).get("spec") or spec_from_name(group.dataset) or f"{group.dataset}:PATH"


def run_command(group: Group) -> str:
    """The command that computes this group's cells."""
    parts = ["python -m benchmark run", f"-d {spec_text(group)}", f"--endpoint {group.endpoint}",
             f"--protocol {group.protocol}", f"--feature-set {group.feature_set}"]
    if group.protocol == "cv":
        parts.append(f"--folds {group.folds} --repeats {group.repeats}")
    parts.append(f"--seed {group.seed if group.seed is not None else '?'}")
    parts += [f"-m {m}" for m in sorted(group.cells["registered"].unique())]
    overrides, trials = set(), set()
    for method, params in zip(group.cells["registered"], group.cells["params"]):
        for key, value in (params or {}).items():
            if key == tuning.PARAM_KEY:
                trials.add(value["trials"])
            else:
                overrides.add(f"--set {method}.{key}={value}")
    parts += sorted(overrides) + [f"--tune --trials {n}" for n in sorted(trials)]
    return " ".join(parts)


def excluded_text(group: Group) -> str:
    if group.cohort is None:
        return ("Excluded patients: not recorded (run `python -m benchmark report --data-dir DIR` "
                "where the data is, or `-d SPEC` for tcia).")
    excluded = group.cohort["excluded"]
    if not excluded:
        return "Excluded patients: none."
    return f"Excluded patients ({len(excluded)}): " + "; ".join(f"{p}: {r}" for p, r in excluded.items()) + "."


ORACLE_NOTE = ("oracle (true model): the synthetic cohort's true risk and survival curves. For the C-index, Uno's C "
               "and the AUC it is the ranking ceiling no model can pass beyond chance; for TAA, MAE, yearwise "
               "accuracy, IBS and calibration it is the true curve read out by its median, not a ceiling (a method "
               "can beat it by chance or by reading its curve differently).")


def marks_text(group: Group) -> str:
    """What † means in a CV table, or why there is none."""
    if group.reference is None:
        return ("no paired tests: neither stg nor coxph ran (choose a reference with "
                "`python -m benchmark report --reference METHOD`).")
    return (f"{stats.MARK} = Holm-adjusted p < {stats.SIGNIFICANCE} against {group.reference} (Nadeau–Bengio "
            "corrected resampled t-test, paired over the same folds; Holm–Bonferroni over every method × tested "
            f"metric of the table: {', '.join(TESTED_METRICS)}; the CSV holds the raw p and the adjusted p_holm).")


def footer(group: Group, command: str) -> list[str]:
    cohort = group.cohort or {}
    leak = " (includes post-operative pathology: leakage, not a pre-operative result)" \
        if group.feature_set == "postoperative" else ""
    if group.protocol == "paper":
        first = group.ok.iloc[0] if not group.ok.empty else None
        split = (f"Fixed split (the paper's protocol): {first['n_train']} training / {first['n_test']} test patients"
                 if first is not None else "Fixed split")
        uncertainty = (f"Values on the single test split; [95 % interval]: percentile bootstrap over the test "
                       f"patients ({stats.N_RESAMPLES} resamples, the training fold's censoring and Kaplan–Meier "
                       f"fixed; TAA, MAE and C-index only). "
                       "No paired test on a single split.")
    else:
        split = f"Stratified (event × year) {group.folds}-fold CV × {group.repeats} repeats"
        uncertainty = ("Mean ± sd over folds × repeats; [95 % interval]: Nadeau–Bengio corrected resampled-t "
                       "interval of the mean, mean ± t(J−1) · sqrt((1/J + n_test/n_train) · sd²) over the J folds "
                       "where the metric is defined (the folds overlap, so a plain interval would be too narrow); "
                       f"* = metric undefined on some folds, averaged over the others; {marks_text(group)}")
    lines = [
        f"Dataset {group.dataset}{' (' + cohort['description'] + ')' if cohort.get('description') else ''}, "
        f"endpoint {group.endpoint}, feature set {group.feature_set}{leak}.",
        f"{split}, seed {group.seed if group.seed is not None else 'unknown'}, "
        f"{group.n_patients if group.n_patients is not None else 'unknown'} patients.",
        excluded_text(group),
        uncertainty,
        "n scored: test patients per fold (mean) behind every figure, the same for every method / those with an "
        "observed event. TAA ±1y weights the patients whose ±1-year outcome is known by the inverse probability "
        "of censoring; MAE-PO is SurvivalEVAL's pseudo-observation MAE in years; D-cal p: SurvivalEVAL's "
        "D-calibration p-value (small: miscalibrated), not tested (docs/metrics.md). Every event year is the "
        "median survival time read off the method's curve; a method's own read-out, when it has one, is a "
        "separate labelled row of year metrics, not tested.",
        "#Params: trainable parameters of all learned stages (trees: node count); Fit s/fold: mean fit time.",
    ]
    if (group.summary["family"] == "reference").any():
        lines.append(ORACLE_NOTE)
    shas = sorted(set(group.cells["git_sha"].dropna()))
    lines.append(f"Git commit {', '.join(shas) or 'unknown'}; cells: `{run_command(group)}`; table: `{command}`.")
    return lines + nan_notes(group)


def nan_notes(group: Group) -> list[str]:
    """Per-metric NaN reasons, method notes and errored cells; a note shared by several methods is
    written once with their names (or "every method"), and metrics NaN for the same reason on the
    same folds share one line."""
    everyone = set(group.ok["method"])
    nan_methods: dict[tuple[str, str], set[str]] = defaultdict(set)    # (metric, what happened) -> methods
    note_methods: dict[str, set[str]] = defaultdict(set)
    for method, cells in group.ok.groupby("method"):
        counts = Counter((metric, reason) for reasons in cells["nan_reasons"] for metric, reason in reasons.items())
        for (metric, reason), count in counts.items():
            nan_methods[(metric, f"NaN on {count}/{len(cells)} fold(s): {reason}")].add(method)
        for note, count in Counter(n for cell_notes in cells["notes"] for n in set(cell_notes)).items():
            note_methods[note + ("" if count == len(cells) else f" (on {count}/{len(cells)} folds)")].add(method)
    metrics_by_line: dict[tuple[str, frozenset], list[str]] = defaultdict(list)
    for (metric, happened), methods_ in nan_methods.items():
        metrics_by_line[(happened, frozenset(methods_))].append(metric)

    def who(methods_) -> str:
        return "every method" if set(methods_) == everyone and len(everyone) > 1 else ", ".join(sorted(methods_))

    notes = sorted(f"{who(methods_)}: {', '.join(sorted(metrics))} {happened}"
                   for (happened, methods_), metrics in metrics_by_line.items())
    notes += sorted(f"{who(methods_)}: {note}" for note, methods_ in note_methods.items())
    failed = group.cells[group.cells["status"] != "ok"]
    for (method, error), cells in failed.groupby(["method", "error"], dropna=False):
        notes.append(f"{method}: {len(cells)} cell(s) errored: {error}")
    return notes


@dataclass
class Table:
    name: str               # file suffix: main, ablations, full_vs_lite, significance
    title: str
    frame: pd.DataFrame     # formatted cells (Markdown / LaTeX / HTML)
    numbers: pd.DataFrame   # the numbers behind it (CSV)
    footer: list[str]


def group_tables(group: Group, command: str) -> list[Table]:
    """The tables of one group (those that apply)."""
    summary, notes = group.summary, footer(group, command)
    split = "fixed paper split" if group.protocol == "paper" else "cross-validation"
    main, ablation = main_numbers(summary), ablation_numbers(summary)
    tables = [Table("main", f"Main comparison ({split})", metric_table(main, group.reference), main, notes)]
    if (ablation["family"] == "ablation").any():
        tables.append(Table("ablations", f"Ablations ({split})", metric_table(ablation, group.reference),
                            ablation, notes))
    formatted, numbers = full_vs_lite(group)
    if not formatted.empty:
        lite_notes = [f"Params vs full: lite parameters as a share of the full model's (reduction in brackets); "
                      f"{stats.MARK} on the lite row = Holm-adjusted p < {stats.SIGNIFICANCE} against the full "
                      "model (Holm over every lite model × metric of this table)."] + notes
        tables.append(Table("full_vs_lite", f"Full vs lite ({split})", formatted, numbers, lite_notes))
    if group.reference and group.protocol != "paper" and len(summary) > 1:
        formatted, numbers = significance_table(group, pd.concat([main, ablation]))
        tables.append(Table("significance", f"Difference to {group.reference} (p, paired over folds) ({split})",
                            formatted, numbers, notes))
    return tables


def markdown_text(heading: str, table: Table) -> str:
    """A table in Markdown: its heading in bold, the rows, then its footer as a list."""
    markdown = tabulate(table.frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
    return f"**{heading}**\n\n{markdown}\n\n" + "\n".join(f"- {line}" for line in table.footer) + "\n"


def write_table(root: Path, group: Group, table: Table) -> Path:
    """`table` of `group` (anything with a stem and a title) as Markdown, LaTeX and CSV; the Markdown path."""
    stem = Path(root) / "tables" / f"{group.stem}__{table.name}"
    heading = f"{table.title}: {group.title}"
    atomic_write_text(stem.with_suffix(".md"), markdown_text(heading, table))
    latex = tabulate(table.frame, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True)
    atomic_write_text(stem.with_suffix(".tex"), f"% {heading}\n{latex}\n% " + "\n% ".join(table.footer) + "\n")
    atomic_write_text(stem.with_suffix(".csv"), table.numbers.to_csv(index=False, float_format="%.6g"))
    return stem.with_suffix(".md")


def remove_stale(candidates: Iterable[Path], written: set[Path]) -> None:
    """Delete the `candidates` this pass did not write: files of the groups it wrote (a method no
    longer run leaves no ablations table behind). Callers pass only those groups' files, so the
    committed results of every group the pass did not cover stay whoever wrote them."""
    for path in candidates:
        if path not in written and path.is_file():
            path.unlink()


def group_table_files(root: Path, stem: str) -> list[Path]:
    """The table files of the group `stem` on disk: ``tables/<stem>__<table>.*``."""
    return [path for path in (Path(root) / "tables").glob(f"{glob.escape(stem)}__*")
            if path.stem.rpartition("__")[0] == stem]


def group_plot_files(root: Path, stem: str) -> list[Path]:
    """The plot files of the group `stem` on disk: ``plots/<stem>/*``."""
    return [path for path in (Path(root) / "plots" / stem).glob("*") if path.is_file()]


def default_command() -> str:
    return "python -m benchmark " + " ".join(sys.argv[1:])


def write_tables(root: Path, command: str | None = None, reference: str | None = None,
                 groups: list[Group] | None = None) -> list[Path]:
    """Write every table of every group under `root` (default: every group with cells there) and
    remove the tables of those groups that no longer apply; returns the Markdown paths."""
    groups = collect(root, reference) if groups is None else groups
    command = command or default_command()
    groups = [group for group in groups if not group.summary.empty]   # a group with no finished cell keeps its tables
    written = [write_table(root, group, table) for group in groups for table in group_tables(group, command)]
    all_files = {p.with_suffix(s) for p in written for s in (".md", ".tex", ".csv")}
    remove_stale([path for group in groups for path in group_table_files(root, group.stem)], all_files)
    return written
