"""The image methods against their bars on the scenario grid: do they learn what the scan shows? And
what the graph adds: STG against the same network without message passing and against morphometry.

Three bars, per setting of the grid (cohort size, endpoint, feature set):
  - where the hazard lives in the images (`burden`, `spatial`), STG, STG-lite and the radiomics
    baselines each at least match `morphometry`, ridge Cox on the segmentation's measurements (C-index
    not lower by more than MATCH_MARGIN, mean over draws of the per-draw difference);
  - there, STG within ORACLE_MARGIN of the oracle (the true risk);
  - where the images carry nothing (`clinical`, `null`), no image method significantly worse than
    clinical Cox-PH: per draw, the corrected resampled t-test on the paired folds, Holm over the image
    methods of the draw, counted as a failure when the adjusted p < 0.05 and the difference is negative.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import methods
from benchmark.reporting.groups import Group
from benchmark.reporting.tables import Table
from benchmark.scoring import stats

MATCH_MARGIN = 0.01
ORACLE_MARGIN = 0.05
IMAGE_SCENARIOS = ("burden", "spatial")
EMPTY_SCENARIOS = ("clinical", "null")
CHALLENGERS = ("stg", "stg-lite", "radiomics_coxnet", "radiomics_clinical_coxnet", "radiomics_rsf")
BAR = "morphometry"
CLINICAL = "coxph"
ORACLE = "oracle"
METRIC = "cindex_harrell"


def is_image_method(name: str) -> bool:
    try:
        return "images" in methods.get(name).requires
    except methods.MethodError:   # a method no longer registered: judged by nothing
        return False


def draw_means(draws: dict[int, Group]) -> pd.DataFrame:
    """(draw × method) mean C-index over the draw's folds."""
    return pd.DataFrame({seed: group.ok.groupby("method")[METRIC].mean() for seed, group in draws.items()}).T


def difference(means: pd.DataFrame, method: str, other: str) -> tuple[float, float, int]:
    """(mean over draws of method − other, its MCSE, draws where both finished)."""
    if method not in means or other not in means:
        return np.nan, np.nan, 0
    values = (means[method] - means[other]).dropna()
    mcse = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
    return float(values.mean()) if len(values) else np.nan, mcse, len(values)


def worse_draws(draws: dict[int, Group]) -> dict[str, tuple[int, int]]:
    """Per image method: (draws where it is significantly worse than Cox-PH after Holm, draws tested)."""
    counts: dict[str, list[int]] = {}
    for group in draws.values():
        cells = group.ok
        image = [m for m in cells["method"].unique() if is_image_method(m)]
        if CLINICAL not in set(cells["method"]) or not image:
            continue
        tests = stats.paired_tests(cells[cells["method"].isin([*image, CLINICAL])], CLINICAL, [METRIC])
        adjusted = stats.holm(tests["p"])
        for (_, test), p in zip(tests.iterrows(), adjusted):
            worse, tested = counts.setdefault(test["method"], [0, 0])
            counts[test["method"]] = [worse + int(p < stats.SIGNIFICANCE and test["mean_difference"] < 0), tested + 1]
    return {method: (worse, tested) for method, (worse, tested) in counts.items()}


def verdict(passed: bool | None) -> str:
    return "—" if passed is None else ("yes" if passed else "**no**")


def rows_for(setting: str, studies: dict[str, dict[int, Group]]) -> list[dict]:
    """The bars' rows of one setting; `studies` maps scenario -> its draws."""
    rows = []
    for scenario in IMAGE_SCENARIOS:
        if scenario not in studies:
            continue
        means = draw_means(studies[scenario])
        for method in CHALLENGERS:
            mean, mcse, draws = difference(means, method, BAR)
            rows.append({"setting": setting, "scenario": scenario, "method": method,
                         "bar": f"C − {BAR} C ≥ −{MATCH_MARGIN}", "value": mean, "mcse": mcse, "draws": draws,
                         "passed": None if not draws else bool(mean >= -MATCH_MARGIN)})
        mean, mcse, draws = difference(means, "stg", ORACLE)
        rows.append({"setting": setting, "scenario": scenario, "method": "stg",
                     "bar": f"C − oracle C ≥ −{ORACLE_MARGIN}", "value": mean, "mcse": mcse, "draws": draws,
                     "passed": None if not draws else bool(mean >= -ORACLE_MARGIN)})
    for scenario in EMPTY_SCENARIOS:
        if scenario not in studies:
            continue
        means = draw_means(studies[scenario])
        for method, (worse, tested) in sorted(worse_draws(studies[scenario]).items()):
            mean, mcse, _ = difference(means, method, CLINICAL)
            rows.append({"setting": setting, "scenario": scenario, "method": method,
                         "bar": f"not significantly worse than {CLINICAL} (draws worse / tested)",
                         "value": mean, "mcse": mcse, "draws": tested, "worse_draws": worse,
                         "passed": bool(worse == 0)})
    return rows


def bars_table(by_setting: dict[str, dict[str, dict[int, Group]]]) -> Table | None:
    """Every bar of every setting (label -> scenario -> draws); None when no study of these scenarios finished."""
    rows = [row for setting, studies in by_setting.items() for row in rows_for(setting, studies)]
    if not rows:
        return None
    numbers = pd.DataFrame(rows)
    worse = numbers.get("worse_draws", pd.Series(np.nan, index=numbers.index))
    shown = pd.DataFrame({
        "Setting": numbers["setting"], "Scenario": numbers["scenario"], "Method": numbers["method"],
        "Bar": numbers["bar"],
        "Difference (MCSE)": [f"{v:+.3f}" + ("" if pd.isna(m) else f" ({m:.3f})") if pd.notna(v) else "n/a"
                              for v, m in zip(numbers["value"], numbers["mcse"])],
        "Draws": [f"{int(w)} / {d}" if pd.notna(w) else str(d) for w, d in zip(worse, numbers["draws"])],
        "Met": [verdict(p) for p in numbers["passed"]]})
    met = int(numbers["passed"].fillna(False).astype(bool).sum())
    footer = [f"{met} of {numbers['passed'].notna().sum()} bars met. Differences: mean over draws of the per-draw "
              "difference of mean C-indices (MCSE over draws).",
              f"Significantly worse: Nadeau–Bengio corrected resampled t-test against {CLINICAL} on the paired folds "
              f"of a draw, Holm over that draw's image methods, adjusted p < {stats.SIGNIFICANCE} with a negative "
              "difference; 'Draws' then counts draws worse / draws tested."]
    return Table("image_bars", "Image methods against their bars", shown, numbers, footer)


#: (method, compared with) pairs of the graph ablation: message passing, lesion nodes, the measurement bar.
GRAPH_PAIRS = (("stg", "stg-no-message-passing"), ("stg", "stg-union-tumour"), ("stg", BAR),
               ("stg-union-tumour", BAR))


def graph_table(by_setting: dict[str, dict[str, dict[int, Group]]]) -> Table | None:
    """Per setting and scenario, each GRAPH_PAIRS difference of mean C-index over draws (MCSE)."""
    rows = []
    for setting, studies in by_setting.items():
        for scenario, draws in studies.items():
            means = draw_means(draws)
            for method, other in GRAPH_PAIRS:
                mean, mcse, count = difference(means, method, other)
                if count:
                    rows.append({"setting": setting, "scenario": scenario, "comparison": f"{method} − {other}",
                                 "value": mean, "mcse": mcse, "draws": count})
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
