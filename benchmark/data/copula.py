"""A Gaussian copula over a real table: new rows with the real marginals and rank correlations.

Each column is mapped to normal scores through its empirical distribution (mid-ranks, missing
values left out), the copula's correlation is the pairwise-complete correlation of those scores
(projected onto the nearest positive-definite matrix), and a drawn row is mapped back through the
empirical quantile function of each column: by interpolation between the order statistics for
continuous columns (then rounded to the column's recorded precision), by the step function for
discrete ones, so a binary column keeps its real prevalence and a score only takes real values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: A column with at most this many distinct values is discrete (drawn values are real values).
MAX_DISCRETE_LEVELS = 12


def normal_scores(values: pd.Series) -> pd.Series:
    """Phi^-1 of the mid-rank / (n + 1) of each non-missing value; missing stays missing."""
    present = values.dropna()
    ranks = present.rank(method="average") / (len(present) + 1)
    return pd.Series(stats.norm.ppf(ranks), index=present.index).reindex(values.index)


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Clip the eigenvalues of a symmetric matrix at `floor` and rescale to a unit diagonal."""
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    repaired = vectors @ np.diag(np.maximum(eigenvalues, floor)) @ vectors.T
    scale = np.sqrt(np.diag(repaired))
    return repaired / np.outer(scale, scale)


def decimals(values: np.ndarray) -> int:
    """The number of decimals the column is recorded with (0 for 62, 1 for 27.4, 2 for 0.35)."""
    for places in range(4):
        if np.allclose(values, np.round(values, places)):
            return places
    return 4


@dataclass(frozen=True)
class Marginal:
    """One column's empirical distribution: sorted values, discrete or continuous, precision."""

    sorted_values: np.ndarray
    discrete: bool
    decimals: int

    @classmethod
    def fit(cls, values: pd.Series) -> Marginal:
        present = np.sort(values.dropna().to_numpy(float))
        return cls(present, len(np.unique(present)) <= MAX_DISCRETE_LEVELS, decimals(present))

    def quantile(self, u: np.ndarray) -> np.ndarray:
        n = len(self.sorted_values)
        if self.discrete:
            return self.sorted_values[np.minimum((u * n).astype(int), n - 1)]
        positions = np.clip(u * (n + 1) - 1, 0, n - 1)   # inverse of the mid-rank / (n + 1) scores
        return np.round(np.interp(positions, np.arange(n), self.sorted_values), self.decimals)


@dataclass(frozen=True)
class GaussianCopula:
    """Fitted on a table's columns; `sample(n, rng)` draws a frame with the same columns."""

    columns: tuple[str, ...]
    correlation: np.ndarray          # (p, p) correlation of the normal scores
    marginals: tuple[Marginal, ...]

    @classmethod
    def fit(cls, table: pd.DataFrame) -> GaussianCopula:
        scores = table.apply(normal_scores)
        correlation = scores.corr(min_periods=10).fillna(0.0).to_numpy(copy=True)
        np.fill_diagonal(correlation, 1.0)
        return cls(tuple(table.columns), nearest_correlation(correlation),
                   tuple(Marginal.fit(table[column]) for column in table.columns))

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        latent = rng.multivariate_normal(np.zeros(len(self.columns)), self.correlation, size=n, method="cholesky")
        u = stats.norm.cdf(latent)
        return pd.DataFrame({column: marginal.quantile(u[:, k])
                             for k, (column, marginal) in enumerate(zip(self.columns, self.marginals))})
