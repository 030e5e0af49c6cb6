"""Splits: stratified, deterministic, persisted and reused; the paper's fixed 177/20 split."""
import json

import numpy as np
import pytest

from benchmark.data import splits


def test_repeated_kfold_partitions_every_repeat(clinical_cohort):
    made = splits.make_splits(clinical_cohort, "dfs", "cv", 5, 3, seed=7)
    assert len(made) == 15
    everyone = set(clinical_cohort.patient_ids)
    for repeat in range(3):
        tests = [set(s.test) for s in made if s.repeat == repeat]
        assert set().union(*tests) == everyone and sum(map(len, tests)) == len(everyone)
        for s in made:
            assert not set(s.train) & set(s.test)
    assert made[0].test != made[5].test  # repeats reshuffle


def test_folds_are_stratified_by_event(clinical_cohort):
    made = splits.make_splits(clinical_cohort, "dfs", "cv", 5, 1, seed=0)
    events = clinical_cohort.outcome("dfs")["event"]
    rates = [events.loc[list(s.test)].mean() for s in made]
    assert max(rates) - min(rates) <= 0.15


def test_same_seed_same_splits_other_seed_differs(clinical_cohort):
    a = splits.make_splits(clinical_cohort, "dfs", "cv", 5, 2, seed=1)
    b = splits.make_splits(clinical_cohort, "dfs", "cv", 5, 2, seed=1)
    c = splits.make_splits(clinical_cohort, "dfs", "cv", 5, 2, seed=2)
    assert a == b and a != c


def test_strata_pool_rare_bins():
    event = np.array([1] * 12 + [0] * 8)
    bins = np.array([0] * 6 + [1] * 5 + [9] + [3] * 6 + [11, 10])
    labels = splits.strata(event, bins, 5)
    values, counts = np.unique(labels, return_counts=True)
    assert (counts >= 5).all() or set(values) <= {0, 1}


def test_paper_split_is_177_20_on_197(tmp_path):
    from benchmark.data import synthetic
    from benchmark.datasets.tcia import cohort_from_clinical

    cohort = cohort_from_clinical(synthetic.generate(197, seed=0).clinical, "crlm-197", None)
    (split,) = splits.make_splits(cohort, "dfs", "paper", 5, 5, seed=0)
    assert (len(split.train), len(split.test)) == (177, 20)


def test_splits_are_written_reused_and_checked(tmp_path, clinical_cohort):
    first = splits.load_or_make(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    path = splits.split_path(tmp_path, clinical_cohort.name, "dfs", "cv", 3, 1, 0)
    stored = json.loads(path.read_text())
    assert stored["folds"] == 3 and len(stored["splits"]) == 3
    # a stored file wins over recomputation (reuse), as long as it matches the cohort
    other = splits.make_splits(clinical_cohort, "dfs", "cv", 3, 1, seed=99)
    stored["splits"] = [{"repeat": s.repeat, "fold": s.fold, "train": list(s.train), "test": list(s.test)}
                        for s in other]
    path.write_text(json.dumps(stored))
    reused = splits.load_or_make(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    assert reused == other and reused != first
    stored["splits"][1]["test"] = stored["splits"][1]["test"][1:] + ["CRLM-CT-9999"]
    path.write_text(json.dumps(stored))
    with pytest.raises(splits.SplitError, match="r0 f1 does not match cohort"):
        splits.load_or_make(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
