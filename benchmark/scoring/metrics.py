"""Every metric of the suite, computed on one test fold (docs/design.md §3).

Year metrics score the predicted event time through its bin, floor(years) clipped to 0..11 (the
same rule that makes the true year). A censored patient is scored only where the outcome is
determined: predicted to have the event in a year the patient is known to have survived, the
prediction is wrong (exact bin; and ±1 when the gap exceeds one year); predicted at or after the
censoring year, it is unknown and left out. MAE counts such a patient with its known lower bound,
the gap between censoring year and predicted year. The ``*_events`` variants use only patients
with an observed event, the reading closest to the paper.

Survival metrics use scikit-survival; the IPCW ones (Uno's C, AUC, IBS) up to the last training
time with a positive censoring survival, on the test fold censored there. A metric that cannot be
computed on a fold (a single event, a horizon outside follow-up, ...) is NaN with the reason
returned beside it. The year metrics are NaN as well when the cohort's follow-up is under
MIN_FOLLOW_UP_YEARS: there ±1 year is right by construction (veterans: under 3 years).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import CensoringDistributionEstimator

from benchmark.data.cohort import N_YEARS, year_bin

AUC_HORIZONS_YEARS = (1, 3, 5)
METRIC_NAMES = (
    "taa_pm1", "taa_yearwise", "acc_exact", "mae_years",
    "taa_pm1_events", "acc_exact_events", "mae_years_events",
    "cindex_harrell", "cindex_uno", "auc_1y", "auc_3y", "auc_5y", "ibs",
    "n_evaluable_taa", "n_evaluable_exact", "n_evaluable_mae", "n_events",
)
#: Direction of each reported metric: +1 higher is better, -1 lower is better.
HIGHER_IS_BETTER = {name: (-1 if name in ("mae_years", "mae_years_events", "ibs") else 1) for name in METRIC_NAMES}
#: Metrics scored on the 12 one-year bins; NaN when the follow-up is too short (`short_follow_up`).
YEAR_METRICS = ("taa_pm1", "taa_yearwise", "acc_exact", "mae_years", "taa_pm1_events", "acc_exact_events",
                "mae_years_events")
#: The ±1 window spans three bins, so with follow-up in bins 0-2 only a prediction of year 1 is within
#: ±1 of every patient: the year metrics need follow-up reaching a fourth bin.
MIN_FOLLOW_UP_YEARS = 3.0
#: Year metrics also scored on a method's own read-out (`Prediction.own_year`), as ``<name>_own``.
OWN_METRICS = ("taa_pm1", "taa_pm1_events", "acc_exact", "mae_years", "n_evaluable_taa")


@dataclass
class Prediction:
    """What a method predicts for n test patients.

    risk: (n,) higher = worse. surv: (n, T) survival on the cohort's time grid, non-increasing.
    year: (n,) predicted event time in years (0-12), the median survival time read off `surv` for
    every method (`median_survival_years`), so the year metrics compare models, not read-outs.
    year_status: optional (n, 12) probability of being event-free at the end of each year; derived
    from `surv` when absent. own_year: optional (n,) event time by the method's own read-out (e.g.
    the restricted mean of a discrete-time network), scored apart as the ``*_own`` metrics and
    named by `own_year_label`.
    """

    risk: np.ndarray
    surv: np.ndarray
    year: np.ndarray
    year_status: np.ndarray | None = None
    own_year: np.ndarray | None = None
    own_year_label: str | None = None

    def validate(self, n: int, n_times: int) -> None:
        """Raise ValueError when shapes or values break the contract (the runner records it)."""
        checks = [
            (self.risk.shape == (n,), f"risk shape {self.risk.shape} != ({n},)"),
            (self.surv.shape == (n, n_times), f"surv shape {self.surv.shape} != ({n}, {n_times})"),
            (self.year.shape == (n,), f"year shape {self.year.shape} != ({n},)"),
            (np.isfinite(self.risk).all(), "non-finite risk"),
            (np.isfinite(self.surv).all(), "non-finite survival"),
            (np.isfinite(self.year).all(), "non-finite year"),
            ((np.diff(self.surv, axis=1) <= 1e-9).all(), "survival curve increases"),
            (((self.surv >= -1e-9) & (self.surv <= 1 + 1e-9)).all(), "survival outside [0, 1]"),
        ]
        if self.year_status is not None:
            checks.append((self.year_status.shape == (n, N_YEARS), f"year_status shape {self.year_status.shape}"))
        if self.own_year is not None:
            checks += [(self.own_year.shape == (n,), f"own_year shape {self.own_year.shape} != ({n},)"),
                       (np.isfinite(self.own_year).all(), "non-finite own_year"),
                       (bool(self.own_year_label), "own_year without own_year_label")]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("invalid prediction: " + "; ".join(problems))


def median_survival_years(surv: np.ndarray, time_grid: np.ndarray, units_per_year: float) -> np.ndarray:
    """Predicted event time: where the survival curve first reaches 0.5, linearly interpolated.

    Curves that stay above 0.5 over the whole grid predict the last bin (12 years, i.e. bin 11).
    """
    years = time_grid / units_per_year
    out = np.full(len(surv), years[-1])
    below = surv <= 0.5
    for i in np.flatnonzero(below.any(axis=1)):
        j = int(np.argmax(below[i]))
        if j == 0:
            out[i] = years[0]
            continue
        s0, s1 = surv[i, j - 1], surv[i, j]
        fraction = (s0 - 0.5) / (s0 - s1) if s0 > s1 else 1.0
        out[i] = years[j - 1] + fraction * (years[j] - years[j - 1])
    return out


def year_status_from_survival(surv: np.ndarray, time_grid: np.ndarray, units_per_year: float) -> np.ndarray:
    """P(event-free at the end of year k), k = 0..11, read off the survival curve."""
    ends = np.arange(1, N_YEARS + 1) * units_per_year
    return np.stack([np.interp(ends, time_grid, row) for row in surv])


def _nan(reasons: dict, name: str, reason: str) -> float:
    reasons[name] = reason
    return float("nan")


def year_metrics(pred_years, time_years, event) -> tuple[dict, dict]:
    """TAA ±1, exact-bin accuracy and MAE in years, on the evaluable patients."""
    reasons: dict[str, str] = {}
    predicted, true = year_bin(pred_years), year_bin(time_years)
    event = np.asarray(event).astype(bool)
    gap = np.abs(predicted - true)
    censored_before = ~event & (true > predicted)  # survived past the predicted year: wrong
    taa_known = event | (censored_before & (true - predicted > 1))
    exact_known = event | censored_before
    out = {
        "n_evaluable_taa": float(taa_known.sum()),
        "n_evaluable_exact": float(exact_known.sum()),
        "n_evaluable_mae": float(exact_known.sum()),
        "n_events": float(event.sum()),
    }
    within = gap <= 1

    def mean_over(values: np.ndarray, known: np.ndarray, key: str) -> float:
        return float(values[known].mean()) if known.any() else _nan(reasons, key, "no evaluable patient")

    out["taa_pm1"] = mean_over(within, taa_known, "taa_pm1")
    out["acc_exact"] = mean_over(gap == 0, exact_known, "acc_exact")
    out["mae_years"] = mean_over(gap, exact_known, "mae_years")
    if event.any():
        out["taa_pm1_events"] = float(within[event].mean())
        out["acc_exact_events"] = float((gap == 0)[event].mean())
        out["mae_years_events"] = float(gap[event].mean())
    else:
        for name in ("taa_pm1_events", "acc_exact_events", "mae_years_events"):
            _nan(reasons, name, "no event in the test fold")
            out[name] = float("nan")
    return out, reasons


def yearwise_accuracy(year_status, time_years, event) -> tuple[float, str | None]:
    """Accuracy of the 12 event-free calls (status >= 0.5) over the known (patient, year) cells.

    An event at time t means not event-free at t (an event exactly at the end of year k counts
    against year k); a patient censored at t survived to t, so is event-free at every year end up
    to and including t, and unknown after it.
    """
    ends = np.arange(1, N_YEARS + 1)[None, :]
    time_years = np.asarray(time_years, dtype=float)[:, None]
    event = np.asarray(event).astype(bool)[:, None]
    truth_event_free = ~event | (time_years > ends)
    known = event | (time_years >= ends)
    if not known.any():
        return float("nan"), "no known (patient, year) cell"
    return float(((year_status >= 0.5) == truth_event_free)[known].mean()), None


def ipcw_limit(y_train) -> float:
    """The last training time at which the Kaplan-Meier estimate of the censoring survival is > 0."""
    times = np.unique(y_train["time"])
    censoring = CensoringDistributionEstimator().fit(y_train).predict_proba(times)
    return float(times[censoring > 0].max())


def censored_at(y, limit: float) -> np.ndarray:
    """`y` with every time after `limit` censored at `limit`."""
    out = y.copy()
    beyond = out["time"] > limit
    out["event"][beyond] = False
    out["time"][beyond] = limit
    return out


def harrell_c(event, time, risk) -> float:
    """Harrell's C (scikit-survival's): the one computation the cells and the calibration checks share."""
    return float(concordance_index_censored(event, time, risk)[0])


def survival_metrics(pred: Prediction, y_train, y_test, time_grid, units_per_year) -> tuple[dict, dict]:
    """Harrell and Uno C-index, cumulative/dynamic AUC at 1/3/5 years, and the IBS."""
    reasons: dict[str, str] = {}
    out: dict[str, float] = {}
    event, time = y_test["event"], y_test["time"]
    train_max = y_train["time"][y_train["event"]].max() if y_train["event"].any() else y_train["time"].max()
    if event.sum() == 0:
        out["cindex_harrell"] = _nan(reasons, "cindex_harrell", "no event in the test fold")
    else:
        out["cindex_harrell"] = harrell_c(event, time, pred.risk)
    # Uno's C, the AUC and the IBS weight test patients by the training fold's censoring survival G,
    # so they exist only up to `limit`, the last training time with G > 0: they are computed up to it,
    # on the test fold censored there (which leaves every value before `limit` unchanged).
    limit = ipcw_limit(y_train)
    y_test = censored_at(y_test, limit)
    tau = min(time.max(), limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["cindex_uno"] = float(concordance_index_ipcw(y_train, y_test, pred.risk, tau=tau)[0])
    except ValueError as error:
        out["cindex_uno"] = _nan(reasons, "cindex_uno", str(error))
    low, high = time.min(), min(time.max(), train_max, limit)
    horizons = {}   # name -> horizon of the AUCs that can be computed
    for years in AUC_HORIZONS_YEARS:
        name, horizon = f"auc_{years}y", years * units_per_year
        if not low <= horizon < high:
            out[name] = _nan(reasons, name, f"{years}y outside the follow-up both folds cover")
        elif not ((time <= horizon) & event).any():
            out[name] = _nan(reasons, name, f"no event before {years}y in the test fold")
        else:
            out[name], horizons[name] = np.nan, horizon   # the place of its value, in horizon order
    out.update(cumulative_aucs(pred.surv, time_grid, y_train, y_test, horizons, reasons))
    grid = time_grid[(time_grid >= low) & (time_grid < high)]
    if len(grid) < 2:
        out["ibs"] = _nan(reasons, "ibs", "fewer than two grid times inside the follow-up both folds cover")
    else:
        columns = np.searchsorted(time_grid, grid)
        try:
            out["ibs"] = float(integrated_brier_score(y_train, y_test, pred.surv[:, columns], grid))
        except ValueError as error:
            out["ibs"] = _nan(reasons, "ibs", str(error))
    return out, reasons


def cumulative_aucs(surv, time_grid, y_train, y_test, horizons: dict[str, float], reasons: dict) -> dict[str, float]:
    """The cumulative/dynamic AUC at each horizon (name -> time), the estimate being 1 - S(horizon): one
    scikit-survival call for all of them, which fits the censoring distribution once and scores each horizon
    exactly as a call of its own would; where that call refuses, each horizon on its own, so a refusal
    is named per horizon."""
    if not horizons:
        return {}
    estimates = np.column_stack([1 - np.array([np.interp(horizon, time_grid, row) for row in surv])
                                 for horizon in horizons.values()])                     # (n, horizons)
    try:
        scores = cumulative_dynamic_auc(y_train, y_test, estimates, list(horizons.values()))[0]
        return {name: float(score) for name, score in zip(horizons, scores)}
    except ValueError:
        out = {}
        for column, (name, horizon) in enumerate(horizons.items()):
            try:
                out[name] = float(cumulative_dynamic_auc(y_train, y_test, estimates[:, column], [horizon])[0][0])
            except ValueError as error:
                out[name] = _nan(reasons, name, str(error))
        return out


def own_year_metrics(pred: Prediction, time_years, event) -> tuple[dict, dict]:
    """OWN_METRICS of the method's own read-out as ``<name>_own``; empty when it has none."""
    if pred.own_year is None:
        return {}, {}
    values, reasons = year_metrics(pred.own_year, time_years, event)
    return ({f"{name}_own": values[name] for name in OWN_METRICS},
            {f"{name}_own": reason for name, reason in reasons.items() if name in OWN_METRICS})


def short_follow_up(y_train, y_test, units_per_year: float) -> str | None:
    """Why the year metrics say nothing on this fold (the cohort's follow-up, both folds, does not
    reach MIN_FOLLOW_UP_YEARS), or None when they do."""
    longest = max(y_train["time"].max(), y_test["time"].max()) / units_per_year
    if longest >= MIN_FOLLOW_UP_YEARS:
        return None
    return (f"follow-up shorter than the 12-year horizon (max {longest:.1f} y; the year metrics need "
            f"{MIN_FOLLOW_UP_YEARS:g} y, else ±1 year is right by construction)")


def evaluate(pred: Prediction, y_train, y_test, time_grid, units_per_year) -> tuple[dict, dict]:
    """All metrics of one test fold: (values, reasons for the NaN ones); METRIC_NAMES, plus the
    ``*_own`` ones when the prediction has its own read-out."""
    time_years = y_test["time"] / units_per_year
    values, reasons = year_metrics(pred.year, time_years, y_test["event"])
    status = pred.year_status
    if status is None:
        status = year_status_from_survival(pred.surv, time_grid, units_per_year)
    values["taa_yearwise"], reason = yearwise_accuracy(status, time_years, y_test["event"])
    if reason:
        reasons["taa_yearwise"] = reason
    own, own_reasons = own_year_metrics(pred, time_years, y_test["event"])
    more, more_reasons = survival_metrics(pred, y_train, y_test, time_grid, units_per_year)
    values.update(more | own)
    reasons.update(more_reasons | own_reasons)
    too_short = short_follow_up(y_train, y_test, units_per_year)
    if too_short:
        for name in [name for name in values if name.removesuffix("_own") in YEAR_METRICS]:
            values[name] = _nan(reasons, name, too_short)
    return {name: values[name] for name in (*METRIC_NAMES, *own)}, reasons
