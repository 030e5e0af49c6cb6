"""The neural defaults study: scored on training folds of unreported draws only; the rule that picks the
defaults; and the defaults in the code are the ones the committed study chose."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import datasets
from benchmark.data.scenarios import SCENARIOS
from benchmark.harness import defaults_study, grid, runner, tuning
from benchmark.methods import FoldData, neural

TABLE = Path(__file__).resolve().parents[1] / "results" / "tables" / f"{defaults_study.TABLE}.csv"


def units(**columns) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([("stg", "mixed", 120, f) for f in range(len(next(iter(columns.values()))))],
                                      names=["method", "scenario", "n", "fold"])
    return pd.DataFrame(columns, index=index)


def test_an_earlier_candidate_within_one_standard_error_of_the_best_is_chosen():
    noisy = units(previous=[0.60, 0.70, 0.62, 0.66], later=[0.62, 0.68, 0.64, 0.66])
    chosen, summary = defaults_study.choose(noisy, ["previous", "later"])
    assert chosen == "previous"
    assert summary.loc["previous", "difference_to_best"] == pytest.approx(-0.005)


def test_a_clearly_better_candidate_is_chosen():
    clear = units(previous=[0.60, 0.70, 0.62, 0.66], later=[0.65, 0.74, 0.68, 0.70])
    assert defaults_study.choose(clear, ["previous", "later"])[0] == "later"


def test_development_draws_are_never_drawn_by_the_grid():
    development = set(defaults_study.development_datasets())
    reported = set(grid.members(grid.scenarios(["all"]), 10, defaults_study.SIZES))
    assert len(development) == len(defaults_study.SIZES) * len(SCENARIOS) and not development & reported


def test_a_candidate_is_scored_on_its_outer_training_fold_only(monkeypatch, clinical_cohort):
    monkeypatch.setattr(runner, "load_cohort", lambda spec, data_dir, n_jobs=1: clinical_cohort)
    seen = []

    def inner_cindex(method, params, train, folds, reseed):
        seen.append((set(train.ids), params))
        return [0.5] * len(folds)

    monkeypatch.setattr(tuning, "inner_cindex", inner_cindex)
    dataset = defaults_study.development_datasets()[0]
    for fold in range(defaults_study.OUTER_FOLDS):
        defaults_study.score(defaults_study.Task("narrow", "mlp", dataset, fold), Path("unused"))
    whole = FoldData(clinical_cohort, clinical_cohort.patient_ids, defaults_study.ENDPOINT,
                     datasets.default_feature_sets(clinical_cohort)[0], defaults_study.DEVELOPMENT_SEED)
    tests = [set(whole.ids[test]) for _, test in tuning.inner_splits(whole, defaults_study.OUTER_FOLDS)]
    for (train, params), test in zip(seen, tests):
        assert not train & test and train | test == set(clinical_cohort.patient_ids)
        assert params == defaults_study.CANDIDATES["narrow"]


def test_a_rerun_resumes_and_rescores_the_tasks_of_a_changed_world_or_features(monkeypatch, tmp_path, clinical_cohort):
    dataset = defaults_study.development_datasets()[0]
    monkeypatch.setattr(defaults_study, "development_datasets", lambda: [dataset])
    monkeypatch.setattr(defaults_study, "CANDIDATES", {"previous": defaults_study.CANDIDATES["previous"]})
    monkeypatch.setattr(defaults_study, "METHODS", ("mlp",))
    monkeypatch.setattr(runner, "load_cohort", lambda spec, data_dir, n_jobs=1: clinical_cohort)
    monkeypatch.setattr(defaults_study.artefacts, "ensure", lambda *args, **kwargs: None)
    monkeypatch.setattr(defaults_study.artefacts, "fingerprint", lambda *args, **kwargs: "the features")
    scored = []

    def score(task, data_dir):
        scored.append(task.fold)
        return {"candidate": task.candidate, "method": task.method, "scenario": task.dataset.scenario,
                "n": len(clinical_cohort), "fold": task.fold, "n_train": 0, "inner_cindex": [0.5]}

    monkeypatch.setattr(defaults_study, "score", score)
    assert len(defaults_study.run(tmp_path)) == defaults_study.OUTER_FOLDS
    assert len(scored) == defaults_study.OUTER_FOLDS
    defaults_study.run(tmp_path)
    assert len(scored) == defaults_study.OUTER_FOLDS          # resumed: nothing scored twice
    monkeypatch.setattr(defaults_study.splits, "outcomes_digest", lambda cohort, endpoint: "a later world")
    defaults_study.run(tmp_path)
    assert len(scored) == 2 * defaults_study.OUTER_FOLDS      # the draw's outcomes changed: every task again
    monkeypatch.setattr(defaults_study.artefacts, "fingerprint", lambda *args, **kwargs: "other features")
    defaults_study.run(tmp_path)
    assert len(scored) == 3 * defaults_study.OUTER_FOLDS      # so did its features: every task again


def test_the_code_uses_the_defaults_the_committed_study_chose():
    table = pd.read_csv(TABLE, index_col="candidate")
    chosen = table.index[table["chosen"] == "yes"]
    assert len(chosen) == 1
    settings = defaults_study.CANDIDATES[chosen[0]]
    assert {k: neural.DEFAULTS[k] for k in settings} == settings
    assert np.isfinite(table["mean_cindex"]).all()
