"""Finished cells grouped and summarised: one `Group` per (dataset, endpoint, protocol, feature set).

A group's summary has one row per method: for every metric its mean, sd, 95 % interval (the
Nadeau–Bengio corrected resampled-t interval over CV cells; a bootstrap over test patients on the
fixed split) and number of defined cells, and the paired p-value against the reference method.
The Holm adjustment of a table's marks (`with_holm`) is applied to the rows that table shows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import datasets
from benchmark.harness import results, tuning
from benchmark.reporting.cohorts import read_cohort_record
from benchmark.scoring import stats
from benchmark.scoring.metrics import OWN_METRICS

#: (result column, header, decimals) of the formatted tables; metrics get mean ± sd [interval].
MAIN_METRICS = [("taa_pm1_ipcw", "TAA ±1y", 3), ("mae_po", "MAE-PO (y)", 3), ("cindex_harrell", "C-index", 3),
                ("cindex_uno", "Uno C", 3), ("auc_1y", "AUC 1y", 3), ("auc_3y", "AUC 3y", 3), ("auc_5y", "AUC 5y", 3),
                ("ibs", "IBS", 3), ("dcal_p", "D-cal p", 3)]
LITE_METRICS = [("taa_pm1_ipcw", "TAA ±1y", 3), ("mae_po", "MAE-PO (y)", 3), ("cindex_harrell", "C-index", 3),
                ("ibs", "IBS", 3)]
#: Every per-cell number summarised into the CSV files: the main ones, then the labelled extras.
SUMMARY_COLUMNS = ["taa_pm1_ipcw", "mae_po", "cindex_harrell", "cindex_uno", "auc_1y", "auc_3y", "auc_5y", "ibs",
                   "dcal_p", "onecal_1y_p", "onecal_3y_p", "mae_hinge", "mae_uncensored", "taa_pm1_events",
                   "acc_exact_ipcw", "acc_exact_events", "taa_yearwise", *(f"{name}_own" for name in OWN_METRICS),
                   "n_scored", "n_events", "n_params", "fit_s", "predict_s", "peak_mem_mb"]
#: Metrics tested against the reference method: those the main table shows, but for the calibration
#: p-value (a test's p-value, not a score to compare), so the Holm family of a table is exactly the
#: marks it can show.
TESTED_METRICS = [metric for metric, _, _ in MAIN_METRICS if metric != "dcal_p"]
FAMILY_ORDER = {"reference": 0, "baseline": 1, "gnn": 2, "stg": 3, "ablation": 4}
LITE_SUFFIX = "-lite"


def method_families() -> dict[str, str]:
    from benchmark.methods import registry
    return {name: getattr(entry.cls, "family", "baseline") for name, entry in registry().items() if entry.cls}


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
    def key(self) -> tuple[str, str, str, str]:
        """(dataset, endpoint, protocol, feature set), as `runner.Plan.groups` names a planned group."""
        return (self.dataset, self.endpoint, self.protocol, self.feature_set)

    @property
    def stem(self) -> str:
        return "__".join(self.key)

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
    """results.read_all plus each method's family and its row name."""
    frame = results.read_all(root)
    if frame.empty:
        return frame
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
    """Every group of the result tree, summarised, in reading order (`reading_order`)."""
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
    return sorted(groups, key=reading_order)


#: Within a dataset: overall survival first, cross-validation before the single split, the default
#: (pre-operative) feature set before the one with pathology.
ENDPOINT_ORDER = ("os", "dfs", "liver_dfs")
PROTOCOL_ORDER = ("cv", "paper")
FEATURE_SET_ORDER = ("preoperative", "postoperative")


def reading_order(group: Group) -> tuple:
    """Where a group stands in reports: the real CRLM cohort first (datasets.display_order), then as above."""
    def position(value: str, order: tuple[str, ...]) -> int:
        return order.index(value) if value in order else len(order)
    return (datasets.display_order(group.dataset), group.dataset, position(group.endpoint, ENDPOINT_ORDER),
            position(group.protocol, PROTOCOL_ORDER), position(group.feature_set, FEATURE_SET_ORDER))


def summarise(group: Group) -> pd.DataFrame:
    """One row per method: for each column of SUMMARY_COLUMNS its mean, sd, 95 % interval and
    number of defined cells, and the p-value against the reference for TESTED_METRICS."""
    ok = group.ok
    rows = []
    predictions = group.predictions() if group.protocol == "paper" and not ok.empty else None
    numbers = {column: pd.to_numeric(ok[column], errors="coerce").to_numpy(dtype=float)
               for column in SUMMARY_COLUMNS if column in ok}                  # converted once per group
    for method, positions in sorted(ok.groupby("method").indices.items()):
        cells = ok.iloc[positions]
        row = {"method": method, "family": cells["family"].iloc[0], "n_cells": len(cells),
               "n_errored": int(((group.cells["method"] == method) & (group.cells["status"] != "ok")).sum())}
        labels = cells["own_year_label"].dropna() if "own_year_label" in cells else ()
        row["own_year_label"] = labels.iloc[0] if len(labels) else None
        patient_intervals = (patient_intervals_of(predictions[predictions["method"] == method], group.units_per_year)
                             if predictions is not None else {})
        n_train, n_test = cells["n_train"].astype(float).mean(), cells["n_test"].astype(float).mean()
        for column in SUMMARY_COLUMNS:
            values = numbers[column][positions] if column in numbers else np.empty(0)
            finite = values[~np.isnan(values)]
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
    return in_family_order(summary)


def in_family_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of methods (`method`, `family` columns) in table order: the oracle first, then by family and name."""
    order = frame["family"].map(lambda f: FAMILY_ORDER.get(f, 9))
    return frame.assign(_order=order).sort_values(["_order", "method"]).drop(columns="_order").reset_index(drop=True)


def patient_intervals_of(predictions: pd.DataFrame, units_per_year: float) -> dict[str, tuple[float, float]]:
    """Patient-bootstrap intervals of one method on the fixed split, of its own read-out too."""
    out = stats.patient_bootstrap(predictions, units_per_year)
    if "own_year" in predictions and predictions["own_year"].notna().all():
        own = stats.patient_bootstrap(predictions, units_per_year, prefix="own_")
        out |= {f"{metric}_own": interval for metric, interval in own.items() if metric in OWN_METRICS}
    return out


def with_holm(numbers: pd.DataFrame, metrics=TESTED_METRICS) -> pd.DataFrame:
    """`numbers` (one table's rows) with ``<metric>_p_holm``: the p-values of every (method, metric)
    test of the table adjusted together by Holm, the family the table's marks are read from."""
    columns = [f"{metric}_p" for metric in metrics if f"{metric}_p" in numbers]
    if not columns:
        return numbers
    adjusted = stats.holm(numbers[columns].to_numpy(dtype=float).ravel()).reshape(len(numbers), len(columns))
    return numbers.assign(**{f"{column}_holm": values for column, values in zip(columns, adjusted.T)})


def lite_pairs(methods) -> list[tuple[str, str]]:
    """(full, lite) for every method ``X-lite`` whose ``X`` also ran."""
    present = set(methods)
    return [(m[: -len(LITE_SUFFIX)], m) for m in sorted(present)
            if m.endswith(LITE_SUFFIX) and m[: -len(LITE_SUFFIX)] in present]
