"""The image methods' bars on the scenario grid: matching morphometry, the oracle margin, and the
significance test against Cox-PH where the images carry nothing."""
import numpy as np
import pandas as pd
import pytest

from benchmark.reporting import image_bars
from benchmark.reporting.groups import Group


def draw(offsets: dict[str, float], seed: int, noise: float = 0.01) -> Group:
    """A finished draw: 5 × 5 folds per method, C-index = 0.6 + offset + fold noise."""
    rng = np.random.default_rng(seed)
    rows = [{"method": method, "repeat": r, "fold": f, "status": "ok", "n_train": 158, "n_test": 39,
             "cindex_harrell": 0.6 + offset + noise * rng.standard_normal()}
            for method, offset in offsets.items() for r in range(5) for f in range(5)]
    return Group("crlm-synthetic", "dfs", "cv", "preoperative", pd.DataFrame(rows), None, 0, 197, None)


def test_the_bars_pass_and_fail_where_the_numbers_say():
    image = {"oracle": 0.1, "morphometry": 0.04, "stg": 0.0, "stg-lite": 0.035, "radiomics_coxnet": 0.04,
             "radiomics_clinical_coxnet": 0.05, "radiomics_rsf": 0.02}
    empty = {"coxph": 0.0, "stg": -0.001, "radiomics_rsf": -0.15}
    studies = {"burden": {s: draw(image, s) for s in range(3)}, "null": {s: draw(empty, 10 + s) for s in range(3)}}
    table = image_bars.bars_table({"n=197": studies})
    numbers = table.numbers.set_index(["scenario", "method", "bar"])
    match = f"C − morphometry C ≥ −{image_bars.MATCH_MARGIN}"
    assert not numbers.loc[("burden", "stg", match), "passed"]
    assert numbers.loc[("burden", "stg-lite", match), "passed"]
    assert not numbers.loc[("burden", "radiomics_rsf", match), "passed"]
    oracle = numbers.loc[("burden", "stg", f"C − oracle C ≥ −{image_bars.ORACLE_MARGIN}")]
    assert oracle["value"] < -0.09 and not oracle["passed"]
    null = table.numbers[table.numbers["scenario"] == "null"].set_index("method")
    assert null.loc["stg", "worse_draws"] == 0 and null.loc["stg", "passed"]
    assert null.loc["radiomics_rsf", "worse_draws"] == 3 and not null.loc["radiomics_rsf", "passed"]
    assert "coxph" not in null.index   # the clinical reference is not an image method


def test_the_graph_ablation_reports_what_message_passing_adds_per_scenario():
    offsets = {"morphometry": 0.05, "stg": 0.02, "stg-no-message-passing": 0.0, "stg-union-tumour": -0.01}
    table = image_bars.graph_table({"n=120": {"spatial": {s: draw(offsets, s) for s in range(3)}}})
    numbers = table.numbers.set_index("comparison")
    assert numbers.loc["stg − stg-no-message-passing", "value"] == pytest.approx(0.02, abs=0.01)
    assert numbers.loc["stg − morphometry", "value"] == pytest.approx(-0.03, abs=0.01)
    assert list(table.frame.columns) == ["Setting", "Comparison", "spatial"] and len(table.frame) == 4
