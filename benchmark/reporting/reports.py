"""Paper-style tables from the cell results: mean ± sd, 95 % intervals and paired tests.

The cells of one (dataset, endpoint, protocol, feature set) form a `Group`. Each group gives
the tables "Main comparison" (every method but ablations, the oracle first on synthetic data),
"Ablations" (the ablations beside STG, when any ran), "Full vs lite" (each ``X`` / ``X-lite``
pair) and "Significance" (p-values against the reference method), in Markdown, LaTeX (booktabs)
and CSV under ``<root>/tables/``. The CSV holds the numbers (mean, sd, interval, n, p) the
formatted tables are made of. The fixed 177/20 split is its own group, so its own tables.

Footers name the dataset, endpoint, feature set, folds × repeats, seed, excluded patients, git
commit, the command that computes the cells and the one that wrote the table, and why any
metric was NaN. Excluded patients come from ``<root>/cohorts/<dataset>.json``, which
`record_cohorts` writes from the loaded cohort (the cells do not carry them).
"""
from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmark import datasets
from benchmark.harness import results, tuning
from benchmark.harness.results import atomic_write_text
from benchmark.scoring import stats
from benchmark.scoring.metrics import OWN_METRICS

#: (result column, header, decimals) of the formatted tables; metrics get mean ± sd [interval].
MAIN_METRICS = [("taa_pm1", "TAA ±1y", 3), ("taa_pm1_events", "TAA ±1y (events)", 3), ("mae_years", "MAE (y)", 3),
                ("cindex_harrell", "C-index", 3), ("cindex_uno", "Uno C", 3), ("auc_1y", "AUC 1y", 3),
                ("auc_3y", "AUC 3y", 3), ("auc_5y", "AUC 5y", 3), ("ibs", "IBS", 3)]
LITE_METRICS = [("taa_pm1", "TAA ±1y", 3), ("mae_years", "MAE (y)", 3), ("cindex_harrell", "C-index", 3),
                ("ibs", "IBS", 3)]
#: Every per-cell number summarised into the CSV files.
SUMMARY_COLUMNS = ["taa_pm1", "mae_years", "cindex_harrell", "cindex_uno", "auc_1y", "auc_3y", "auc_5y", "ibs",
                   "taa_pm1_events", "mae_years_events", "acc_exact", "acc_exact_events", "taa_yearwise",
                   *(f"{name}_own" for name in OWN_METRICS), "n_evaluable_taa", "n_events",
                   "n_params", "fit_s", "predict_s", "peak_mem_mb"]
#: Metrics tested against the reference method: those the main table shows, so the Holm family of a
#: table is exactly the marks it can show.
TESTED_METRICS = [metric for metric, _, _ in MAIN_METRICS]
FAMILY_ORDER = {"reference": 0, "baseline": 1, "gnn": 2, "stg": 3, "ablation": 4}
LITE_SUFFIX = "-lite"


def method_families() -> dict[str, str]:
    from benchmark.methods import registry
    return {name: getattr(entry.cls, "family", "baseline") for name, entry in registry().items() if entry.cls}


# --------------------------------------------------------------------------- cohort records

def cohort_record_path(root: Path, dataset: str) -> Path:
    return Path(root) / "cohorts" / f"{dataset}.json"


def spec_from_name(name: str) -> str | None:
    """The dataset spec behind a result dataset name, when the name determines it (not tcia)."""
    dataset = datasets.from_name(name)
    return dataset.spec if dataset else None


def record_cohorts(root: Path, data_dir: Path, specs: list[str] = ()) -> list[str]:
    """Write ``<root>/cohorts/<name>.json`` (spec, size, time unit, excluded patients) per dataset.

    Datasets come from `specs` and from the result tree (those whose name gives the spec); a
    cohort whose data is not on disk keeps its previous record. Returns the names recorded.
    """
    frame = results.read_all(root)
    wanted = {datasets.parse_spec(text).name: text for text in specs}
    for name in (frame["dataset"].unique() if not frame.empty else []):
        wanted.setdefault(name, spec_from_name(name))
    recorded = []
    for text in (wanted[name] for name in sorted(wanted)):
        if text is None:
            continue
        spec = datasets.parse_spec(text)
        if not spec.present(Path(data_dir)):
            continue
        cohort = datasets.load(spec, Path(data_dir))
        record = {"name": cohort.name, "spec": text, "description": cohort.description,
                  "n_patients": len(cohort), "units_per_year": cohort.units_per_year,
                  "excluded": dict(sorted(cohort.excluded.items()))}
        atomic_write_text(cohort_record_path(root, cohort.name), json.dumps(record, indent=1) + "\n")
        recorded.append(cohort.name)
    return recorded


def read_cohort_record(root: Path, dataset: str) -> dict | None:
    path = cohort_record_path(root, dataset)
    return json.loads(path.read_text()) if path.is_file() else None


# --------------------------------------------------------------------------- groups

@dataclass
class Group:
    """The cells of one (dataset, endpoint, protocol, feature set) and what the footers need."""

    dataset: str
    endpoint: str
    protocol: str
    feature_set: str
    cells: pd.DataFrame               # one row per cell (results.read_all + n_train, n_test, family)
    cohort: dict | None               # the cohort record, None when never recorded
    seed: int | None                  # run seed, from the stored split file the cells match
    n_patients: int | None
    reference: str | None             # method every other is tested against
    summary: pd.DataFrame = field(default=None)   # one row per method, see `summarise`

    @property
    def stem(self) -> str:
        return f"{self.dataset}__{self.endpoint}__{self.protocol}__{self.feature_set}"

    @property
    def ok(self) -> pd.DataFrame:
        return self.cells[self.cells["status"] == "ok"]

    @property
    def folds(self) -> int:
        return int(self.cells["fold"].max()) + 1

    @property
    def repeats(self) -> int:
        return int(self.cells["repeat"].max()) + 1

    @property
    def units_per_year(self) -> float:
        if self.cohort:
            return float(self.cohort["units_per_year"])
        dataset = datasets.from_name(self.dataset)
        return dataset.units_per_year if dataset else 12.0

    @property
    def title(self) -> str:
        split = "fixed paper split" if self.protocol == "paper" else f"{self.folds}-fold CV × {self.repeats}"
        return f"{self.dataset} · {self.endpoint} · {split} · {self.feature_set}"

    def predictions(self) -> pd.DataFrame:
        """Per-patient predictions of every finished cell, with method, repeat and fold columns."""
        frames = []
        for _, cell in self.ok.iterrows():
            path = Path(cell["path"]).with_name(Path(cell["path"]).stem + ".predictions.csv")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: predictions of finished cell {cell['method']} "
                                        f"r{cell['repeat']} f{cell['fold']} are missing")
            frame = pd.read_csv(path)
            frame.insert(0, "method", cell["method"])
            frame.insert(1, "repeat", cell["repeat"])
            frame.insert(2, "fold", cell["fold"])
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def load_cells(root: Path) -> pd.DataFrame:
    """results.read_all plus the training/test sizes the paired test needs and each method's family."""
    frame = results.read_all(root)
    if frame.empty:
        return frame
    sizes = [json.loads(Path(p).read_text()) for p in frame["path"]]
    frame["n_train"] = [record.get("n_train") for record in sizes]
    frame["n_test"] = [record.get("n_test") for record in sizes]
    families = method_families()
    frame["family"] = frame["method"].map(lambda m: families.get(m, "baseline"))
    frame["registered"] = frame["method"]
    frame["method"] = [variant_name(m, p) for m, p in zip(frame["method"], frame["params"])]
    return frame


def variant_name(method: str, params: dict) -> str:
    """The row name of a method run with `params`: its own name with the defaults, else the
    overrides in brackets, so a tuned or re-configured run is never averaged with the default one."""
    params = dict(params or {})
    spec = params.pop(tuning.PARAM_KEY, None)
    parts = [f"{key}={value}" for key, value in sorted(params.items())]
    if spec:
        parts.insert(0, f"tuned, {spec['trials']} trials")
    return f"{method} [{'; '.join(parts)}]" if parts else method


def match_split(root: Path, dataset: str, endpoint: str, protocol: str,
                cells: pd.DataFrame) -> tuple[int | None, int | None]:
    """(run seed, patients) of the stored split file whose test folds the cells' predictions match."""
    ok = cells[cells["status"] == "ok"]
    if ok.empty:
        return None, None
    first = ok.iloc[0]
    test_ids = set(pd.read_csv(Path(first["path"]).with_name(Path(first["path"]).stem + ".predictions.csv"),
                               usecols=["patient_id"])["patient_id"])
    pattern = "paper_177_20_seed*.json" if protocol == "paper" else "cv_k*_r*_seed*.json"
    for path in sorted((Path(root) / "splits" / dataset / endpoint).glob(pattern)):
        stored = json.loads(path.read_text())
        for split in stored["splits"]:
            if (split["repeat"], split["fold"]) == (first["repeat"], first["fold"]) and set(split["test"]) == test_ids:
                return int(stored["seed"]), len(split["train"]) + len(split["test"])
    return None, None


def choose_reference(methods: set[str], requested: str | None) -> str | None:
    """`requested` when it ran, else STG, else Cox-PH, else none (no paired tests): any other
    method would make the marks depend on which methods happened to run."""
    return next((name for name in (requested, "stg", "coxph") if name in methods), None)


def collect(root: Path, reference: str | None = None) -> list[Group]:
    """Every group of the result tree, summarised; the real CRLM cohort first (datasets.display_order)."""
    frame = load_cells(root)
    if frame.empty:
        return []
    groups = []
    for (dataset, endpoint, protocol, feature_set), cells in frame.groupby(
            ["dataset", "endpoint", "protocol", "feature_set"], sort=True):
        seed, n_patients = match_split(root, dataset, endpoint, protocol, cells)
        record = read_cohort_record(root, dataset)
        group = Group(dataset, endpoint, protocol, feature_set, cells.reset_index(drop=True), record, seed,
                      n_patients or (record or {}).get("n_patients"),
                      choose_reference(set(cells.loc[cells["status"] == "ok", "method"]), reference))
        group.summary = summarise(group)
        groups.append(group)
    return sorted(groups, key=lambda g: datasets.display_order(g.dataset))   # stable: the rest stays sorted


# --------------------------------------------------------------------------- summary

def summarise(group: Group) -> pd.DataFrame:
    """One row per method: for each column of SUMMARY_COLUMNS its mean, sd, 95 % interval and
    number of defined cells, and the p-value against the reference for TESTED_METRICS."""
    ok = group.ok
    rows = []
    predictions = group.predictions() if group.protocol == "paper" and not ok.empty else None
    for method, cells in ok.groupby("method"):
        row = {"method": method, "family": cells["family"].iloc[0], "n_cells": len(cells),
               "n_errored": int(((group.cells["method"] == method) & (group.cells["status"] != "ok")).sum())}
        labels = cells["own_year_label"].dropna() if "own_year_label" in cells else ()
        row["own_year_label"] = labels.iloc[0] if len(labels) else None
        patient_intervals = (patient_intervals_of(predictions[predictions["method"] == method], group.units_per_year)
                             if predictions is not None else {})
        n_train, n_test = cells["n_train"].astype(float).mean(), cells["n_test"].astype(float).mean()
        for column in SUMMARY_COLUMNS:
            finite = (pd.to_numeric(cells[column], errors="coerce").dropna() if column in cells
                      else pd.Series(dtype=float))
            low, high = (patient_intervals.get(column, (np.nan, np.nan)) if predictions is not None
                         else stats.corrected_interval(finite, n_train, n_test))
            row.update({f"{column}_mean": finite.mean() if len(finite) else np.nan,
                        f"{column}_sd": finite.std(ddof=1) if len(finite) > 1 else np.nan,
                        f"{column}_ci_low": low, f"{column}_ci_high": high, f"{column}_n": len(finite)})
        rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    if group.reference and group.protocol != "paper":
        tests = stats.paired_tests(ok, group.reference, TESTED_METRICS)
        for metric in TESTED_METRICS:
            p = tests[tests["metric"] == metric].set_index("method")["p"]
            summary[f"{metric}_p"] = summary["method"].map(p)
    summary["_order"] = summary["family"].map(lambda f: FAMILY_ORDER.get(f, 9))
    return summary.sort_values(["_order", "method"]).drop(columns="_order").reset_index(drop=True)


def patient_intervals_of(predictions: pd.DataFrame, units_per_year: float) -> dict[str, tuple[float, float]]:
    """Patient-bootstrap intervals of one method on the fixed split, of its own read-out too."""
    out = stats.patient_bootstrap(predictions, units_per_year)
    if "own_year" in predictions and predictions["own_year"].notna().all():
        own = stats.patient_bootstrap(predictions.assign(year=predictions["own_year"]), units_per_year)
        out |= {f"{metric}_own": interval for metric, interval in own.items() if metric in OWN_METRICS}
    return out


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


def with_holm(numbers: pd.DataFrame, metrics=TESTED_METRICS) -> pd.DataFrame:
    """`numbers` (one table's rows) with ``<metric>_p_holm``: the p-values of every (method, metric)
    test of the table adjusted together by Holm, the family the table's marks are read from."""
    columns = [f"{metric}_p" for metric in metrics if f"{metric}_p" in numbers]
    if not columns:
        return numbers
    adjusted = stats.holm(numbers[columns].to_numpy(dtype=float).ravel()).reshape(len(numbers), len(columns))
    return numbers.assign(**{f"{column}_holm": values for column, values in zip(columns, adjusted.T)})


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
        out = {"Method": method_label(row, reference), "n": str(row["n_cells"]), "n eval.": evaluable_text(row)}
        for metric, header, decimals in metrics:
            out[header] = format_metric(row, metric, decimals, mark=row["method"] != reference)
        out["#Params"] = f"{row['n_params_mean']:,.0f}" if pd.notna(row["n_params_mean"]) else "n/a"
        out["Fit s/fold"] = f"{row['fit_s_mean']:.2f}" if pd.notna(row["fit_s_mean"]) else "n/a"
        rows.append(out)
        if pd.notna(row.get("own_year_label")):
            rows.append(own_read_out_row(row, metrics, list(out)))
    return pd.DataFrame(rows)


def evaluable_text(row: pd.Series) -> str:
    """'TAA-evaluable / with an event': the mean per fold of the two TAA denominators."""
    taa, events = row.get("n_evaluable_taa_mean", np.nan), row.get("n_events_mean", np.nan)
    return "n/a" if pd.isna(taa) or pd.isna(events) else f"{taa:.1f} / {events:.1f}"


def own_read_out_row(row: pd.Series, metrics, columns: list[str]) -> dict:
    """The year metrics of a method's own read-out, in the columns of its main row ("—" elsewhere)."""
    own = pd.Series({key.replace("_own_", "_", 1): value for key, value in row.items() if "_own_" in key})
    own["n_cells"], own["n_events_mean"] = row["n_cells"], row["n_events_mean"]
    out = dict.fromkeys(columns, "—")
    out.update({"Method": f"{row['method']} (own read-out: {row['own_year_label']})", "n": str(row["n_cells"]),
                "n eval.": evaluable_text(own)})
    for metric, header, decimals in metrics:
        if metric in OWN_METRICS:
            out[header] = format_metric(own, metric, decimals, mark=False)
    return out


def lite_pairs(methods) -> list[tuple[str, str]]:
    """(full, lite) for every method ``X-lite`` whose ``X`` also ran."""
    present = set(methods)
    return [(m[: -len(LITE_SUFFIX)], m) for m in sorted(present)
            if m.endswith(LITE_SUFFIX) and m[: -len(LITE_SUFFIX)] in present]


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
    tests = stats.paired_tests(group.ok, group.reference, [m for m, _, _ in MAIN_METRICS])
    holm = adjusted.drop_duplicates("method").set_index("method")
    tests["p_holm"] = [holm.at[method, f"{metric}_p_holm"] if f"{metric}_p_holm" in holm else np.nan
                       for method, metric in zip(tests["method"], tests["metric"])]
    rows = []
    for method, part in tests.groupby("method", sort=False):
        row = {"Method": method}
        for metric, header, _ in MAIN_METRICS:
            found = part[part["metric"] == metric]
            if found.empty or pd.isna(found["p"].iloc[0]):
                row[header] = "n/a"
                continue
            difference, p, p_holm = found[["mean_difference", "p", "p_holm"]].iloc[0]
            row[header] = (f"{difference:+.3f} (p={p:.3f}, Holm {p_holm:.3f})"
                           f"{stats.MARK if p_holm < stats.SIGNIFICANCE else ''}")
        rows.append(row)
    return pd.DataFrame(rows), tests


# --------------------------------------------------------------------------- footers and files

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
                       f"patients ({stats.N_RESAMPLES} resamples; TAA, MAE and C-index only). "
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
        "n eval.: patients per fold (mean) on whom TAA ±1y is evaluable / with an observed event, the "
        "denominators of TAA ±1y and TAA ±1y (events). Every event year is the median survival time read off "
        "the method's curve; a method's own read-out, when it has one, is a separate labelled row of year "
        "metrics, not tested.",
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


def write_table(root: Path, group: Group, table: Table) -> Path:
    stem = Path(root) / "tables" / f"{group.stem}__{table.name}"
    heading = f"{table.title}: {group.title}"
    markdown = tabulate(table.frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
    atomic_write_text(stem.with_suffix(".md"), f"**{heading}**\n\n{markdown}\n\n"
                      + "\n".join(f"- {line}" for line in table.footer) + "\n")
    latex = tabulate(table.frame, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True)
    atomic_write_text(stem.with_suffix(".tex"), f"% {heading}\n{latex}\n% " + "\n% ".join(table.footer) + "\n")
    atomic_write_text(stem.with_suffix(".csv"), table.numbers.to_csv(index=False, float_format="%.6g"))
    return stem.with_suffix(".md")


def remove_stale(directory: Path, written: set[Path], suffixes: tuple[str, ...]) -> None:
    """Delete report files in `directory` that this pass did not write (a removed method's table)."""
    for path in Path(directory).rglob("*"):
        if path.suffix in suffixes and path.is_file() and path not in written:
            path.unlink()


def default_command() -> str:
    return "python -m benchmark " + " ".join(sys.argv[1:])


def write_tables(root: Path, command: str | None = None, reference: str | None = None,
                 groups: list[Group] | None = None) -> list[Path]:
    """Write every table of every group under `root`; returns the Markdown paths."""
    groups = collect(root, reference) if groups is None else groups
    command = command or default_command()
    written = []
    for group in groups:
        if group.summary.empty:
            continue
        for table in group_tables(group, command):
            written.append(write_table(root, group, table))
    all_files = {p.with_suffix(s) for p in written for s in (".md", ".tex", ".csv")}
    remove_stale(Path(root) / "tables", all_files, (".md", ".tex", ".csv"))
    return written
