"""Outer splits: repeated stratified K-fold and the paper's fixed 177/20 split.

Strata are event status × year bin, with rare bins pooled with their neighbours (see `strata`) so
stratification never fails on a rare late year and keeps the year information. Splits are a
pure function of (patient ids, outcomes, K, repeats, seed), written to ``results/splits/`` and read
back on the next run, so every method of every run sees exactly the same folds. The file keeps a
digest of the outcomes they were drawn from: when the data change (a new generator version, an
edited table) the stored splits, and the results made on them, are stale and never silently reused.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from benchmark.data.cohort import Cohort
from benchmark.files import atomic_write_text

PAPER_TEST_SIZE = 20


@dataclass(frozen=True)
class Split:
    repeat: int
    fold: int
    train: tuple[str, ...]
    test: tuple[str, ...]


class SplitError(ValueError):
    """Stored splits that no longer match the cohort; the message says what differs."""


def pooled_bins(bins: np.ndarray, n_splits: int) -> dict[int, int]:
    """Bin -> first bin of its bucket: consecutive bins pooled, earliest first, until a bucket has
    `n_splits` members; a short last bucket joins the one before it."""
    values, counts = np.unique(bins, return_counts=True)
    buckets: list[list[int]] = []
    size = n_splits
    for value, count in zip(values.tolist(), counts.tolist()):
        if size >= n_splits:
            buckets.append([])
            size = 0
        buckets[-1].append(value)
        size += count
    if size < n_splits and len(buckets) > 1:
        last = buckets.pop()
        buckets[-1] += last
    return {value: bucket[0] for bucket in buckets for value in bucket}


def strata(event: np.ndarray, bins: np.ndarray, n_splits: int) -> np.ndarray:
    """Event × year-bin labels in which every stratum has at least `n_splits` members.

    Within each event status, consecutive year bins are pooled (`pooled_bins`). A status with
    fewer than `n_splits` patients in all joins the other status's bucket of the nearest bin; when
    both are that small the cohort is one stratum. Deterministic: a function of the outcomes only.
    """
    event, bins = np.asarray(event).astype(int), np.asarray(bins).astype(int)
    labels = np.zeros(len(bins), dtype=int)
    mappings = {status: pooled_bins(bins[event == status], n_splits)
                for status in (0, 1) if (event == status).sum() >= n_splits}
    for status, mapping in mappings.items():
        labels[event == status] = [status * 100 + mapping[b] for b in bins[event == status]]
    if len(mappings) == 1:
        (status, mapping), = mappings.items()
        known, others = np.array(sorted(mapping)), event != status
        nearest = known[np.abs(bins[others, None] - known[None, :]).argmin(axis=1)]
        labels[others] = [status * 100 + mapping[b] for b in nearest]
    return labels


def paper_split_possible(cohort: Cohort) -> bool:
    """The fixed split holds out PAPER_TEST_SIZE patients; it needs a training side at least as big."""
    return len(cohort.patient_ids) > 2 * PAPER_TEST_SIZE


def make_splits(cohort: Cohort, endpoint: str, protocol: str, folds: int, repeats: int, seed: int) -> list[Split]:
    ids = cohort.patient_ids
    outcome = cohort.outcome(endpoint)
    event = outcome["event"].to_numpy()
    bins = cohort.year_bins(endpoint)
    splits = []
    if protocol == "paper":
        if not paper_split_possible(cohort):
            raise SplitError(f"{cohort.name}: the fixed split needs more than {2 * PAPER_TEST_SIZE} patients")
        labels = strata(event, bins, 2)
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=PAPER_TEST_SIZE, random_state=seed)
        train, test = next(splitter.split(ids, labels))
        return [Split(0, 0, tuple(ids[np.sort(train)]), tuple(ids[np.sort(test)]))]
    labels = strata(event, bins, folds)
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for fold, (train, test) in enumerate(splitter.split(ids, labels)):
            splits.append(Split(repeat, fold, tuple(ids[train]), tuple(ids[test])))
    return splits


def split_path(root: Path, dataset: str, endpoint: str, protocol: str, folds: int, repeats: int, seed: int) -> Path:
    name = "paper_177_20" if protocol == "paper" else f"cv_k{folds}_r{repeats}"
    return Path(root) / "splits" / dataset / endpoint / f"{name}_seed{seed}.json"


def outcomes_digest(cohort: Cohort, endpoint: str) -> str:
    """sha256 of the endpoint's (patient, time, event) rows: what the splits were stratified on."""
    frame = cohort.outcome(endpoint).sort_index()
    return hashlib.sha256(frame.to_csv(float_format="%.6g").encode()).hexdigest()


def first_stale(splits: list[Split], everyone: set[str]) -> Split | None:
    """The first split whose train and test do not partition `everyone`, or None."""
    for split in splits:
        train, test = set(split.train), set(split.test)
        if train | test != everyone or train & test:
            return split
    return None


def same_splits(first: list[Split], second: list[Split]) -> bool:
    """Whether two lists hold the same (repeat, fold, train, test) splits, whatever their order and the order of
    the patients within them."""
    def key(splits: list[Split]) -> set:
        return {(s.repeat, s.fold, frozenset(s.train), frozenset(s.test)) for s in splits}
    return len(first) == len(second) and key(first) == key(second)


@dataclass
class StoredSplits:
    """The outer splits of one (cohort, endpoint, protocol) and the file that keeps them; `new` until
    written (or until a file from before outcome digests were kept is written again with one), so planning a
    run reads files and writes none."""

    path: Path
    splits: list[Split]
    meta: dict
    new: bool

    def write(self) -> None:
        payload = {**self.meta, "splits": [{"repeat": s.repeat, "fold": s.fold, "train": list(s.train),
                                            "test": list(s.test)} for s in self.splits]}
        atomic_write_text(self.path, json.dumps(payload, indent=1))
        self.new = False


def stored_or_new(cohort: Cohort, endpoint: str, protocol: str, folds: int, repeats: int, seed: int,
                  results_root: Path, remake_stale: bool = False) -> StoredSplits:
    """The stored splits of this cohort, or new ones (not yet written).

    Splits are a function of the patients, their outcomes and the seed: stored ones are reused only where they
    are the splits the seed makes from the cohort as it is (a record of them, and of the outcomes the results on
    them were computed with). Others raise SplitError, unless `remake_stale`.
    """
    path = split_path(results_root, cohort.name, endpoint, protocol, folds, repeats, seed)
    meta = {"dataset": cohort.name, "endpoint": endpoint, "protocol": protocol, "folds": folds,
            "repeats": repeats, "seed": seed, "outcomes_sha256": outcomes_digest(cohort, endpoint)}
    made = make_splits(cohort, endpoint, protocol, folds, repeats, seed)
    if path.is_file():
        stored = json.loads(path.read_text())
        splits = [Split(s["repeat"], s["fold"], tuple(s["train"]), tuple(s["test"])) for s in stored["splits"]]
        stale = first_stale(splits, set(cohort.patient_ids))
        changed = stored.get("outcomes_sha256", meta["outcomes_sha256"]) != meta["outcomes_sha256"]
        if stale is None and not changed and same_splits(splits, made):
            # a file without the digest keeps its splits and records the outcomes they are used with from now on,
            # so a later change of those outcomes is caught like any other
            return StoredSplits(path, splits, meta, new="outcomes_sha256" not in stored)
        if not remake_stale:
            problem = (f"stored split r{stale.repeat} f{stale.fold} does not match cohort {cohort.name} "
                       f"(train and test must partition its {len(cohort)} patients)" if stale is not None else
                       f"the outcomes of {cohort.name} changed since these splits (and the results on them) "
                       "were made" if changed else
                       f"these are not the splits seed {seed} makes from the outcomes of {cohort.name} as they are "
                       "(they were made on earlier outcomes, or by another version of the splitter)")
            raise SplitError(f"{path}: {problem}; rerun with --force to remake the splits and recompute")
    return StoredSplits(path, made, meta, new=True)
