"""Seed spread: the outer splits stay fixed, seed 0 is the main run's cell, other seeds refit differently."""
import pandas as pd
import pytest

from benchmark import datasets
from benchmark.harness import results, runner, seed_spread

VETERANS = datasets.parse_spec("veterans")


def test_model_seed_zero_is_the_main_run_and_other_seeds_refit_on_the_same_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(seed_spread, "neural_methods", lambda: ["deepsurv"])
    cells = seed_spread.run(VETERANS, tmp_path / "data", model_seeds=2, progress=False)
    assert len(cells) == 2 * 25 and (cells["status"] == "ok").all()
    main = runner.execute(runner.RunConfig(datasets=[VETERANS], methods=["deepsurv"], output=tmp_path / "main",
                                           data_dir=tmp_path / "data"), progress=False)
    assert main.done == 25
    reference = results.read_all(tmp_path / "main").set_index(["repeat", "fold"])["cindex_harrell"].sort_index()
    by_seed = {k: frame.set_index(["repeat", "fold"])["cindex_harrell"].sort_index()
               for k, frame in cells.groupby("model_seed")}
    pd.testing.assert_series_equal(by_seed[0], reference)
    assert not by_seed[1].equals(by_seed[0])
    table = seed_spread.spread(cells)
    assert table.loc["deepsurv", "cells"] == 50
    difference = abs(by_seed[0].mean() - by_seed[1].mean())
    assert table.loc["deepsurv", "sd over seeds"] == pytest.approx(difference / 2 ** 0.5)
