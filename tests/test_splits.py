"""Splits: stratified, deterministic, persisted and reused; the paper's fixed 177/20 split."""
import copy
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
    assert (counts >= 5).all() and len(values) == 3
    assert len(set(labels[:6]) | set(labels[12:])) == 2  # year 0 events and year 3 censored stay apart


def test_rare_bins_are_pooled_with_their_neighbours_not_dropped_to_event_only():
    # events in years 0 (5), 1 (5), 2 (2), 3 (2): years 2-3 are too small even together, so they join
    # year 1; the censored (years 4-8) form two buckets
    event = np.array([1] * 14 + [0] * 10)
    bins = np.array([0] * 5 + [1] * 5 + [2] * 2 + [3] * 2 + [4] * 3 + [5] * 2 + [6] * 2 + [8] * 3)
    labels = splits.strata(event, bins, 5)
    values, counts = np.unique(labels, return_counts=True)
    assert len(values) > 2 and (counts >= 5).all()
    assert len(set(labels[5:14])) == 1 and labels[0] != labels[5]
    for label in values:  # a stratum never mixes event statuses here
        assert len(set(event[labels == label])) == 1
    assert splits.strata(event, bins, 5).tolist() == labels.tolist()


def test_a_rare_event_status_joins_the_nearest_bucket_of_the_other():
    event = np.array([1] * 15 + [0] * 3)
    bins = np.array([0] * 5 + [4] * 5 + [9] * 5 + [8, 9, 1])
    labels = splits.strata(event, bins, 5)
    assert (np.unique(labels, return_counts=True)[1] >= 5).all()
    assert labels[15:].tolist() == [labels[10], labels[10], labels[0]]


def test_pooled_strata_split_a_real_cohort(clinical_cohort):
    bins = clinical_cohort.year_bins("dfs")
    event = clinical_cohort.outcome("dfs")["event"].to_numpy()
    labels = splits.strata(event, bins, 5)
    assert len(np.unique(labels)) > 2 and (np.unique(labels, return_counts=True)[1] >= 5).all()


def test_paper_split_is_177_20_on_197(tmp_path):
    from benchmark.data import synthetic
    from benchmark.datasets.tcia import cohort_from_clinical

    cohort = cohort_from_clinical(synthetic.generate(197, seed=0).clinical, "crlm-197", None)
    (split,) = splits.make_splits(cohort, "dfs", "paper", 5, 5, seed=0)
    assert (len(split.train), len(split.test)) == (177, 20)


def test_splits_are_written_reused_and_checked(tmp_path, clinical_cohort):
    made = splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    path = splits.split_path(tmp_path, clinical_cohort.name, "dfs", "cv", 3, 1, 0)
    assert made.new and not path.exists()   # nothing is written until asked
    made.write()
    first = made.splits
    stored = json.loads(path.read_text())
    assert stored["folds"] == 3 and len(stored["splits"]) == 3
    reused = splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    assert not reused.new and reused.splits == first
    # splits are a function of the patients, outcomes and seed: a stored file with other splits (another seed's,
    # or the seed's on earlier outcomes) is not reused, and --force remakes the seed's own
    other = splits.make_splits(clinical_cohort, "dfs", "cv", 3, 1, seed=99)
    path.write_text(json.dumps({**stored, "splits": [{"repeat": s.repeat, "fold": s.fold, "train": list(s.train),
                                                      "test": list(s.test)} for s in other]}))
    with pytest.raises(splits.SplitError, match="not the splits seed 0 makes"):
        splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    remade = splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path, remake_stale=True)
    assert remade.new and remade.splits == first
    stored["splits"][1]["test"] = stored["splits"][1]["test"][1:] + ["CRLM-CT-9999"]
    path.write_text(json.dumps(stored))
    with pytest.raises(splits.SplitError, match="r0 f1 does not match cohort"):
        splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)


def test_a_file_without_an_outcome_digest_keeps_its_splits_and_gets_one(tmp_path, clinical_cohort):
    """Files written before the digest was kept are reused as they are, and written again with it."""
    made = splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    made.write()
    old = {k: v for k, v in json.loads(made.path.read_text()).items() if k != "outcomes_sha256"}
    old["splits"] = old["splits"][::-1]   # any order: the file's splits are what is kept
    made.path.write_text(json.dumps(old))
    reused = splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path)
    assert reused.new and [(s.repeat, s.fold) for s in reused.splits] == [(0, 2), (0, 1), (0, 0)]
    reused.write()
    assert json.loads(made.path.read_text())["outcomes_sha256"] == splits.outcomes_digest(clinical_cohort, "dfs")
    assert not splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path).new


def test_splits_made_on_other_outcomes_are_stale_not_reused(tmp_path, clinical_cohort):
    """A new generator version or an edited table keeps the patient ids but changes the outcomes."""
    splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path).write()
    changed = copy.deepcopy(clinical_cohort)
    changed.outcomes["dfs"].iloc[0, changed.outcomes["dfs"].columns.get_loc("time")] += 1.0
    with pytest.raises(splits.SplitError, match="outcomes of .* changed"):
        splits.stored_or_new(changed, "dfs", "cv", 3, 1, 0, tmp_path)
    remade = splits.stored_or_new(changed, "dfs", "cv", 3, 1, 0, tmp_path, remake_stale=True)
    assert remade.new and remade.meta["outcomes_sha256"] == splits.outcomes_digest(changed, "dfs")
    assert splits.stored_or_new(clinical_cohort, "dfs", "cv", 3, 1, 0, tmp_path).splits   # the original still fits
