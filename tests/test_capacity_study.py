"""Capacity study: five 80/20 folds of each image scenario, differences to the oracle on the same patients."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from benchmark.harness import capacity_study
from benchmark.methods import neural
from benchmark.scoring.stats import harrell_cindex


def predictions(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"patient_id": [f"P{k}" for k in range(len(risk))], "time": time, "event": event,
                         "risk": risk})


def simulated(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_risk = rng.normal(size=n)
    time = rng.exponential(np.exp(-true_risk))
    return true_risk, time, rng.random(n) < 0.7


def test_the_oracle_against_itself_differs_by_nothing():
    true_risk, time, event = simulated()
    oracle = predictions(true_risk, time, event)
    assert capacity_study.difference_interval(oracle, oracle) == (0.0, 0.0, 0.0)


def test_a_noisier_ranking_is_below_the_oracle_with_an_interval_around_it():
    true_risk, time, event = simulated()
    noisy = true_risk + np.random.default_rng(1).normal(scale=1.5, size=len(true_risk))
    point, low, high = capacity_study.difference_interval(predictions(noisy, time, event),
                                                          predictions(true_risk, time, event))
    assert low < point < high < 0
    # the rows are matched by patient, not by position
    shuffled = predictions(noisy, time, event).sample(frac=1.0, random_state=3)
    assert capacity_study.difference_interval(shuffled, predictions(true_risk, time, event))[0] == pytest.approx(point)


def test_over_folds_the_difference_is_the_mean_of_each_folds():
    true_risk, time, event = simulated()
    noisy = true_risk + np.random.default_rng(1).normal(scale=1.5, size=len(true_risk))
    fold = np.arange(len(time)) % 2
    oracle, method = predictions(true_risk, time, event).assign(fold=fold), predictions(noisy, time, event)
    each = [capacity_study.difference_interval(method[fold == k], oracle[fold == k].drop(columns="fold"))[0]
            for k in (0, 1)]
    point, low, high = capacity_study.difference_interval(method, oracle)
    assert point == pytest.approx(np.mean(each)) and each[0] != pytest.approx(each[1])
    assert low < point < high


def test_the_table_marks_a_method_beyond_the_margin_and_shows_failures():
    summary = pd.DataFrame([
        {"scenario": "burden", "method": "oracle", "n_train": 2400, "n_test": 600, "cindex": 0.72, "status": "ok"},
        {"scenario": "burden", "method": "stg", "n_train": 2400, "n_test": 600, "cindex": 0.71, "status": "ok",
         "difference": -0.01, "ci_low": -0.02, "ci_high": 0.0, "within_margin": True},
        {"scenario": "burden", "method": "gcn", "n_train": 2400, "n_test": 600, "cindex": 0.65, "status": "ok",
         "difference": -0.07, "ci_low": -0.09, "ci_high": -0.05, "within_margin": False},
        {"scenario": "burden", "method": "gat", "n_train": 2400, "n_test": 600, "cindex": np.nan, "status": "error"},
    ])
    text = capacity_study.markdown(summary)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "✗" in rows["gcn"] and "✗" not in rows["stg"]
    assert "0.710 (-0.010 [-0.020, +0.000])" in rows["stg"]
    assert "failed (error)" in rows["gat"]
    assert "2400 training and 600 test patients" in text


def test_the_study_draws_every_image_scenario_and_no_table_seed():
    specs = capacity_study.capacity_datasets()
    assert [d.scenario for d in specs] == ["mixed", "burden", "spatial", "texture", "distribution"]
    assert {d.n_patients for d in specs} == {3000} and len({d.seed for d in specs}) == 1
    assert specs[0].seed not in (0, 1, 2, 100)   # grid draws and the defaults study's development draws


def test_the_study_fits_every_fold_of_each_scenario_and_tabulates_them(tmp_path, monkeypatch):
    """A small draw stands in for the 3,000 patients: five folds per scenario and method, read back and tabulated."""
    monkeypatch.setattr(capacity_study, "DRAW", "crlm-synthetic:n=40,seed=200")
    monkeypatch.setattr(capacity_study, "SCENARIOS", ("burden",))
    monkeypatch.setattr(capacity_study, "METHODS", ("morphometry", "oracle"))
    computed, compute = [], capacity_study.runner.compute

    def counted(the_plan, pending, *args):
        computed.append(len(pending))
        return compute(the_plan, pending, *args)

    monkeypatch.setattr(capacity_study.runner, "compute", counted)
    cells = capacity_study.run(tmp_path / "data", progress=False)
    assert sorted(set(cells["method"])) == ["morphometry", "oracle"] and set(cells["fold"]) == set(range(5))
    capacity_study.run(tmp_path / "data", progress=False)
    capacity_study.run(tmp_path / "data", progress=False, force=True)
    assert computed == [10, 0, 10]     # a rerun resumes; --force (a new world) recomputes
    assert (cells["status"] == "ok").all() and set(cells["n_test"]) == {8}
    summary = capacity_study.summarise(cells)
    morphometry = summary.set_index("method").loc["morphometry"]
    assert morphometry["folds"] == 5
    oracle_c = summary.set_index("method").loc["oracle", "cindex"]
    assert morphometry["difference"] == pytest.approx(morphometry["cindex"] - oracle_c)
    assert morphometry["ci_low"] <= morphometry["difference"] <= morphometry["ci_high"]

    fitted = []
    monkeypatch.setattr(capacity_study.truth_fit, "fit_and_rank",
                        lambda train, test, target: fitted.append(len(test)) or np.zeros(len(test)))
    truths = capacity_study.truth_fits(tmp_path / "data", capacity_study.oracle_tests(cells), progress=False)
    capacity_study.truth_fits(tmp_path / "data", capacity_study.oracle_tests(cells), progress=False)
    assert fitted == [8] * 5      # every fold once; the rerun reads them back
    monkeypatch.setitem(neural.DEFAULTS, "hidden", 32)   # other neural defaults: those kept fits are not theirs
    capacity_study.truth_fits(tmp_path / "data", capacity_study.oracle_tests(cells), progress=False)
    assert fitted == [8] * 10
    dataset = capacity_study.capacity_datasets()[0].name
    tested = capacity_study.oracle_tests(cells)[dataset]
    assert sorted(truths[dataset]["patient_id"]) == sorted(tested["patient_id"]) and len(tested) == 40

    ceilings = capacity_study.inputs_ceiling(tmp_path / "data", capacity_study.oracle_tests(cells))
    assert sorted(ceilings[dataset]["patient_id"]) == sorted(tested["patient_id"])
    assert ceilings[dataset]["risk"].notna().all()

    def not_again(*args):
        raise AssertionError("the ceiling's kept folds were fitted again")

    monkeypatch.setattr(capacity_study.inputs_study, "load_families", not_again)
    again = capacity_study.inputs_ceiling(tmp_path / "data", capacity_study.oracle_tests(cells))
    pd.testing.assert_frame_equal(again[dataset], ceilings[dataset])


def test_the_reference_rows_are_scored_against_the_oracle_on_their_patients(tmp_path):
    """The graph inputs' ceiling gets its C-index and its difference to the oracle like a method, and its row sits
    just above the oracle's."""
    true_risk, time, event = simulated()
    dataset = capacity_study.capacity_datasets()[1].name
    cells = []
    for method, risk in (("oracle", true_risk), ("stg", true_risk + np.random.default_rng(2).normal(size=len(time)))):
        path = tmp_path / f"{method}.json"
        predictions(risk, time, event).to_csv(path.with_suffix(".predictions.csv"), index=False)
        cells.append({"dataset": dataset, "method": method, "fold": 0, "n_train": 1600, "n_test": len(time),
                      "cindex_harrell": 0.7, "status": "ok", "path": str(path)})
    ceiling = predictions(-true_risk, time, event).assign(fold=0).sample(frac=1.0, random_state=0)   # reversed, mixed
    summary = capacity_study.summarise(pd.DataFrame(cells), {capacity_study.CEILING: {dataset: ceiling}})
    row = summary.set_index("method").loc[capacity_study.CEILING]
    oracle_c = harrell_cindex(time[None], event[None], true_risk[None])[0]
    assert row["cindex"] == pytest.approx(1 - oracle_c, abs=1e-9)      # the reversed ranking, matched by patient
    assert row["difference"] == pytest.approx(1 - 2 * oracle_c, abs=1e-9) and not row["within_margin"]
    rows = [line.split("|")[1].strip() for line in capacity_study.markdown(summary).splitlines()
            if line.startswith("| ") and not line.startswith("| method")]
    assert rows[-2:] == [capacity_study.CEILING, "oracle"]
    truth_fit = predictions(true_risk, time, event).assign(fold=0)
    summary = capacity_study.summarise(pd.DataFrame(cells), {capacity_study.TRUTH_FIT: {dataset: truth_fit},
                                                             capacity_study.CEILING: {dataset: ceiling}})
    assert summary.set_index("method").loc[capacity_study.TRUTH_FIT, "difference"] == pytest.approx(0.0)
    rows = [line.split("|")[1].strip() for line in capacity_study.markdown(summary).splitlines()
            if line.startswith("| ") and not line.startswith("| method")]
    assert rows[-3:] == [capacity_study.TRUTH_FIT, capacity_study.CEILING, "oracle"]


def test_the_intervals_computed_in_parallel_are_the_serial_ones(tmp_path):
    """Each row's bootstrap has its own seed, so worker processes change neither a row nor which row it lands on."""
    dataset = capacity_study.capacity_datasets()[0].name
    cells = []
    for k, method in enumerate(("oracle", "stg", "gcn", "morphometry")):
        true_risk, time, event = simulated(n=150, seed=3)
        risk = true_risk + k * np.random.default_rng(10 + k).normal(size=len(time))
        path = tmp_path / f"{method}.json"
        predictions(risk, time, event).to_csv(path.with_suffix(".predictions.csv"), index=False)
        cells.append({"dataset": dataset, "method": method, "fold": 0, "n_train": 600, "n_test": len(time),
                      "cindex_harrell": 0.7, "status": "ok", "path": str(path)})
    serial = capacity_study.summarise(pd.DataFrame(cells))
    parallel = capacity_study.summarise(pd.DataFrame(cells), n_jobs=2)
    pd.testing.assert_frame_equal(parallel, serial)
    assert serial["difference"].iloc[1:].is_monotonic_decreasing   # noisier rankings further below the oracle


def test_the_network_fitted_to_a_visible_target_ranks_unseen_patients_by_it(tmp_path):
    """Fitted to something the lesion graphs show (each patient's lesion count), STG's network ranks the test
    patients by it; a network that learnt nothing would not."""
    from benchmark import datasets, methods
    from benchmark.features.artefacts import BuildContext
    from benchmark.harness import runner, truth_fit

    spec = datasets.parse_spec("crlm-synthetic:n=60,seed=5")
    cohort = runner.load_cohort(spec, tmp_path / "data")
    ids = np.array(cohort.clinical.index)
    common = dict(endpoint="dfs", feature_set="preoperative", seed=0, context=BuildContext(tmp_path / "data"))
    train, test = methods.FoldData(cohort, ids[:45], **common), methods.FoldData(cohort, ids[45:], **common)
    target = cohort.truth["n_tumours"].astype(float)
    predicted = truth_fit.fit_and_rank(train, test, target)
    assert predicted.shape == (15,)
    assert spearmanr(predicted, target.loc[ids[45:]]).statistic > 0.6
