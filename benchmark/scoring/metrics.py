"""Every metric of the suite, computed on one test fold (docs/design.md §3, docs/metrics.md).

Year metrics (`benchmark.scoring.year_metrics`) score the predicted event time (the median of the
predicted curve, for every method) through its bin, floor(years) clipped to 0..11, the rule that makes
the true year, every test patient entering every method's number.

Survival metrics use scikit-survival; the IPCW ones (Uno's C, AUC, IBS) up to the last training
time with a positive censoring survival, on the test fold censored there. Calibration uses
SurvivalEVAL: D-calibration of the whole curves (Haider et al., JMLR 2020) and the one-time
calibration at 1 and 3 years (D'Agostino-Nam, the Hosmer-Lemeshow test for censored data, with its
original binomial variance, defined on small folds where the Greenwood one is not), each a
p-value (small: miscalibrated). A metric that cannot be computed on a fold (a single event, a horizon
outside follow-up, ...) is NaN with the reason returned beside it. The year metrics are NaN as well
when the cohort's follow-up is under MIN_FOLLOW_UP_YEARS: there ±1 year is right by construction
(veterans: under 3 years).
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
from SurvivalEVAL import SurvivalEvaluator

from benchmark.data.cohort import N_YEARS
from benchmark.scoring.year_metrics import (
    MAE_METHODS,
    censored_at,
    censoring_survival,
    ipcw_limit,
    nan_because,
    year_metrics,
    yearwise_accuracy,
)

AUC_HORIZONS_YEARS = (1, 3, 5)
#: One-time calibration horizons (years).
CALIBRATION_HORIZONS_YEARS = (1, 3)
METRIC_NAMES = (
    "taa_pm1_ipcw", "taa_yearwise", "acc_exact_ipcw", *MAE_METHODS,
    "taa_pm1_events", "acc_exact_events",
    "cindex_harrell", "cindex_uno", "auc_1y", "auc_3y", "auc_5y", "ibs",
    "dcal_p", *(f"onecal_{years}y_p" for years in CALIBRATION_HORIZONS_YEARS),
    "n_scored", "n_events",
)
#: Direction of each reported metric: +1 higher is better, -1 lower is better.
HIGHER_IS_BETTER = {name: (-1 if name in (*MAE_METHODS, "ibs") else 1) for name in METRIC_NAMES}
#: Metrics scored on the 12 one-year bins; NaN when the follow-up is too short (`short_follow_up`).
YEAR_METRICS = ("taa_pm1_ipcw", "taa_yearwise", "acc_exact_ipcw", *MAE_METHODS, "taa_pm1_events",
                "acc_exact_events")
#: The ±1 window spans three bins, so with follow-up in bins 0-2 only a prediction of year 1 is within
#: ±1 of every patient: the year metrics need follow-up reaching a fourth bin.
MIN_FOLLOW_UP_YEARS = 3.0
#: Year metrics also scored on a method's own read-out (`Prediction.own_year`), as ``<name>_own``.
OWN_METRICS = ("taa_pm1_ipcw", "taa_pm1_events", "acc_exact_ipcw", "mae_po")


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
        out["cindex_harrell"] = nan_because(reasons, "cindex_harrell", "no event in the test fold")
    else:
        out["cindex_harrell"] = harrell_c(event, time, pred.risk)
    # Uno's C, the AUC and the IBS weight test patients by the training fold's censoring survival G,
    # so they exist only up to `limit`, the last training time with G > 0: they are computed up to it,
    # on the test fold censored there (which leaves every value before `limit` unchanged).
    limit = ipcw_limit(censoring_survival(y_train))
    y_test = censored_at(y_test, limit)
    tau = min(time.max(), limit)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["cindex_uno"] = float(concordance_index_ipcw(y_train, y_test, pred.risk, tau=tau)[0])
    except ValueError as error:
        out["cindex_uno"] = nan_because(reasons, "cindex_uno", str(error))
    low, high = time.min(), min(time.max(), train_max, limit)
    horizons = {}   # name -> horizon of the AUCs that can be computed
    for years in AUC_HORIZONS_YEARS:
        name, horizon = f"auc_{years}y", years * units_per_year
        if not low <= horizon < high:
            out[name] = nan_because(reasons, name, f"{years}y outside the follow-up both folds cover")
        elif not ((time <= horizon) & event).any():
            out[name] = nan_because(reasons, name, f"no event before {years}y in the test fold")
        else:
            out[name], horizons[name] = np.nan, horizon   # the place of its value, in horizon order
    out.update(cumulative_aucs(pred.surv, time_grid, y_train, y_test, horizons, reasons))
    grid = time_grid[(time_grid >= low) & (time_grid < high)]
    if len(grid) < 2:
        out["ibs"] = nan_because(reasons, "ibs", "fewer than two grid times inside the follow-up both folds cover")
    else:
        columns = np.searchsorted(time_grid, grid)
        try:
            out["ibs"] = float(integrated_brier_score(y_train, y_test, pred.surv[:, columns], grid))
        except ValueError as error:
            out["ibs"] = nan_because(reasons, "ibs", str(error))
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
                out[name] = nan_because(reasons, name, str(error))
        return out


class SharedGridEvaluator(SurvivalEvaluator):
    """SurvivalEVAL's evaluator for curves on one shared time grid, reading the curves at given times for every
    patient in one call of its vectorised `predict_multi_probabilities_from_curve` (at each distinct time, so
    at most VECTORISED_READS values at once) rather than one patient per call: the same interpolation, the
    same values, and some 15 of a cell's 35 ms of scoring saved (the calibration metrics read ~40 patients
    three times)."""

    VECTORISED_READS = 4_000_000

    def predict_probability_from_curve(self, target_time):
        times = np.atleast_1d(np.asarray(target_time, dtype=float))
        distinct, position = np.unique(times, return_inverse=True)
        n = self._pred_survs.shape[0]
        if self.ndim_time != 1 or times.size not in (1, n) or n * distinct.size > self.VECTORISED_READS:
            return super().predict_probability_from_curve(target_time)
        read = self.predict_multi_probabilities_from_curve(distinct)          # (patients, distinct times)
        return read[:, 0] if times.size == 1 else read[np.arange(n), position]


def calibration_metrics(pred: Prediction, y_train, y_test, time_grid, units_per_year) -> tuple[dict, dict]:
    """SurvivalEVAL's D-calibration p-value and its one-time calibration p-value at 1 and 3 years."""
    reasons: dict[str, str] = {}
    evaluator = SharedGridEvaluator(pred.surv, time_grid / units_per_year, y_test["time"] / units_per_year,
                                  y_test["event"], y_train["time"] / units_per_year, y_train["event"])
    try:
        out = {"dcal_p": float(evaluator.d_calibration()[0])}
    except ValueError as error:
        out = {"dcal_p": nan_because(reasons, "dcal_p", f"SurvivalEVAL: {error}")}
    time, event = y_test["time"] / units_per_year, y_test["event"]
    for years in CALIBRATION_HORIZONS_YEARS:
        name = f"onecal_{years}y_p"
        if not (event & (time <= years)).any() or time.max() < years:
            out[name] = nan_because(reasons, name,
                                    f"no event before {years}y, or follow-up ends before it, in the test fold")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out[name] = float(evaluator.one_calibration(target_time=years, adjust_variance=False)[0])
            except (ValueError, ZeroDivisionError, np.linalg.LinAlgError) as error:
                out[name] = nan_because(reasons, name, f"SurvivalEVAL: {error}")
        if np.isnan(out[name]) and name not in reasons:
            reasons[name] = "SurvivalEVAL: undefined (a bin with zero variance)"
    return out, reasons


def own_year_metrics(pred: Prediction, y_train, y_test, units_per_year) -> tuple[dict, dict]:
    """OWN_METRICS of the method's own read-out as ``<name>_own``; empty when it has none."""
    if pred.own_year is None:
        return {}, {}
    values, reasons = year_metrics(pred.own_year, y_train, y_test, units_per_year)
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
    values, reasons = year_metrics(pred.year, y_train, y_test, units_per_year)
    status = pred.year_status
    if status is None:
        status = year_status_from_survival(pred.surv, time_grid, units_per_year)
    values["taa_yearwise"], reason = yearwise_accuracy(status, time_years, y_test["event"])
    if reason:
        reasons["taa_yearwise"] = reason
    for part in (own_year_metrics(pred, y_train, y_test, units_per_year),
                 survival_metrics(pred, y_train, y_test, time_grid, units_per_year),
                 calibration_metrics(pred, y_train, y_test, time_grid, units_per_year)):
        values.update(part[0])
        reasons.update(part[1])
    too_short = short_follow_up(y_train, y_test, units_per_year)
    if too_short:
        for name in [name for name in values if name.removesuffix("_own") in YEAR_METRICS]:
            values[name] = nan_because(reasons, name, too_short)
    own = [name for name in values if name.endswith("_own")]
    return {name: values[name] for name in (*METRIC_NAMES, *own)}, reasons
