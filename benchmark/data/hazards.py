"""Proportional-hazards transitions fitted on a real table: the synthetic cohort's event-time model.

H(t | x) = H0(t) * exp(x @ beta): beta from a ridge-penalised Cox fit on standardised covariates
(direction of the real table's signal, stable with 21 covariates and 100-odd events), H0 the
Breslow estimate, interpolated linearly between event times. A non-parametric baseline keeps the
real curves' shape, which no Weibull has: most recurrences in the first two years, then a plateau
of patients who never recur. After the last real event time the hazard is zero (no real patient
informs it; the real follow-up ends there too).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sksurv.linear_model import CoxPHSurvivalAnalysis

from benchmark.data.cohort import structured

#: Ridge of the Cox fit (scikit-survival's alpha, on standardised covariates).
RIDGE = 1.0


@dataclass(frozen=True)
class Transition:
    times: np.ndarray         # knots (months), starting at 0
    baseline: np.ndarray      # H0 at the knots, non-decreasing
    beta: np.ndarray          # on the covariates as given (standardise them first)

    @classmethod
    def fit(cls, x: np.ndarray, time: np.ndarray, event: np.ndarray) -> Transition:
        model = CoxPHSurvivalAnalysis(alpha=RIDGE).fit(np.asarray(x, float), structured(time, event))
        step = model.cum_baseline_hazard_
        return cls(np.concatenate([[0.0], step.x]), np.concatenate([[0.0], step.y]), model.coef_.copy())

    def cumulative_hazard(self, time: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """H(t | eta) for times (m,) and linear predictors (n,): (n, m)."""
        return np.interp(np.asarray(time, float), self.times, self.baseline)[None, :] * np.exp(eta)[:, None]

    def inverse(self, u: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Event times with survival u in (0, 1) at linear predictor eta; inf beyond the last knot."""
        target = -np.log(u) * np.exp(-np.asarray(eta, float))
        times = np.interp(target, self.baseline, self.times)
        return np.where(target > self.baseline[-1], np.inf, times)
