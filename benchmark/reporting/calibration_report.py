"""The calibration checks (`benchmark.reporting.calibration`) as a report table and figures.

Writes ``<root>/tables/calibration.{csv,md}`` and ``<root>/plots/calibration/`` (marginals,
Kaplan–Meier overlays and anatomy; PNG and SVG).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from benchmark.data import clinical
from benchmark.files import atomic_write_text
from benchmark.reporting import calibration
from benchmark.reporting.plots import plt, save
from benchmark.reporting.tables import Table

TITLE = "Calibration: real vs synthetic"
PLOT_NAMES = ("marginals", "kaplan_meier", "anatomy")
REAL_COLOUR, SYNTHETIC_COLOUR = "black", "tab:orange"


def number_text(value: float) -> str:
    if pd.isna(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def statistic_text(value: float, measure: str) -> str:
    if pd.isna(value):
        return "n/a"
    shown = f"{100 * value:.0f} %" if measure == "relative" and np.isfinite(value) else f"{value:.3f}"
    return f"{calibration.MEASURES[measure]} {shown}"


def tolerance_text(limit: float, measure: str) -> str:
    if measure == "relative":
        return f"≤ {100 * limit:.0f} %"
    return f"≤ {limit:g}" + (f" (factor {2 ** limit:g})" if measure == "log2_ratio" else "")


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown/HTML cells: kind heading on each group's first row, ✓/✗ (n/a where unavailable)."""
    first = table["kind"] != table["kind"].shift()
    missing = [f"{100 * r:.1f} % / {100 * s:.1f} %" if pd.notna(r) else ""
               for r, s in zip(table["real_missing"], table["synthetic_missing"])]
    return pd.DataFrame({
        "Kind": [calibration.KINDS[kind] if new else "" for kind, new in zip(table["kind"], first)],
        "Quantity": table["quantity"],
        "Real": table["real"].map(number_text),
        "Synthetic": table["synthetic"].map(number_text),
        "Missing (real / synth.)": missing,
        "Statistic": [statistic_text(v, m) for v, m in zip(table["statistic"], table["measure"])],
        "Tolerance": [tolerance_text(t, m) for t, m in zip(table["tolerance"], table["measure"])],
        "Within": ["n/a" if pd.isna(w) else "✓" if w else "✗" for w in table["within"]],
        "Note": table["note"],
    })


def footer(table: pd.DataFrame) -> list[str]:
    size, seed = calibration.DRAW_SIZE, calibration.DRAW_SEED
    return [
        f"Synthetic: the default draw `synthetic.generate({size}, seed={seed})` (default scenario), the "
        "clinical table and latent anatomy the default `crlm-synthetic` cohort holds; real: the shipped MSKCC "
        f"table (n={size}) and, for the anatomy, the volumes of the 50 expert segmentations joined to it on "
        "the patient id. Marginals show the mean of binary columns and the median of the others, with the "
        "fraction missing; KS is the two-sample Kolmogorov–Smirnov statistic on the non-missing values. C-indices "
        "are Harrell's with the column's value as the risk, patients lacking it left out; KM medians are the "
        "first time the Kaplan–Meier curve is at or below 0.5. The Cox rows read the coxph row of the 5x5 CV "
        "pre-operative main tables of the same results root. Statistics are absolute values: Δ = synthetic − "
        "real, Δ/real relative, log2 ratio of synthetic to real. Tolerances are about two standard errors of each "
        "statistic at these sizes, stricter for the KM median of DFS and the anatomy's medians and sd "
        f"(TOLERANCES in benchmark/reporting/calibration.py). {calibration.within_text(table)}.",
    ]


def report_table(table: pd.DataFrame) -> Table:
    """The calibration table as a report table (Markdown here, HTML in report.html)."""
    return Table("calibration", "Checks: real vs the synthetic default draw", formatted(table), table, footer(table))


def histogram(axis, values: pd.Series, bins: np.ndarray, colour: str, label: str) -> None:
    """Share of patients per bin (not density, which log-spaced bins would distort), as an outline."""
    axis.hist(values, bins=bins, weights=np.full(len(values), 1 / len(values)), histtype="step", color=colour,
              linewidth=1.3, label=label)


def marginals_figure(real: pd.DataFrame, synthetic_table: pd.DataFrame, table: pd.DataFrame,
                     directory: Path) -> Path:
    """Histograms (bars for columns of few values) of the main columns, the KS in each title."""
    ks = table.set_index("check")["statistic"]
    figure, axes = plt.subplots(2, 4, figsize=(13, 5.6))
    for axis, column in zip(axes.flat, calibration.MAIN_COLUMNS):
        pair = (("real", real[column].dropna(), REAL_COLOUR),
                ("synthetic", synthetic_table[column].dropna(), SYNTHETIC_COLOUR))
        levels = np.union1d(*(values.unique() for _, values, _ in pair))
        if len(levels) <= 6:
            for offset, (label, values, colour) in zip((-0.2, 0.2), pair):
                shares = values.value_counts(normalize=True).reindex(levels, fill_value=0)
                axis.bar(np.arange(len(levels)) + offset, shares, width=0.4, color=colour, label=label)
            axis.set_xticks(range(len(levels)), [f"{level:g}" for level in levels])
        else:
            logarithmic = column == "carcinoembryonic_antigen"
            low, high = min(v.min() for _, v, _ in pair), max(v.max() for _, v, _ in pair)
            bins = np.geomspace(max(low, 0.1), high, 25) if logarithmic else np.linspace(low, high, 25)
            for label, values, colour in pair:
                histogram(axis, values, bins, colour, label)
            if logarithmic:
                axis.set_xscale("log")
        axis.set_ylabel("share")
        axis.set_title(f"{column}\nKS = {ks[f'marginal/{column}']:.3f}", fontsize=9)
    axes.flat[0].legend(fontsize=7, frameon=False)
    for axis in axes.flat[len(calibration.MAIN_COLUMNS):]:
        axis.set_visible(False)
    figure.suptitle(f"Clinical marginals: real (n={len(real)}) vs synthetic default draw "
                    f"(n={len(synthetic_table)})", fontsize=10)
    return save(figure, directory, "marginals")


def kaplan_meier_figure(real: pd.DataFrame, synthetic_table: pd.DataFrame, directory: Path) -> Path:
    figure, axes = plt.subplots(1, len(clinical.ENDPOINTS), figsize=(11, 3.4), sharey=True)
    for axis, endpoint in zip(axes, clinical.ENDPOINTS):
        for label, table, colour in (("real", real, REAL_COLOUR), ("synthetic", synthetic_table, SYNTHETIC_COLOUR)):
            times, survival = calibration.kaplan_meier(table, endpoint)
            axis.step(np.r_[0, times], np.r_[1, survival], where="post", color=colour,
                      label=f"{label} (median {number_text(calibration.km_median(table, endpoint))} mo)")
        axis.axhline(0.5, color="grey", linestyle=":", linewidth=0.8)
        axis.set(title=endpoint, xlabel="months", ylim=(0, 1.02))
        axis.legend(fontsize=7, frameon=False, loc="upper right")
    axes[0].set_ylabel("event-free")
    figure.suptitle("Kaplan–Meier: real vs synthetic default draw", fontsize=10)
    return save(figure, directory, "kaplan_meier")


def anatomy_figure(real: pd.DataFrame, drawn: pd.DataFrame, directory: Path) -> Path:
    """Tumour volume (log scale), tumour count and liver volume: real (segmented) vs synthetic."""
    pair = ((f"real (n={len(real)})", real, REAL_COLOUR), (f"synthetic (n={len(drawn)})", drawn, SYNTHETIC_COLOUR))
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    volumes = pd.concat([real["total_tumour_volume_ml"], drawn["total_tumour_volume_ml"]])
    bins = np.geomspace(volumes.min(), volumes.max(), 25)
    counts = np.arange(1, int(max(real["n_tumours"].max(), drawn["n_tumours"].max())) + 1)
    livers = pd.concat([real["liver_volume_ml"], drawn["liver_volume_ml"]])
    for offset, (label, frame, colour) in zip((-0.2, 0.2), pair):
        histogram(axes[0], frame["total_tumour_volume_ml"], bins, colour, label)
        shares = frame["n_tumours"].value_counts(normalize=True).reindex(counts, fill_value=0)
        axes[1].bar(counts + offset, shares, width=0.4, color=colour, label=label)
        histogram(axes[2], frame["liver_volume_ml"], np.linspace(livers.min(), livers.max(), 25), colour, label)
    axes[0].set(xscale="log", xlabel="total tumour volume (ml, log scale)", ylabel="share")
    axes[1].set(xlabel="tumour count", ylabel="share", xticks=counts[counts % 2 == 1])
    axes[2].set(xlabel="liver volume (ml)", ylabel="share")
    axes[0].legend(fontsize=7, frameon=False)
    figure.suptitle("Anatomy: real segmentations vs synthetic default draw", fontsize=10)
    return save(figure, directory, "anatomy")


def write_table(output: Path, table: pd.DataFrame) -> list[Path]:
    """Write ``tables/calibration.{csv,md}`` under the results root `output`; returns their paths."""
    stem = Path(output) / "tables" / "calibration"
    atomic_write_text(stem.with_suffix(".csv"), table.to_csv(index=False, float_format="%.6g"))
    report = report_table(table)
    markdown = tabulate(report.frame, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)
    atomic_write_text(stem.with_suffix(".md"), f"**{TITLE}**\n\n{markdown}\n\n{report.footer[0]}\n")
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]


def write_calibration(output: Path, table: pd.DataFrame | None = None) -> list[Path]:
    """Write the table (`write_table`) and the figures under the results root `output`; returns the CSV,
    the Markdown and the figures' PNG paths (each with its SVG beside it).

    table: the default inputs' `calibration.calibration_table`, when already computed.
    """
    table = calibration.calibration_table(output) if table is None else table
    real, draw, volumes = calibration.default_inputs()
    directory = Path(output) / "plots" / "calibration"
    anatomy = calibration.real_anatomy(volumes, real), calibration.synthetic_anatomy(draw.patients, draw.clinical)
    return [*write_table(output, table), marginals_figure(real, draw.clinical, table, directory),
            kaplan_meier_figure(real, draw.clinical, directory), anatomy_figure(*anatomy, directory)]
