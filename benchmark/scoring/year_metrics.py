"""The year metrics of one test fold: TAA ±1y and the exact-bin accuracy, the MAE in years, the yearwise
calls, and the censoring survival G that the IPCW metrics share (docs/metrics.md).

Every test patient enters every method's number. TAA ±1y and the exact-bin accuracy weight the patients
whose outcome is known by the inverse probability of censoring (`window_scores`); the MAE is
SurvivalEVAL's pseudo-observation MAE in years (Qi et al., ICML 2023), with its hinge and events-only
MAEs beside; the ``*_events`` variants use only patients with an observed event.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.nonparametric import CensoringDistributionEstimator
from SurvivalEVAL import mean_error
from SurvivalEVAL.nonparametric_estimator.single_event import KaplanMeierArea

from benchmark.data.cohort import N_YEARS, year_bin

#: The read-out's cap (a curve above 0.5 throughout predicts 12 years): MAE-PO truncates times there.
HORIZON_YEARS = float(N_YEARS)
#: SurvivalEVAL's MAE under each of its censoring methods; mae_po is the headline MAE.
MAE_METHODS = {"mae_po": "Pseudo_obs", "mae_hinge": "Hinge", "mae_uncensored": "Uncensored"}


def nan_because(reasons: dict, name: str, reason: str) -> float:
    reasons[name] = reason
    return float("nan")


#: Time-adjacent accuracy counts a predicted year bin within this many bins of the true one.
TAA_WINDOW_YEARS = 1


def window_scores(pred_years, censoring: CensoringDistributionEstimator, y_test, units_per_year: float,
                  width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: is the true year bin within ±`width` of the predicted one (NaN where censoring hides
    it), and its inverse-probability-of-censoring weight (0 there).

    The IPCW estimator of Graf et al. (1999, Stat Med 18:2529) for a binary outcome, as scikit-survival's
    Brier score: the outcome is known once the patient has the event or is followed past the time that
    settles it (the window's end; its start when the window is open-ended, as the last bin is), and a
    known outcome is weighted by 1 / G at that time, G (`censoring`) being the Kaplan-Meier survival of
    the censoring fitted on the training fold (the suite's Uno C, AUC and IBS use the same G; the test fold is too
    small to estimate it). As there, times run up to `ipcw_limit`, the last training time with G > 0: a
    window reaching past it is open-ended, which no time observed before it can tell apart.
    """
    limit = ipcw_limit(censoring)
    y = censored_at(y_test, limit)
    time, event = y["time"] / units_per_year, y["event"]
    predicted = year_bin(pred_years)
    start = np.minimum(np.maximum(predicted - width, 0), limit / units_per_year).astype(float)
    end = (predicted + width + 1).astype(float)
    end[(predicted + width >= N_YEARS - 1) | (end > limit / units_per_year)] = np.inf
    settles = np.where(np.isfinite(end), end, start)
    event_first = event & (time < settles)
    survived = time >= settles
    hit = np.full(len(time), np.nan)
    hit[event_first] = (time[event_first] >= start[event_first]) & (time[event_first] < end[event_first])
    hit[survived] = np.isinf(end[survived])
    at = np.minimum(np.where(event_first, time, settles) * units_per_year, limit)   # no rounding past the limit
    weight = np.where(event_first | survived, 1 / censoring.predict_proba(at), 0.0)
    return hit, weight


def po_errors(pred_years, y_train, y_test, units_per_year: float) -> tuple[np.ndarray, np.ndarray]:
    """Per patient: absolute error (years) of the pseudo-observation MAE, and its weight: MAE-PO is
    their weighted mean. SurvivalEVAL scores one patient at a time (its surrogate time for a censored
    patient does not depend on the other test patients) and its Kaplan-Meier gives the weight,
    1 - S(censoring time), it gives a censored patient (1 for an event)."""
    train_time, train_event = y_train["time"] / units_per_year, y_train["event"]
    time, event = y_test["time"] / units_per_year, y_test["event"]
    pred_years = np.asarray(pred_years, dtype=float)
    errors = np.array([mean_error(pred_years[i:i + 1], time[i:i + 1], event[i:i + 1], train_time, train_event,
                                  method="Pseudo_obs", weighted=False, truncation_time=HORIZON_YEARS)
                       for i in range(len(time))])
    weights = np.ones(len(time))
    weights[~event] = 1 - KaplanMeierArea(train_time, train_event).predict(time[~event])
    return errors, weights


def patient_scores(pred_years, y_train, y_test, units_per_year: float) -> pd.DataFrame:
    """What each test patient adds to TAA ±1y and MAE-PO, stored with the predictions for the single
    split's bootstrap over patients (`stats.patient_bootstrap`): each is sum(weight * score) / sum(weight)."""
    hit, weight = window_scores(pred_years, censoring_survival(y_train), y_test, units_per_year, TAA_WINDOW_YEARS)
    errors, error_weights = po_errors(pred_years, y_train, y_test, units_per_year)
    return pd.DataFrame({"taa_pm1_ipcw_score": hit, "taa_pm1_ipcw_weight": weight,
                         "mae_po_score": errors, "mae_po_weight": error_weights})


def weighted_mean(score: np.ndarray, weight: np.ndarray) -> float:
    """sum(weight * score) / sum(weight), scores of weight 0 (NaN where unknown) left out."""
    used = weight > 0
    return float(np.sum(weight[used] * score[used]) / np.sum(weight[used])) if used.any() else float("nan")


def within(pred_years, time_years, width: int) -> np.ndarray:
    """|predicted year bin - true year bin| <= width, the events-only reading."""
    return np.abs(year_bin(pred_years) - year_bin(time_years)) <= width


def year_metrics(pred_years, y_train, y_test, units_per_year: float) -> tuple[dict, dict]:
    """TAA ±1y and exact-bin accuracy (IPCW, and on the events alone), and MAE in years (SurvivalEVAL:
    pseudo-observations, hinge, events alone), every test patient scored for every method."""
    reasons: dict[str, str] = {}
    pred_years = np.asarray(pred_years, dtype=float)
    time, event = y_test["time"] / units_per_year, y_test["event"].astype(bool)
    out = {"n_scored": float(len(time)), "n_events": float(event.sum())}
    censoring = censoring_survival(y_train)
    for name, width in (("taa_pm1", TAA_WINDOW_YEARS), ("acc_exact", 0)):
        out[f"{name}_ipcw"] = weighted_mean(*window_scores(pred_years, censoring, y_test, units_per_year, width))
        if np.isnan(out[f"{name}_ipcw"]):
            reasons[f"{name}_ipcw"] = "no patient followed long enough to tell"
        out[f"{name}_events"] = (float(within(pred_years[event], time[event], width).mean()) if event.any()
                                 else nan_because(reasons, f"{name}_events", "no event in the test fold"))
    train_time, train_event = y_train["time"] / units_per_year, y_train["event"]
    for name, method in MAE_METHODS.items():
        if method == "Uncensored" and not event.any():
            out[name] = nan_because(reasons, name, "no event in the test fold")
            continue
        try:
            out[name] = float(mean_error(pred_years, time, event, train_time, train_event, method=method,
                                         weighted=method == "Pseudo_obs", truncation_time=HORIZON_YEARS))
        except (ValueError, ZeroDivisionError) as error:
            out[name] = nan_because(reasons, name, f"SurvivalEVAL: {error}")
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


def censoring_survival(y_train) -> CensoringDistributionEstimator:
    """G, the Kaplan-Meier estimate of the training fold's censoring survival, behind every IPCW metric."""
    return CensoringDistributionEstimator().fit(y_train)


def ipcw_limit(censoring: CensoringDistributionEstimator) -> float:
    """The last training time at which G is > 0."""
    return float(censoring.unique_time_[censoring.prob_ > 0].max())


def censored_at(y, limit: float) -> np.ndarray:
    """`y` with every time after `limit` censored at `limit`."""
    out = y.copy()
    beyond = out["time"] > limit
    out["event"][beyond] = False
    out["time"][beyond] = limit
    return out
