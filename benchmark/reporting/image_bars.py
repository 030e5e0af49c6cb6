"""The image methods on the scenario grid, compared as a simulation study reports a comparison (Morris,
White & Crowther, Stat Med 2019): with three draws per setting, a mean difference is only as good as its
Monte Carlo error, so each verdict reads off the interval over the draws, not off the mean alone. And
what the graph adds: STG against the same network without message passing and against morphometry.

Per setting (scenario × cohort size, endpoint, feature set), every image method against
  - `morphometry`, ridge Cox on the segmentation's measurements: does it learn more than the measurements?
  - the oracle (the true risk): how far below the ceiling, ≤ 0 in expectation by construction;
  - clinical Cox-PH: what the images add to, or cost against, the clinical table.
Each draw gives the paired difference of the two methods' mean C-index over that draw's folds; over the
draws, its mean, MCSE = sd/√draws and the t interval with draws − 1 degrees of freedom.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark import methods
from benchmark.reporting.groups import Group, in_family_order, method_families
from benchmark.reporting.tables import Table
from benchmark.scoring import stats

MORPHOMETRY = "morphometry"
CLINICAL = "coxph"
ORACLE = "oracle"
#: What every image method is compared with, in table order.
COMPARATORS = (MORPHOMETRY, ORACLE, CLINICAL)
METRIC = "cindex_harrell"
ONE_DRAW = "one draw: no Monte Carlo interval"
VERDICTS = ("higher", "lower", "not distinguishable")


def is_image_method(name: str) -> bool:
    """A method of the main table that reads the images; STG's ablations are compared in `graph_table`."""
    try:
        method = methods.get(name)
    except methods.MethodError:   # a method no longer registered: judged by nothing
        return False
    return "images" in method.requires and method.family != "ablation"


def draw_means(draws: dict[int, Group]) -> pd.DataFrame:
    """(draw × method) mean C-index over the draw's folds."""
    return pd.DataFrame({seed: group.ok.groupby("method")[METRIC].mean() for seed, group in draws.items()}).T


@dataclass(frozen=True)
class Difference:
    """A paired difference over draws: its mean, MCSE and 95 % t interval (NaN from fewer than two draws)."""

    mean: float
    mcse: float
    low: float
    high: float
    draws: int

    @property
    def verdict(self) -> str:
        """Where the interval lies against 0; from one draw, why there is no verdict."""
        if self.draws < 2:
            return ONE_DRAW if self.draws else "no draw"
        return "higher" if self.low > 0 else "lower" if self.high < 0 else "not distinguishable"


def difference(means: pd.DataFrame, method: str, other: str) -> Difference:
    """`method` − `other` over the draws where both finished (see `Difference`)."""
    if method not in means or other not in means:
        return Difference(np.nan, np.nan, np.nan, np.nan, 0)
    values = (means[method] - means[other]).dropna()
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    if n < 2:
        return Difference(mean, np.nan, np.nan, np.nan, n)
    mcse = float(values.std(ddof=1) / np.sqrt(n))
    half = stats.t_quantile((1 + stats.LEVEL) / 2, n - 1) * mcse
    return Difference(mean, mcse, mean - half, mean + half, n)


def image_methods(names) -> list[str]:
    """The image methods among `names`, in table order."""
    families = method_families()
    found = pd.DataFrame({"method": [name for name in names if is_image_method(name)]})
    return list(in_family_order(found.assign(family=found["method"].map(families)))["method"])


def rows_for(setting: str, studies: dict[str, dict[int, Group]]) -> list[dict]:
    """The comparisons of one setting; `studies` maps scenario -> its draws."""
    rows = []
    for scenario, draws in studies.items():
        means = draw_means(draws)
        for method in image_methods(means.columns):
            for other in (c for c in COMPARATORS if c != method):
                found = difference(means, method, other)
                if found.draws:
                    rows.append({"setting": f"{scenario} {setting}", "scenario": scenario, "method": method,
                                 "comparison": other, "mean_difference": found.mean, "mcse": found.mcse,
                                 "ci_low": found.low, "ci_high": found.high, "draws": found.draws,
                                 "verdict": found.verdict})
    return rows


def number_text(value: float, signed: bool = True) -> str:
    return "n/a" if pd.isna(value) else f"{value:+.3f}" if signed else f"{value:.3f}"


def counts_text(numbers: pd.DataFrame) -> str:
    """Per comparator, how many rows got each verdict."""
    parts = []
    for other in COMPARATORS:
        verdicts = numbers.loc[numbers["comparison"] == other, "verdict"].value_counts()
        if verdicts.sum():
            parts.append(f"against {other}: " + ", ".join(f"{verdicts.get(word, 0)} {word}" for word in VERDICTS))
    return "; ".join(parts) + "."


def bars_table(by_setting: dict[str, dict[str, dict[int, Group]]]) -> Table | None:
    """Every comparison of every setting (label -> scenario -> draws); None when no image method finished
    beside a comparator."""
    rows = [row for setting, studies in by_setting.items() for row in rows_for(setting, studies)]
    if not rows:
        return None
    numbers = pd.DataFrame(rows)
    level = f"{100 * stats.LEVEL:g} %"
    shown = pd.DataFrame({
        "Setting": numbers["setting"], "Method": numbers["method"],
        "Comparison": [f"− {other}" for other in numbers["comparison"]],
        "Mean difference": [number_text(v) for v in numbers["mean_difference"]],
        "MCSE": [number_text(v, signed=False) for v in numbers["mcse"]],
        f"{level} interval": ["n/a" if pd.isna(low) else f"[{low:+.3f}, {high:+.3f}]"
                              for low, high in zip(numbers["ci_low"], numbers["ci_high"])],
        "Draws": numbers["draws"].astype(str), "Verdict": numbers["verdict"]})
    footer = ["Difference: Harrell's C-index of the method minus that of the comparison, each the draw's mean over "
              "its folds × repeats, paired within a draw; mean over the draws where both finished, MCSE = sd/√draws, "
              f"{level} interval mean ± t({(1 + stats.LEVEL) / 2:g}, draws − 1) · MCSE.",
              "Verdict: higher or lower when the interval lies above or below 0, else not distinguishable (the draws "
              "cannot tell the two apart, which is not the same as equal). The oracle ranks by the true risk, so "
              f"the difference to it is ≤ 0 in expectation; with one draw there is no interval ({ONE_DRAW}).",
              "Verdicts " + counts_text(numbers)]
    return Table("image_bars", f"Image methods against {', '.join(COMPARATORS)} (difference over draws)", shown,
                 numbers, footer)


#: (method, compared with) pairs of the graph ablation: message passing, lesion nodes, the measurement bar.
GRAPH_PAIRS = (("stg", "stg-no-message-passing"), ("stg", "stg-union-tumour"), ("stg", MORPHOMETRY),
               ("stg-union-tumour", MORPHOMETRY))


def graph_table(by_setting: dict[str, dict[str, dict[int, Group]]]) -> Table | None:
    """Per setting and scenario, each GRAPH_PAIRS difference of mean C-index over draws (MCSE)."""
    rows = []
    for setting, studies in by_setting.items():
        for scenario, draws in studies.items():
            means = draw_means(draws)
            for method, other in GRAPH_PAIRS:
                found = difference(means, method, other)
                if found.draws:
                    rows.append({"setting": setting, "scenario": scenario, "comparison": f"{method} − {other}",
                                 "value": found.mean, "mcse": found.mcse, "draws": found.draws})
    if not rows:
        return None
    numbers = pd.DataFrame(rows)
    text = numbers.assign(text=[f"{v:+.3f}" + ("" if pd.isna(m) else f" ({m:.3f})")
                                for v, m in zip(numbers["value"], numbers["mcse"])])
    frame = (text.pivot(index=["setting", "comparison"], columns="scenario", values="text").fillna("—")
             .reindex(columns=list(dict.fromkeys(numbers["scenario"])))
             .reindex(list(dict.fromkeys(zip(numbers["setting"], numbers["comparison"]))))
             .reset_index().rename(columns={"setting": "Setting", "comparison": "Comparison"}))
    footer = ["C-index difference, mean over draws of the per-draw difference of mean C-indices (MCSE over draws). "
              "stg − stg-no-message-passing is what message passing adds to the same encoders, readout and head; "
              "stg − stg-union-tumour is what the lesion nodes add; − morphometry is the gap to the "
              "measurement bar."]
    return Table("graph_ablation", "What the graph adds", frame, numbers, footer)
