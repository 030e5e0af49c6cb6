"""Tables from the cell results: mean ± sd over folds × repeats per method.

One table per (dataset, endpoint, protocol, feature set), in Markdown, LaTeX (booktabs) and CSV,
under ``<root>/tables/``. The paper's columns come first (TAA, MAE, #Params), then C-index,
AUC, IBS and fit time. A metric that was NaN on some folds is averaged over the others and
flagged; one NaN on every fold shows as n/a with its reason in the footer.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from . import results
from .results import atomic_write_text

#: (result column, table header, decimals)
COLUMNS = [
    ("taa_pm1", "TAA ±1y", 3), ("mae_years", "MAE (y)", 3), ("n_params", "#Params", 0),
    ("cindex_harrell", "C-index", 3), ("cindex_uno", "Uno C", 3), ("auc_1y", "AUC 1y", 3),
    ("auc_3y", "AUC 3y", 3), ("auc_5y", "AUC 5y", 3), ("ibs", "IBS", 3),
    ("taa_pm1_events", "TAA ±1y (events)", 3), ("taa_yearwise", "TAA yearwise", 3), ("fit_s", "fit s", 2),
]
FAMILY_ORDER = {"reference": 0, "baseline": 1, "gnn": 2, "stg": 3, "ablation": 4}


def format_cell(values: pd.Series, decimals: int) -> str:
    finite = values.dropna()
    if finite.empty:
        return "n/a"
    if decimals == 0:
        return f"{finite.mean():,.0f}"
    text = f"{finite.mean():.{decimals}f} ± {finite.std(ddof=1) if len(finite) > 1 else 0:.{decimals}f}"
    return text + ("*" if len(finite) < len(values) else "")


def method_families() -> dict[str, str]:
    from .methods import registry
    return {name: getattr(entry.cls, "family", "baseline") for name, entry in registry().items() if entry.cls}


def summarise(group: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of one table (one per method) and its footnotes."""
    families = method_families()
    ok = group[group["status"] == "ok"]
    rows, notes = [], []
    for method, cells in ok.groupby("method"):
        row = {"Method": method, "n": len(cells)}
        for column, header, decimals in COLUMNS:
            row[header] = format_cell(cells[column] if column in cells else pd.Series(dtype=float), decimals)
        rows.append(row)
        reasons = {}
        for reason_map in cells["nan_reasons"]:
            for metric, reason in reason_map.items():
                reasons.setdefault((metric, reason), 0)
                reasons[(metric, reason)] += 1
        for (metric, reason), count in sorted(reasons.items()):
            notes.append(f"{method}: {metric} NaN on {count}/{len(cells)} fold(s): {reason}")
        for note in sorted({n for cell_notes in cells["notes"] for n in cell_notes}):
            notes.append(f"{method}: {note}")
    for (method, _), failed in group[group["status"] != "ok"].groupby(["method", "error"], dropna=False):
        notes.append(f"{method}: {len(failed)} cell(s) errored: {failed['error'].iloc[0]}")
    table = pd.DataFrame(rows)
    if not table.empty:
        table["_order"] = table["Method"].map(lambda m: FAMILY_ORDER.get(families.get(m, "baseline"), 9))
        table = table.sort_values(["_order", "Method"]).drop(columns="_order")
    return table, notes


def write_tables(root: Path, command: str | None = None) -> list[Path]:
    """Write every table found under `root`; returns the Markdown paths."""
    frame = results.read_all(root)
    if frame.empty:
        return []
    command = command or "python -m benchmark " + " ".join(sys.argv[1:])
    written = []
    keys = ["dataset", "endpoint", "protocol", "feature_set"]
    for key, group in frame.groupby(keys):
        table, notes = summarise(group)
        if table.empty:
            continue
        dataset, endpoint, protocol, feature_set = key
        splits_text = (f"{group['fold'].nunique()} folds × {group['repeat'].nunique()} repeats"
                       if protocol == "cv" else "fixed 177/20 split")
        shas = sorted(set(group["git_sha"].dropna()))
        footer = [f"Dataset {dataset}, endpoint {endpoint}, {splits_text}, feature set {feature_set}"
                  f"{' (includes post-operative pathology)' if feature_set == 'postoperative' else ''}.",
                  "Mean ± sd over folds × repeats; * = averaged over the folds where the metric was defined.",
                  f"Git commit {', '.join(shas) or 'unknown'}; command: {command}", *notes]
        stem = Path(root) / "tables" / f"{dataset}__{endpoint}__{protocol}__{feature_set}"
        markdown = tabulate(table, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
        atomic_write_text(stem.with_suffix(".md"), markdown + "\n\n" + "\n".join(f"- {line}" for line in footer) + "\n")
        latex = tabulate(table, headers="keys", tablefmt="latex_booktabs", showindex=False, disable_numparse=True)
        atomic_write_text(stem.with_suffix(".tex"), latex + "\n% " + "\n% ".join(footer) + "\n")
        atomic_write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
        written.append(stem.with_suffix(".md"))
    return written



