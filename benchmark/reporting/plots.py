"""Figures of one report group (PNG and SVG under ``<root>/plots/<group>/``).

- km_risk_groups: Kaplan–Meier curves of predicted low vs high risk per method, with the
  log-rank p. Each patient appears once (repeat 0 of the CV, or the fixed split's test set),
  labelled high risk when its out-of-fold risk is above the median of its own test fold, so
  risk scales that differ between folds do not matter.
- calibration: mean predicted vs Kaplan–Meier observed survival at 1, 3 and 5 years, per
  quintile of predicted survival (same out-of-fold patients).
- taa_per_year: TAA ±1y of the patients with an event per event-year bin, pooled over every fold and
  repeat (not drawn when the follow-up is too short for the year metrics, see
  benchmark.scoring.metrics.MIN_FOLLOW_UP_YEARS).
- forest_cindex: Harrell's C per method with the table's 95 % interval.
- params_vs_accuracy: trainable parameters against C-index and TAA.
Matplotlib runs headless (Agg); SVG ids are salted with a constant so reruns give equal files. PNGs are
stored with a 256-colour palette: a third of the size of true colour, which the report embeds, at no loss a
reader sees on line plots.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from sksurv.compare import compare_survival  # noqa: E402
from sksurv.nonparametric import kaplan_meier_estimator  # noqa: E402

from benchmark.data.cohort import N_YEARS, structured, year_bin  # noqa: E402
from benchmark.scoring.metrics import MIN_FOLLOW_UP_YEARS  # noqa: E402
from benchmark.scoring.year_metrics import within  # noqa: E402

# constrained layout fits titles, legends and labels into the figure, so saving needs no second, "tight" draw
plt.rcParams.update({"svg.hashsalt": "stg-bench", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.constrained_layout.use": True})
HORIZONS_YEARS = (1, 3, 5)
N_CALIBRATION_GROUPS = 5
PLOT_NAMES = ("km_risk_groups", "calibration", "taa_per_year", "forest_cindex", "params_vs_accuracy")
MARKERS = "osD^vPX<>"


def colours(n: int) -> list:
    palette = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [palette(i % palette.N) for i in range(n)]


def markers(n: int) -> list[str]:
    """A marker per method, so that methods sharing a colour in a long list still differ."""
    return [MARKERS[i // 10 % len(MARKERS)] for i in range(n)]


def save(figure, directory: Path, name: str) -> Path:
    """Write `name`.png (palette colours) and `name`.svg; returns the PNG path."""
    directory.mkdir(parents=True, exist_ok=True)
    png = directory / f"{name}.png"
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(png, optimize=True)
    figure.savefig(png.with_suffix(".svg"), metadata={"Date": None, "Creator": None})
    plt.close(figure)
    return png


def out_of_fold(predictions: pd.DataFrame) -> pd.DataFrame:
    """Repeat 0 only (each patient once per method), with a high-risk flag split per test fold."""
    first = predictions[predictions["repeat"] == predictions["repeat"].min()].copy()
    median = first.groupby(["method", "fold"])["risk"].transform("median")
    first["high_risk"] = first["risk"] > median
    return first


def km_risk_groups(oof: pd.DataFrame, methods: list[str], units_per_year: float, directory: Path) -> Path:
    columns = min(4, len(methods))
    rows = int(np.ceil(len(methods) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.7 * rows), squeeze=False,
                                sharex=True, sharey=True)
    for axis, method in zip(axes.flat, methods):
        frame = oof[oof["method"] == method]
        for high, colour, label in ((False, "tab:blue", "low risk"), (True, "tab:red", "high risk")):
            part = frame[frame["high_risk"] == high]
            if part.empty:
                continue
            times, survival = kaplan_meier_estimator(part["event"].astype(bool).to_numpy(),
                                                     part["time"].to_numpy() / units_per_year)
            axis.step(np.r_[0, times], np.r_[1, survival], where="post", color=colour,
                      label=f"{label} (n={len(part)})")
        if frame["high_risk"].nunique() == 2:
            _, p = compare_survival(structured(frame["time"], frame["event"]), frame["high_risk"].to_numpy())
            title = f"{method}\nlog-rank p = {p:.2g}"
        else:
            title = f"{method}\none risk group only"
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7, frameon=False, loc="upper right")
        axis.set_ylim(0, 1.02)
    for axis in axes.flat[len(methods):]:
        axis.set_visible(False)
    for column in range(columns):   # the lowest drawn panel of each column carries its x axis
        lowest = axes[(len(methods) - 1 - column) // columns, column]
        lowest.xaxis.set_tick_params(labelbottom=True)
        lowest.set_xlabel("years")
    for axis in axes[:, 0]:
        axis.set_ylabel("event-free")
    figure.suptitle("Kaplan–Meier by predicted risk (median split of out-of-fold risk within each test fold)",
                    fontsize=10)
    return save(figure, directory, "km_risk_groups")


def observed_survival(frame: pd.DataFrame, horizon: float) -> float:
    """Kaplan–Meier survival of `frame` at `horizon` (NaN past its last follow-up time)."""
    if frame.empty or horizon > frame["time"].max():
        return float("nan")
    times, survival = kaplan_meier_estimator(frame["event"].astype(bool).to_numpy(), frame["time"].to_numpy())
    before = times <= horizon
    return float(survival[before][-1]) if before.any() else 1.0


def calibration(oof: pd.DataFrame, methods: list[str], units_per_year: float, directory: Path) -> Path:
    figure, axes = plt.subplots(1, len(HORIZONS_YEARS), figsize=(4 * len(HORIZONS_YEARS), 3.8), squeeze=False)
    for axis, years in zip(axes[0], HORIZONS_YEARS):
        for colour, method in zip(colours(len(methods)), methods):
            frame = oof[oof["method"] == method]
            column = f"surv_{years}y"
            ranks = frame[column].rank(method="first")
            groups = pd.qcut(ranks, min(N_CALIBRATION_GROUPS, len(frame)), labels=False)
            points = [(part[column].mean(), observed_survival(part, years * units_per_year))
                      for _, part in frame.groupby(groups)]
            points = np.array([p for p in points if np.isfinite(p[1])])
            if len(points):
                axis.plot(points[:, 0], points[:, 1], "o-", color=colour, markersize=3, linewidth=1, label=method)
        axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        axis.set(xlim=(0, 1), ylim=(0, 1), xlabel=f"predicted survival at {years} y",
                 ylabel="observed (Kaplan–Meier)", title=f"{years} year{'s' if years > 1 else ''}")
    labelled = {label: handle for axis in axes[0] for handle, label in zip(*axis.get_legend_handles_labels())}
    if labelled:
        figure.legend(labelled.values(), labelled.keys(), fontsize=7, frameon=False, loc="outside right center")
    figure.suptitle("Calibration by quintile of predicted survival (out-of-fold)", fontsize=10)
    return save(figure, directory, "calibration")


def taa_by_year(predictions: pd.DataFrame, units_per_year: float) -> pd.DataFrame:
    """TAA ±1y of the patients with an event (and their count) per method and event year bin, pooled over
    all cells: a censored patient has no true year to be grouped by."""
    rows = []
    for method, frame in predictions.groupby("method"):
        frame = frame[frame["event"].astype(bool)]
        years = frame["time"].to_numpy() / units_per_year
        hits = within(frame["year"].to_numpy(), years, 1)
        bins = year_bin(years)
        for k in range(N_YEARS):
            inside = bins == k
            if inside.any():
                rows.append({"method": method, "year": k, "taa_pm1_events": float(hits[inside].mean()),
                             "n": int(inside.sum())})
    return pd.DataFrame(rows)


def taa_per_year(predictions: pd.DataFrame, methods: list[str], units_per_year: float, directory: Path) -> Path:
    """The per-year TAA; empty, saying why, when the follow-up is too short for year metrics."""
    longest = predictions["time"].max() / units_per_year
    figure, axis = plt.subplots(figsize=(7, 3.8))
    title = f"Time-adjacent accuracy not shown: follow-up {longest:.1f} y < {MIN_FOLLOW_UP_YEARS:g} y"
    if longest >= MIN_FOLLOW_UP_YEARS:
        table = taa_by_year(predictions, units_per_year)
        for colour, method in zip(colours(len(methods)), methods):
            part = table[(table["method"] == method) & (table["n"] > 0)]
            axis.plot(part["year"], part["taa_pm1_events"], "o-", color=colour, markersize=3, linewidth=1, label=method)
        figure.legend(fontsize=7, frameon=False, loc="outside right center")
        title = "Time-adjacent accuracy per event year (patients with an event, all folds)"
    axis.set(xlabel="event year bin", ylabel="TAA ±1y (events)", ylim=(-0.02, 1.02),
             xticks=range(N_YEARS), title=title)
    return save(figure, directory, "taa_per_year")


def forest_cindex(summary: pd.DataFrame, reference: str | None, directory: Path) -> Path:
    shown = summary[summary["cindex_harrell_mean"].notna()].iloc[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.35 * len(shown) + 1.4))
    positions = np.arange(len(shown))
    low = shown["cindex_harrell_mean"] - shown["cindex_harrell_ci_low"]
    high = shown["cindex_harrell_ci_high"] - shown["cindex_harrell_mean"]
    axis.errorbar(shown["cindex_harrell_mean"], positions, xerr=np.vstack([low.fillna(0), high.fillna(0)]),
                  fmt="s", color="black", ecolor="grey", capsize=3, markersize=4)
    axis.axvline(0.5, color="grey", linestyle=":", linewidth=0.8)
    if reference in set(shown["method"]):
        axis.axvline(float(shown.loc[shown["method"] == reference, "cindex_harrell_mean"].iloc[0]),
                     color="tab:red", linestyle="--", linewidth=0.8, label=f"{reference} (reference)")
        figure.legend(fontsize=7, frameon=False, loc="outside lower center")   # below the axes: covers no interval
    axis.set_yticks(positions, shown["method"])
    axis.set(xlabel="Harrell's C-index (mean, 95 % interval)", title="C-index by method")
    return save(figure, directory, "forest_cindex")


def params_vs_accuracy(summary: pd.DataFrame, directory: Path) -> Path:
    """One colour and marker per method, named in a legend beside the panels: labels at the points pile
    up where methods have similar sizes and scores."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    styles = list(zip(colours(len(summary)), markers(len(summary))))
    for axis, metric, label in ((axes[0], "cindex_harrell", "C-index"), (axes[1], "taa_pm1_ipcw", "TAA ±1y")):
        for (colour, marker), (_, row) in zip(styles, summary.iterrows()):
            if pd.notna(row[f"{metric}_mean"]):
                axis.scatter(row["n_params_mean"], row[f"{metric}_mean"], color=colour, marker=marker, s=24,
                             label=row["method"])
        axis.set_xscale("symlog", linthresh=10)
        axis.set(xlabel="trainable parameters (symlog)", ylabel=label)
    labelled = {label: handle for axis in axes for handle, label in zip(*axis.get_legend_handles_labels())}
    figure.legend(labelled.values(), labelled.keys(), fontsize=7, frameon=False, loc="outside right center",
                  ncols=1 if len(labelled) <= 16 else 2)
    figure.suptitle("Parameters vs accuracy (mean over folds)", fontsize=10)
    return save(figure, directory, "params_vs_accuracy")


def write_plots(root: Path, group) -> list[Path]:
    """Every figure of one report group (benchmark.reporting.groups.Group); returns the PNG paths."""
    if group.summary.empty:
        return []
    directory = Path(root) / "plots" / group.stem
    methods = list(group.summary["method"])
    predictions = group.predictions()
    oof = out_of_fold(predictions)
    units = group.units_per_year
    return [km_risk_groups(oof, methods, units, directory), calibration(oof, methods, units, directory),
            taa_per_year(predictions, methods, units, directory),
            forest_cindex(group.summary, group.reference, directory), params_vs_accuracy(group.summary, directory)]
