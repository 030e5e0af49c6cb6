"""Nested tuning: inner CV on the training fold only, best trial refitted, resumable studies."""
import json
from typing import ClassVar

import numpy as np
import optuna
import pytest
from sksurv.metrics import concordance_index_censored

from benchmark import cli, datasets, methods
from benchmark.data import splits
from benchmark.datasets import parse_spec
from benchmark.harness import runner, tuning
from benchmark.methods import FoldData, Method, Registered

FOLDS = 3


class Peeker(Method):
    """A method whose `source` param decides between an honest risk and one that is right only on
    the outer test fold: an inner CV that peeked at the test fold would choose "leak"."""

    name = "peeker"
    defaults = {"source": "honest"}
    outer_test: ClassVar[dict[int, set]] = {}   # cell seed (= outer fold here) -> its test patients
    noise: ClassVar[dict[str, float]] = {}
    seen: ClassVar[list[tuple[str, int, frozenset]]] = []   # (fit | predict, cell seed, patients)

    @classmethod
    def search_space(cls, trial):
        return {"source": trial.suggest_categorical("source", ["honest", "leak"])}

    def fit(self, data):
        self.seen.append(("fit", data.seed, frozenset(data.ids)))
        return self

    def predict_survival(self, data):
        self.seen.append(("predict", data.seed, frozenset(data.ids)))
        log_time = np.log(data.y["time"])
        noise = np.array([self.noise[i] for i in data.ids])
        if self.params["source"] == "honest":
            risk = -log_time + noise
        else:
            on_test = np.isin(data.ids, list(self.outer_test[data.seed]))
            risk = np.where(on_test, -log_time, noise)
        return risk, np.ones((len(data), len(data.time_grid)))

    def n_params(self):
        return 1


@pytest.fixture
def peeker(monkeypatch):
    cohort = datasets.load("veterans")
    rng = np.random.default_rng(0)
    Peeker.noise = dict(zip(cohort.patient_ids, rng.normal(0, 1.5, len(cohort))))
    Peeker.outer_test = {s.fold: set(s.test) for s in splits.make_splits(cohort, "os", "cv", FOLDS, 1, 0)}
    Peeker.seen = []
    registry = dict(methods.registry())
    registry["peeker"] = Registered("peeker", Peeker, __name__)
    monkeypatch.setattr(methods, "_REGISTRY", registry)
    return cohort


def test_the_search_space_rewards_peeking(peeker):
    test_ids = np.array(sorted(Peeker.outer_test[0]))
    fold = FoldData(peeker, test_ids, "os", "clinical", 0)
    y = fold.y
    scores = {source: concordance_index_censored(y["event"], y["time"], Peeker(source=source)
                                                 .predict_survival(fold)[0])[0] for source in ("honest", "leak")}
    assert scores["leak"] > scores["honest"] + 0.1


def test_tuning_never_sees_the_outer_test_fold(tmp_path, peeker):
    config = runner.RunConfig(datasets=[parse_spec("veterans")], methods=["peeker"], folds=FOLDS, repeats=1, tune=True,
                              trials=6, output=tmp_path / "out", data_dir=tmp_path / "data")
    summary = runner.execute(config, progress=False)
    assert summary.done == FOLDS and not summary.errors
    for fold, test in Peeker.outer_test.items():
        events = [(kind, ids) for kind, seed, ids in Peeker.seen if seed == fold]
        *tuning_events, (last_fit, refit_ids), (last_predict, predicted) = events
        assert tuning_events, "no inner fit happened"
        assert all(not (ids & test) for _, ids in tuning_events), "an inner fit or score saw an outer test patient"
        assert (last_fit, last_predict) == ("fit", "predict") and predicted == test
        assert refit_ids == set(peeker.patient_ids) - test, "the best trial is refitted on the whole training fold"
    for path in (tmp_path / "out").rglob("r*_f*.json"):
        record = json.loads(path.read_text())
        report = json.loads(path.with_name(f"tuning_{path.name}").read_text())
        assert {t["params"]["source"] for t in report["trials_detail"]} == {"honest", "leak"}
        assert record["params"] == {"source": "honest"} == report["refit_params"]
        assert record["tuning"]["best_inner_cindex"] == report["best_inner_cindex"]
        assert len(report["trials_detail"]) == 6 and all(len(t["inner_cindex"]) == 3 for t in report["trials_detail"])


def coxph_study(storage, trials, name="s"):
    cohort = datasets.load("veterans")
    train = FoldData(cohort, cohort.patient_ids[:100], "os", "clinical", seed=7)
    return tuning.tune(methods.get("coxph"), train, {}, tuning.cell_spec(trials), str(storage), name,
                       reseed=runner.seed_everything)


def test_a_killed_study_resumes_where_it_stopped_with_the_same_trials(tmp_path):
    whole = coxph_study(tmp_path / "whole.journal", 4).report
    coxph_study(tmp_path / "killed.journal", 2)
    # a trial that was running when the process died stays RUNNING in the storage
    storage = tuning.open_storage(str(tmp_path / "killed.journal"))
    optuna.load_study(study_name="s", storage=storage).ask()
    resumed = coxph_study(tmp_path / "killed.journal", 4).report
    assert resumed["trials_detail"] == whole["trials_detail"] and resumed["refit_params"] == whole["refit_params"]
    states = [t.state for t in optuna.load_study(study_name="s", storage=storage).get_trials()]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4


def test_a_method_without_search_space_is_not_tuned(tmp_path):
    assert not tuning.tunable(methods.get("fong")) and tuning.tunable(methods.get("coxph"))
    the_plan = runner.plan(runner.RunConfig(datasets=[parse_spec("veterans")], methods=["coxph"], folds=2, repeats=1,
                                            tune=True, trials=5, output=tmp_path, data_dir=tmp_path))
    assert the_plan.cells[0].params == {tuning.PARAM_KEY: {"trials": 5, "inner_folds": tuning.INNER_FOLDS}}


@pytest.mark.parametrize("argv, message", [
    (["run", "-m", "coxph", "--trials", "3"], "--trials and --storage need --tune"),
    (["run", "-m", "coxph", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --backend dask"),
])
def test_tuning_and_backend_usage_errors(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
