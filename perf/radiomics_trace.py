"""Where a strong feature goes in a radiomics baseline's in-fold preprocessing and selection.

    python -m perf.radiomics_trace [-d SPEC] [-m radiomics_coxnet] [--folds 5] [--feature geometry:tumour_volume_ml]

For every training fold of a CV split, fits the method and walks its fitted preprocessing pipeline
step by step: how many columns each step keeps, whether the traced feature is among them, its
univariate Cox score rank there and, when a step drops it, the kept column that absorbed it (|r|)
and the scores of both. Then the fitted model: the penalty, the non-zero coefficients, the traced
feature's coefficient rank, and the test-fold C-index of the model next to that of the traced
feature alone. A linear model that ranks near chance where the traced feature alone ranks well
shows here which step lost it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline
from sksurv.metrics import concordance_index_censored

from benchmark import datasets, methods
from benchmark.data import splits
from benchmark.features.artefacts import BuildContext
from benchmark.features.feature_selection import cox_scores
from benchmark.features.preprocessing import skewness
from benchmark.methods import FoldData
from perf import print_machine_load


def flat_steps(pipeline: Pipeline) -> list[tuple[str, object]]:
    """(name, fitted step) of a pipeline, nested pipelines unrolled."""
    steps = []
    for name, step in pipeline.steps:
        steps += flat_steps(step) if isinstance(step, Pipeline) else [(name, step)]
    return steps


def c_index(y, risk) -> float:
    return concordance_index_censored(y["event"], y["time"], np.asarray(risk, float))[0]


def score_rank(scores: np.ndarray, position: int) -> int:
    """1-based rank of a column by decreasing score."""
    return int(np.sum(scores > scores[position])) + 1


def drop_note(step, before: np.ndarray, names: np.ndarray, kept: np.ndarray, position: int, y) -> str:
    """Why a step dropped column `position`: its score and rank, and for a correlation filter the
    column with a higher score that absorbed it."""
    scores = cox_scores(before, y)
    note = f"DROPPED (score {scores[position]:.1f}, rank {score_rank(scores, position)})"
    earlier = np.isin(names, kept) & (scores >= scores[position])
    if hasattr(step, "threshold") and earlier.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.abs(np.nan_to_num([np.corrcoef(before[:, position], column)[0, 1] for column in before.T]))
        partner = int(np.argmax(np.where(earlier, r, -1)))
        note += f" for {names[partner]} (|r| {r[partner]:.3f}, score {scores[partner]:.1f})"
    return note


def trace_fold(method, train: FoldData, test: FoldData, feature: str) -> tuple[bool, float, float]:
    """Print the fold's trace; (feature selected, model test C-index, feature-alone test C-index)."""
    frame = method.features(train)
    matrix, names, y = frame.to_numpy(dtype=float), np.asarray(frame.columns, dtype=object), train.y
    raw = frame[feature].to_numpy(dtype=float)
    print(f"  input             {matrix.shape[1]} columns, {int(np.isnan(matrix).any(axis=0).sum())} with NaN; "
          f"{feature}: skewness {skewness(raw[:, None])[0]:.1f}, max/median {np.nanmax(raw) / np.nanmedian(raw):.0f}")
    for name, step in flat_steps(method.preprocess_):
        after = step.transform(matrix)
        kept = np.asarray(step.get_feature_names_out(names), dtype=object)
        line = f"  {name:<24}{after.shape[1]:4d} columns"
        if feature in kept:
            scores, position = cox_scores(np.nan_to_num(after), y), int(np.flatnonzero(kept == feature)[0])
            line += f"; {feature} kept, Cox score {scores[position]:.1f} (rank {score_rank(scores, position)})"
        elif feature in names:
            line += f"; {feature} " + drop_note(step, np.nan_to_num(matrix), names, kept,
                                                int(np.flatnonzero(names == feature)[0]), y)
        print(line)
        matrix, names = after, kept
    estimator = method.estimator_
    if hasattr(estimator, "coef_"):
        coef = np.ravel(estimator.coef_)
        nonzero = np.flatnonzero(coef)
        top = ", ".join(f"{names[j]} {coef[j]:+.2f}" for j in nonzero[np.argsort(-np.abs(coef[nonzero]))][:5])
        print(f"  model             alpha {getattr(estimator, 'alpha_', float('nan')):.3g}, "
              f"{len(nonzero)} non-zero: {top}")
        if feature in names:
            j = int(np.flatnonzero(names == feature)[0])
            rank = int(np.sum(np.abs(coef) > abs(coef[j]))) + 1
            print(f"  {feature} coefficient {coef[j]:+.3f} (rank {rank} by |coef|)")
    alone = method.features(test)[feature].to_numpy(dtype=float)
    model_c = c_index(test.y, method.predict(test).risk)
    alone_c = c_index(test.y, np.nan_to_num(alone, nan=np.nanmedian(alone)))
    print(f"  test C-index      model {model_c:.3f}, {feature} alone {alone_c:.3f}")
    return feature in names, model_c, alone_c


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dataset", default="crlm-synthetic:scenario=burden,n=120,seed=5")
    parser.add_argument("-m", "--method", default="radiomics_coxnet")
    parser.add_argument("--feature", default="geometry:tumour_volume_ml")
    parser.add_argument("--endpoint", default="dfs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-fold", type=int, help="trace this fold only")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    cohort = datasets.load(args.dataset, args.data_dir)
    context = BuildContext(args.data_dir, 1)
    traced = []
    for split in splits.make_splits(cohort, args.endpoint, "cv", args.folds, 1, seed=0):
        if args.only_fold is not None and split.fold != args.only_fold:
            continue
        common = dict(cohort=cohort, endpoint=args.endpoint, feature_set="preoperative", seed=split.fold,
                      context=context)
        train, test = FoldData(ids=np.array(split.train), **common), FoldData(ids=np.array(split.test), **common)
        print(f"fold {split.fold}: {len(train)} training patients, {int(train.y['event'].sum())} events")
        traced.append(trace_fold(methods.get(args.method)().fit(train), train, test, args.feature))
    selected, model_c, alone_c = np.array(traced).T
    print(f"summary           {args.feature} selected in {int(selected.sum())}/{len(traced)} folds; mean test C-index "
          f"model {model_c.mean():.3f}, {args.feature} alone {alone_c.mean():.3f}")
    print_machine_load()


if __name__ == "__main__":
    main()
