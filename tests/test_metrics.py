"""Metrics: hand-computed year metrics, censoring rules, and agreement with scikit-survival."""
import numpy as np
import pytest
from sksurv.metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from benchmark.data.cohort import structured as make_outcome
from benchmark.scoring.metrics import (
    Prediction,
    censored_at,
    cumulative_aucs,
    evaluate,
    median_survival_years,
    year_metrics,
    yearwise_accuracy,
)


def test_taa_17_of_20_within_one_year_is_085():
    true_years = np.arange(20) % 8 + 3.5
    predicted = true_years.copy()
    predicted[:14] += 1          # 14 off by exactly one year: within ±1
    predicted[17:] -= 3          # 3 off by three years; the remaining 3 exact
    gaps = np.abs(np.floor(predicted) - np.floor(true_years))
    assert (gaps <= 1).sum() == 17
    values, _ = year_metrics(predicted, true_years, np.ones(20, bool))
    assert values["taa_pm1"] == pytest.approx(0.85)
    assert values["taa_pm1_events"] == pytest.approx(0.85)
    assert values["acc_exact"] == pytest.approx(3 / 20)
    assert values["mae_years"] == pytest.approx(gaps.mean())


def test_bins_are_floor_clipped_to_0_11():
    # 13.9 years predicted is bin 11; true 12.5 years is bin 11 too -> exact
    values, _ = year_metrics(np.array([13.9, 0.2]), np.array([12.5, 0.99]), np.array([True, True]))
    assert values["acc_exact"] == 1.0 and values["mae_years"] == 0.0


def test_censoring_rules():
    # censored at year 5: predicted year 2 -> known wrong for exact and ±1, MAE counts the gap 3;
    # predicted year 4 -> wrong for exact (gap 1) but unknown for ±1; predicted 5 or later -> unknown.
    predicted = np.array([2.5, 4.5, 5.5, 8.0])
    censored = np.array([5.5, 5.5, 5.5, 5.5])
    values, _ = year_metrics(predicted, censored, np.zeros(4, bool))
    assert values["n_evaluable_taa"] == 1 and values["taa_pm1"] == 0.0
    assert values["n_evaluable_exact"] == 2 and values["acc_exact"] == 0.0
    assert values["mae_years"] == pytest.approx((3 + 1) / 2)
    assert np.isnan(values["taa_pm1_events"])


def test_all_unknown_gives_nan_with_reason():
    values, reasons = year_metrics(np.array([9.0]), np.array([2.0]), np.array([False]))
    assert np.isnan(values["taa_pm1"]) and reasons["taa_pm1"] == "no evaluable patient"


def test_yearwise_accuracy_uses_known_cells_only():
    # event at 2.5 y: event-free at end of years 0, 1; not at end of 2..11 -> 12 known cells
    # censored at 1.5 y: known event-free at end of year 0 only -> 1 known cell
    status = np.ones((2, 12))
    accuracy, reason = yearwise_accuracy(status, np.array([2.5, 1.5]), np.array([True, False]))
    assert reason is None
    assert accuracy == pytest.approx((2 + 1) / 13)


def test_median_survival_interpolates_and_caps():
    grid = np.array([0.0, 12, 24, 36])
    surv = np.array([[1.0, 0.8, 0.4, 0.2], [1.0, 0.9, 0.8, 0.7]])
    years = median_survival_years(surv, grid, 12.0)
    assert years[0] == pytest.approx(1 + 0.3 / 0.4)
    assert years[1] == 3.0


def random_fold(seed=0, n_train=150, n_test=60):
    rng = np.random.default_rng(seed)
    risk_train = rng.normal(size=n_train)
    risk_test = rng.normal(size=n_test)

    def draw(risk):
        time = rng.exponential(30 * np.exp(-risk)) + 0.5
        censor = rng.uniform(10, 130, len(risk))
        return make_outcome(np.minimum(time, censor), time <= censor)

    return draw(risk_train), draw(risk_test), risk_test


def exponential_prediction(risk: np.ndarray, grid: np.ndarray) -> Prediction:
    """Exponential survival curves with hazard proportional to exp(risk), read out by their median."""
    surv = np.exp(-np.outer(np.exp(risk), grid) / 40)
    return Prediction(risk=risk, surv=surv, year=median_survival_years(surv, grid, 12.0))


def scored_random_fold():
    """A random fold, its exponential predictions on a monthly grid, and their metrics."""
    y_train, y_test, risk = random_fold()
    grid = np.arange(0, 145, 1.0)
    prediction = exponential_prediction(risk, grid)
    values, reasons = evaluate(prediction, y_train, y_test, grid, 12.0)
    return y_train, y_test, grid, prediction, values, reasons


def test_survival_metrics_agree_with_scikit_survival():
    y_train, y_test, grid, prediction, values, reasons = scored_random_fold()
    risk, surv = prediction.risk, prediction.surv
    assert values["cindex_harrell"] == pytest.approx(
        concordance_index_censored(y_test["event"], y_test["time"], risk)[0])
    tau = min(y_test["time"].max(), y_train["time"].max())
    assert values["cindex_uno"] == pytest.approx(concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])
    for years in (1, 3, 5):
        expected = cumulative_dynamic_auc(y_train, y_test, 1 - surv[:, years * 12], [years * 12.0])[0][0]
        assert values[f"auc_{years}y"] == pytest.approx(expected)
    high = min(y_test["time"].max(), y_train["time"][y_train["event"]].max())
    times = grid[(grid >= y_test["time"].min()) & (grid < high)]
    expected_ibs = integrated_brier_score(y_train, y_test, surv[:, times.astype(int)], times)
    assert values["ibs"] == pytest.approx(expected_ibs)
    assert not reasons


def raises_value_error(function) -> bool:
    try:
        function()
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("last_training_time_is_event", [False, True])
@pytest.mark.parametrize("test_patient_event", [False, True])
def test_a_test_patient_beyond_the_training_follow_up_leaves_the_ipcw_metrics_defined(
        last_training_time_is_event, test_patient_event):
    """scikit-survival refuses test times past the training fold's last time (the censoring survival
    is zero there, or unknown); the metrics before that time do not depend on them, so they are
    computed, and are the same however far beyond the patient is."""
    y_train, y_test, risk = random_fold()
    y_train["event"][y_train["time"].argmax()] = last_training_time_is_event
    grid = np.arange(0, 400, 1.0)
    surv = np.exp(-np.outer(np.exp(risk), grid) / 40)
    prediction = Prediction(risk=risk, surv=surv, year=median_survival_years(surv, grid, 12.0))
    last = y_test["time"].argmax()
    results = []
    for beyond in (10.0, 200.0):
        y_far = y_test.copy()
        y_far["time"][last], y_far["event"][last] = y_train["time"].max() + beyond, test_patient_event
        refused = raises_value_error(lambda y=y_far: (
            cumulative_dynamic_auc(y_train, y, 1 - surv[:, 36], [36.0]),
            integrated_brier_score(y_train, y, surv[:, 12:100], grid[12:100])))
        assert refused == (test_patient_event or last_training_time_is_event)
        values, reasons = evaluate(prediction, y_train, y_far, grid, 12.0)
        assert not reasons
        results.append(values)
    for name in ("cindex_uno", "auc_1y", "auc_3y", "auc_5y", "ibs"):
        assert np.isfinite(results[0][name]) and results[0][name] == pytest.approx(results[1][name])


def test_uncomputable_metrics_are_nan_with_reasons():
    y_train, _, _ = random_fold()
    y_test = make_outcome([2.0, 5.0, 8.0], [False, False, False])  # no event, short follow-up
    grid = np.arange(0, 145, 1.0)
    prediction = Prediction(risk=np.zeros(3), surv=np.ones((3, len(grid))), year=np.full(3, 11.0))
    values, reasons = evaluate(prediction, y_train, y_test, grid, 12.0)
    for name in ("cindex_harrell", "auc_1y", "auc_3y", "auc_5y"):
        assert np.isnan(values[name]) and reasons[name]
    assert "no event" in reasons["cindex_harrell"]


def test_prediction_validation_names_the_problem():
    grid_len = 5
    good = Prediction(np.zeros(2), np.tile(np.linspace(1, 0.5, grid_len), (2, 1)), np.ones(2))
    good.validate(2, grid_len)
    bad = Prediction(np.array([0.0, np.inf]), np.tile(np.linspace(0.5, 1, grid_len), (2, 1)), np.ones(2))
    with pytest.raises(ValueError, match="non-finite risk.*survival curve increases"):
        bad.validate(2, grid_len)


def test_yearwise_censored_exactly_at_a_year_end_survived_that_year():
    # censored at 2.0 y: event-free at the ends of years 0 and 1; an event at 2.0 y is not event-free
    # at the end of year 1 (the event happened at that time)
    status = np.tile(np.array([1.0, 1.0] + [0.0] * 10), (2, 1))
    accuracy, _ = yearwise_accuracy(status, np.array([2.0, 2.0]), np.array([False, True]))
    assert accuracy == pytest.approx((2 + 11) / 14)


def test_an_own_read_out_is_scored_apart_and_only_when_present():
    y_train, y_test, grid, plain, values, _ = scored_random_fold()
    risk, surv = plain.risk, plain.surv
    assert not any(name.endswith("_own") for name in values)
    own_year = np.full(len(risk), 3.5)
    with_own = Prediction(risk=risk, surv=surv, year=plain.year, own_year=own_year, own_year_label="constant")
    values_own, _ = evaluate(with_own, y_train, y_test, grid, 12.0)
    expected, _ = year_metrics(own_year, y_test["time"] / 12.0, y_test["event"])
    assert values_own["taa_pm1_own"] == expected["taa_pm1"] and values_own["taa_pm1"] == values["taa_pm1"]
    with pytest.raises(ValueError, match="own_year without own_year_label"):
        Prediction(risk=risk, surv=surv, year=plain.year, own_year=own_year).validate(len(risk), len(grid))


def test_year_metrics_need_follow_up_beyond_the_one_year_window():
    y_train, y_test, risk = random_fold()
    grid = np.arange(0, 145, 1.0)
    surv = np.exp(-np.outer(np.exp(risk), grid) / 40)
    prediction = Prediction(risk=risk, surv=surv, year=np.full(len(risk), 1.5), own_year=np.full(len(risk), 1.5),
                            own_year_label="constant")
    short_train, short_test = (censored_at(y, 33.0) for y in (y_train, y_test))   # 2.75 years, like veterans
    values, reasons = evaluate(prediction, short_train, short_test, grid, 12.0)
    for name in ("taa_pm1", "taa_yearwise", "acc_exact", "mae_years", "taa_pm1_events", "mae_years_events",
                 "taa_pm1_own", "mae_years_own"):
        assert np.isnan(values[name])
        assert reasons[name].startswith("follow-up shorter than the 12-year horizon (max 2.8 y")
    assert np.isfinite(values["cindex_harrell"]) and values["n_evaluable_taa"] > 0
    long_values, long_reasons = evaluate(prediction, y_train, y_test, grid, 12.0)
    assert np.isfinite(long_values["taa_pm1"]) and "taa_pm1" not in long_reasons


@pytest.mark.parametrize("seed", range(5))
def test_the_three_aucs_of_one_call_are_the_aucs_of_one_call_each(seed):
    y_train, y_test, risk = random_fold(seed)
    grid = np.arange(0, 145, 1.0)
    surv = exponential_prediction(risk, grid).surv
    horizons = {"auc_1y": 12.0, "auc_3y": 36.0, "auc_5y": 60.0}
    together = cumulative_aucs(surv, grid, y_train, y_test, horizons, {})
    for name, horizon in horizons.items():
        estimate = 1 - np.array([np.interp(horizon, grid, row) for row in surv])
        assert together[name] == cumulative_dynamic_auc(y_train, y_test, estimate, [horizon])[0][0]   # exactly
