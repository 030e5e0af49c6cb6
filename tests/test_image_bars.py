"""The image methods on the scenario grid against morphometry, the oracle and Cox-PH: paired differences
over draws with their MCSE and t interval, and verdicts read off the interval."""
import numpy as np
import pandas as pd
import pytest

from benchmark.reporting import image_bars
from benchmark.reporting.groups import Group
from benchmark.reporting.tables import markdown_text

#: Per-cell deviations from a method's draw mean (3 folds × 2 repeats; they sum to zero).
OFFSETS = (0.01, -0.01, 0.02, -0.02, 0.0, 0.0)
#: Per-draw mean C-index of each method on draws 0, 1, 2: stg − morphometry is 0.02, 0.04, 0.06,
#: radiomics_coxnet − morphometry 0.05, 0.06, 0.07, stg − oracle −0.10, −0.12, −0.14.
MEANS = {"oracle": (0.72, 0.76, 0.80), "coxph": (0.60, 0.60, 0.60), "morphometry": (0.60, 0.60, 0.60),
         "stg": (0.62, 0.64, 0.66), "radiomics_coxnet": (0.65, 0.66, 0.67)}
#: t(0.975) with 2 degrees of freedom, from a table of Student's t.
T_2 = 4.302653


def exact_draw(means: dict[str, float]) -> Group:
    """A finished draw whose method means over its folds are exactly `means`."""
    rows = [{"method": method, "repeat": index // 3, "fold": index % 3, "status": "ok", "n_train": 158,
             "n_test": 39, "cindex_harrell": mean + offset}
            for method, mean in means.items() for index, offset in enumerate(OFFSETS)]
    return Group("crlm-synthetic", "dfs", "cv", "preoperative", pd.DataFrame(rows), None, 0, 197, None)


def draws(count: int = 3) -> dict[int, Group]:
    return {seed: exact_draw({method: values[seed] for method, values in MEANS.items()}) for seed in range(count)}


@pytest.fixture(scope="module")
def table():
    return image_bars.bars_table({"n=197": {"burden": draws(), "null": draws()}})


def row(table, method: str, comparison: str, scenario: str = "burden") -> pd.Series:
    return table.numbers.set_index(["scenario", "method", "comparison"]).loc[(scenario, method, comparison)]


def test_mean_mcse_and_t_interval_of_the_paired_difference_by_hand(table):
    # 0.02, 0.04, 0.06: mean 0.04, squared deviations 0.0004 + 0 + 0.0004 over 2 degrees of freedom: sd 0.02
    stg = row(table, "stg", "morphometry")
    mcse = 0.02 / np.sqrt(3)
    assert stg["mean_difference"] == pytest.approx(0.04, abs=1e-12)
    assert stg["mcse"] == pytest.approx(mcse, abs=1e-12)
    assert stg["ci_low"] == pytest.approx(0.04 - T_2 * mcse, abs=1e-6)
    assert stg["ci_high"] == pytest.approx(0.04 + T_2 * mcse, abs=1e-6)
    assert stg["draws"] == 3
    # 0.05, 0.06, 0.07: mean 0.06, sd 0.01, interval 0.06 ± 4.303 · 0.01/√3 = [0.035, 0.085]
    radiomics = row(table, "radiomics_coxnet", "morphometry")
    assert radiomics["ci_low"] == pytest.approx(0.06 - T_2 * 0.01 / np.sqrt(3), abs=1e-6)
    assert radiomics["verdict"] == "higher"
    # −0.10, −0.12, −0.14: mean −0.12, sd 0.02
    oracle = row(table, "stg", "oracle")
    assert oracle["mean_difference"] == pytest.approx(-0.12, abs=1e-12)
    assert oracle["ci_high"] == pytest.approx(-0.12 + T_2 * mcse, abs=1e-6) and oracle["verdict"] == "lower"


def test_a_large_mean_whose_interval_straddles_zero_is_not_distinguishable(table):
    stg = row(table, "stg", "morphometry")
    assert stg["mean_difference"] > 0.03 and stg["ci_low"] < 0 < stg["ci_high"]   # four times the old margin
    assert stg["verdict"] == "not distinguishable"


@pytest.mark.parametrize("low, high, verdict", [(0.001, 0.1, "higher"), (-0.1, -0.001, "lower"),
                                                (-0.1, 0.1, "not distinguishable"), (0.0, 0.1, "not distinguishable")])
def test_the_verdict_reads_off_the_interval(low, high, verdict):
    assert image_bars.Difference((low + high) / 2, 0.01, low, high, 3).verdict == verdict


def test_every_image_method_meets_all_three_comparisons_in_every_scenario(table):
    found = set(zip(table.numbers["scenario"], table.numbers["method"], table.numbers["comparison"]))
    for scenario in ("burden", "null"):
        for method in ("stg", "radiomics_coxnet"):
            assert {(scenario, method, other) for other in image_bars.COMPARATORS} <= found
        assert {(scenario, "morphometry", "oracle"), (scenario, "morphometry", "coxph")} <= found
    assert not {"oracle", "coxph"} & set(table.numbers["method"])   # not image methods
    assert ("burden", "morphometry", "morphometry") not in found
    assert len(table.numbers) == 2 * (3 + 3 + 2)
    assert table.numbers["setting"].iloc[0] == "burden n=197"


def test_one_draw_gives_no_interval_and_says_why():
    numbers = image_bars.bars_table({"n=120": {"spatial": draws(1)}}).numbers
    assert (numbers["draws"] == 1).all() and numbers[["mcse", "ci_low", "ci_high"]].isna().all().all()
    assert image_bars.ONE_DRAW == "one draw: no Monte Carlo interval"
    assert (numbers["verdict"] == image_bars.ONE_DRAW).all()
    assert numbers.set_index(["method", "comparison"]).loc[("stg", "oracle"), "mean_difference"] == \
        pytest.approx(-0.10, abs=1e-12)


def test_the_table_shows_the_difference_its_mcse_interval_and_verdict(table):
    text = markdown_text(table.title, table)
    header = next(line for line in text.splitlines() if line.startswith("| Setting"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "Setting", "Method", "Comparison", "Mean difference", "MCSE", "95 % interval", "Draws", "Verdict"]
    stg = next(line for line in text.splitlines() if "| stg " in line and "− morphometry" in line)
    assert [cell.strip() for cell in stg.strip("|").split("|")] == [
        "burden n=197", "stg", "− morphometry", "+0.040", "0.012", "[-0.010, +0.090]", "3", "not distinguishable"]
    assert "against morphometry: 2 higher, 0 lower, 2 not distinguishable" in text
    one = markdown_text("one", image_bars.bars_table({"n=120": {"spatial": draws(1)}}))
    assert "| n/a " in one and image_bars.ONE_DRAW in one
    assert "margin" not in text.lower()


def draw(offsets: dict[str, float], seed: int, noise: float = 0.01) -> Group:
    """A finished draw: 5 × 5 folds per method, C-index = 0.6 + offset + fold noise."""
    rng = np.random.default_rng(seed)
    rows = [{"method": method, "repeat": r, "fold": f, "status": "ok", "n_train": 158, "n_test": 39,
             "cindex_harrell": 0.6 + offset + noise * rng.standard_normal()}
            for method, offset in offsets.items() for r in range(5) for f in range(5)]
    return Group("crlm-synthetic", "dfs", "cv", "preoperative", pd.DataFrame(rows), None, 0, 197, None)


def test_the_graph_ablation_reports_what_message_passing_adds_per_scenario():
    offsets = {"morphometry": 0.05, "stg": 0.02, "stg-no-message-passing": 0.0, "stg-union-tumour": -0.01}
    table = image_bars.graph_table({"n=120": {"spatial": {s: draw(offsets, s) for s in range(3)}}})
    numbers = table.numbers.set_index("comparison")
    assert numbers.loc["stg − stg-no-message-passing", "value"] == pytest.approx(0.02, abs=0.01)
    assert numbers.loc["stg − morphometry", "value"] == pytest.approx(-0.03, abs=0.01)
    assert list(table.frame.columns) == ["Setting", "Comparison", "spatial"] and len(table.frame) == 4
