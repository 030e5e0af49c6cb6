"""Leakage is refused where it would happen: test patients never reach what a method learns from."""
import numpy as np
import pytest

from baselines.coxph import CoxPH
from benchmark import datasets, methods
from benchmark.data import splits
from benchmark.harness import leakage, runner
from benchmark.harness.tuning import inner_splits


def config(tmp_path, **overrides):
    values = dict(datasets=[datasets.parse_spec("veterans")], methods=["coxph"], folds=3, repeats=1,
                  output=tmp_path / "out", data_dir=tmp_path / "data", n_jobs=1)
    return runner.RunConfig(**{**values, **overrides})


def test_a_split_sharing_patients_is_refused_naming_them():
    with pytest.raises(leakage.LeakageError, match=r"fold 2: 2 test patient\(s\) also in the training side: a, b"):
        leakage.check_split("fold 2", ["a", "b", "c"], ["b", "a", "d"])
    leakage.check_split("fold 2", ["a"], ["b"])


def test_the_training_view_hides_the_test_outcomes_only(gbsg2):
    ids = gbsg2.patient_ids
    test, train = ids[:10], ids[10:]
    view = leakage.training_view(gbsg2, test, "gbsg2 r0 f1")
    assert len(view.y("dfs", train)) == len(train) and len(view.clinical) == len(gbsg2)
    assert np.array_equal(view.y("dfs", train)["time"], gbsg2.y("dfs", train)["time"])
    with pytest.raises(leakage.LeakageError, match=rf"gbsg2 r0 f1: .* 1 test patient\(s\) while fitting: {test[3]}"):
        view.y("dfs", [train[0], test[3]])
    with pytest.raises(leakage.LeakageError, match="10 test patient"):
        view.y("dfs")                              # every patient's outcome, the test ones included
    assert test[0] not in view.outcomes["dfs"].index   # nor can the frames be read around the guard


def test_inner_validation_and_tuning_folds_stay_inside_the_training_view(gbsg2):
    ids = gbsg2.patient_ids
    view = leakage.training_view(gbsg2, ids[:50], "r0 f0")
    train = methods.FoldData(view, ids[50:], "dfs", "clinical", seed=1)
    for fit_positions, validation_positions in inner_splits(train, 3):
        assert len(train.subset(fit_positions).y) + len(train.subset(validation_positions).y) == len(train)


def test_a_method_reading_test_outcomes_stops_the_run_and_keeps_what_was_written(tmp_path, monkeypatch):
    fit = CoxPH.fit
    calls = []

    def leaky_on_second_fold(self, data):
        calls.append(data.seed)
        if len(calls) == 2:
            everyone = methods.FoldData(data.cohort, data.cohort.patient_ids, data.endpoint, data.feature_set,
                                        data.seed, data.context)
            return fit(self, everyone)
        return fit(self, data)
    monkeypatch.setattr(CoxPH, "fit", leaky_on_second_fold)
    with pytest.raises(leakage.LeakageError, match=r"veterans/os/cv/\w+/coxph r0 f1: the method read the outcomes"):
        runner.execute(config(tmp_path), progress=False)
    written = sorted(p.name for p in (tmp_path / "out").rglob("r*_f*.json"))
    assert written == ["r0_f0.json"], "the cell finished before the leak is kept, the leaky one never written"


def test_overlapping_stored_splits_stop_the_run(tmp_path, monkeypatch):
    real = splits.stored_or_new

    def overlapping(*args, **kwargs):
        stored = real(*args, **kwargs)
        first = stored.splits[0]
        stored.splits[0] = splits.Split(first.repeat, first.fold, first.train + first.test[:1], first.test)
        return stored
    monkeypatch.setattr(splits, "stored_or_new", overlapping)
    with pytest.raises(leakage.LeakageError, match=r"coxph r0 f0: 1 test patient\(s\) also in the training side"):
        runner.execute(config(tmp_path), progress=False)
    assert not list((tmp_path / "out").rglob("r*_f*.json"))
