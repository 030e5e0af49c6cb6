"""The synthetic generator: deterministic, internally consistent, calibrated on the real cohort."""
import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from benchmark import datasets
from benchmark.data import anatomy, calibration, scenarios, splits, synthetic
from benchmark.data import mskcc as real_tables
from benchmark.datasets import mskcc, parse_spec
from benchmark.datasets.tcia import cohort_from_clinical
from benchmark.harness import runner


def cindex(table: pd.DataFrame, risk, endpoint: str = "dfs") -> float:
    time_column, event_column = {"os": ("overall_survival_months", "vital_status"),
                                 "dfs": ("months_to_DFS_progression", "vital_status_DFS")}[endpoint]
    return concordance_index_censored(table[event_column].astype(bool).to_numpy(), table[time_column].to_numpy(),
                                      np.asarray(risk, float))[0]


@pytest.fixture(scope="module")
def large_draws():
    """Every scenario of one large draw (the same patients), at the published point estimates: a single draw's
    coefficients spread around them by design."""
    drawn = synthetic.draw_patients(4000, seed=7, coefficients=synthetic.Coefficients.central())
    return {scenario: synthetic.assign_outcomes(drawn, scenario, seed=7) for scenario in scenarios.SCENARIOS}


def test_same_seed_same_cohort_other_seed_differs():
    a, b, c = synthetic.generate(30, seed=1), synthetic.generate(30, seed=1), synthetic.generate(30, seed=2)
    assert a.clinical.equals(b.clinical) and a.tumours.equals(b.tumours)
    assert not a.clinical["age"].equals(c.clinical["age"])


def test_ids_follow_tcia_and_skip_1024():
    ids = synthetic.patient_ids(197)
    assert ids[0] == "CRLM-CT-1001" and ids[-1] == "CRLM-CT-1198" and "CRLM-CT-1024" not in ids


def test_scenarios_share_the_patients_and_differ_only_in_outcomes():
    drawn = synthetic.draw_patients(40, seed=4)
    mixed, null = (synthetic.assign_outcomes(drawn, scenario, seed=4) for scenario in ("mixed", "null"))
    covariates = [c for c in mixed.clinical.columns if c in calibration.DRAWN_COLUMNS]
    assert mixed.clinical[covariates].equals(null.clinical[covariates])
    assert mixed.tumours.equals(null.tumours)
    assert not mixed.clinical["months_to_DFS_progression"].equals(null.clinical["months_to_DFS_progression"])
    with pytest.raises(ValueError, match="unknown scenario"):
        synthetic.assign_outcomes(drawn, "lesion-shape", seed=4)


def test_anatomy_agrees_with_the_clinical_columns(drawn_cohort):
    table, tumours = drawn_cohort.clinical, drawn_cohort.tumours
    largest = tumours.groupby("patient_id")["radius_mm"].max() * 2
    measured = np.maximum(10 * table["max_tumor_size"], anatomy.MIN_DIAMETER_MM)
    mean, sd = calibration.calibration().diameter_log_ratio
    log_ratio = np.log(largest.loc[table.index] / measured)
    assert abs(log_ratio.mean() - mean) < 0.08 and abs(log_ratio.std() - sd) < 0.08
    lobes = tumours.groupby("patient_id")["lobe"].nunique().loc[table.index]
    counts = tumours.groupby("patient_id").size().loc[table.index]
    assert (lobes[table["bilobar_disease"] == 0] == 1).all()
    assert (lobes[(table["bilobar_disease"] == 1) & (counts > 1)] == 2).all()
    assert (tumours["radius_mm"] * 2 >= anatomy.MIN_DIAMETER_MM - 1e-9).all()
    assert drawn_cohort.patients["remnant_fraction"].between(0.2, 0.8).all()


def test_derived_columns_follow_the_real_tables_rules(drawn_cohort):
    table = drawn_cohort.clinical
    known = table["clinrisk_score"].notna()
    assert (table.loc[known, "clinrisk_stratified"] == (table.loc[known, "clinrisk_score"] >= 3)).all()
    assert table.loc[~known, "clinrisk_stratified"].isna().all()
    assert (table["NASH_greater_4"] == (table["NASH_score"] >= 4)).all()
    real = real_tables.read_clinical()
    assert (real["clinrisk_stratified"].dropna() == (real["clinrisk_score"].dropna() >= 3)).all()
    assert (real["NASH_greater_4"] == (real["NASH_score"] >= 4)).all()


def test_missing_values_come_in_the_real_pattern(drawn_cohort):
    table = drawn_cohort.clinical
    lacking = table["carcinoembryonic_antigen"].isna()
    assert lacking.any()
    assert table.loc[lacking, "clinrisk_score"].isna().all() and table.loc[~lacking, "clinrisk_score"].notna().all()


def test_outcomes_are_consistent(drawn_cohort):
    table = drawn_cohort.clinical
    assert (table["months_to_DFS_progression"] <= table["overall_survival_months"] + 1e-9).all()
    died = table["vital_status"] == 1
    assert (table.loc[died, "vital_status_DFS"] == 1).all()
    assert table["overall_survival_months"].max() <= real_tables.read_clinical()["overall_survival_months"].max() + 0.1


@pytest.mark.slow
def test_the_default_scenarios_true_risk_ranks_as_the_published_ct_models(large_draws):
    mixed = large_draws["mixed"]
    assert cindex(mixed.clinical, mixed.patients["true_risk_dfs"]) == pytest.approx(0.714, abs=0.02)
    assert cindex(mixed.clinical, mixed.patients["true_risk_os"], "os") == pytest.approx(0.755, abs=0.02)


@pytest.mark.slow
def test_image_scenarios_carry_signal_and_the_null_scenario_none(large_draws):
    oracle = {name: cindex(draw.clinical, draw.patients["true_risk_dfs"]) for name, draw in large_draws.items()}
    assert oracle["null"] == pytest.approx(0.5, abs=1e-9)
    for scenario in ("burden", "spatial", "mixed"):
        assert oracle[scenario] > oracle["clinical"] + 0.05
    null = large_draws["null"]
    for column in ("max_tumor_size", "age", "clinrisk_score"):
        assert cindex(null.clinical, null.clinical[column].fillna(0)) == pytest.approx(0.5, abs=0.03)


def harness_cindex(cohort, endpoint: str, tmp_path, repeats: int) -> float:
    """Mean test C-index of the harness's coxph over `repeats` x 5-fold CV of an in-memory cohort."""
    spec = datasets.parse_spec(mskcc.NAME)
    config = runner.RunConfig(datasets=[parse_spec(mskcc.NAME)], methods=["coxph"], output=tmp_path, data_dir=tmp_path)
    runner._COHORTS[(spec, tmp_path)] = cohort
    values = []
    try:
        for split in splits.make_splits(cohort, endpoint, "cv", 5, repeats, seed=0):
            cell = runner.results.Cell(cohort.name, endpoint, "cv", "preoperative", "coxph", split.repeat,
                                       split.fold, {})
            output = runner.compute_cell(cell, spec, split, config)
            assert output.status == "ok", output.record.get("error")
            values.append(output.record["metrics"]["cindex_harrell"])
    finally:
        del runner._COHORTS[(spec, tmp_path)]
    return float(np.mean(values))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["mixed", "clinical"])
@pytest.mark.parametrize("endpoint", ["os", "dfs"])
def test_clinical_cox_scores_what_it_scores_on_the_real_table(scenario, endpoint, tmp_path):
    """Cox-PH through the harness, 5-fold CV: real table (x 5) vs 24 draws of 197 of the default scenario and of
    the clinical one (whose scale was set on other draws, cohort seeds 300-339). One draw's C varies with sd
    0.03-0.04, so the mean of 24 is known to about 0.008 (six draws of the clinical scenario read 0.631)."""
    real = harness_cindex(mskcc.load_mskcc(), endpoint, tmp_path, repeats=5)
    synthetic_c = np.mean([
        harness_cindex(cohort_from_clinical(synthetic.generate(197, seed=100 + draw, scenario=scenario).clinical,
                                            "crlm", None), endpoint, tmp_path, repeats=1)
        for draw in range(24)])
    assert synthetic_c == pytest.approx(real, abs=0.03)


def test_the_rescaled_scenarios_scale_the_default_image_term_and_nothing_else(drawn_cohort):
    patients = drawn_cohort.patients
    mixed = synthetic.scenario_log_hazards(patients, "mixed")
    for name, (base, factor) in scenarios.RESCALED.items():
        assert base == "mixed"
        rescaled = synthetic.scenario_log_hazards(patients, name)
        for transition in ("recurrence", "post"):
            clinical_part = patients[f"clinical_lp_{transition}"]
            np.testing.assert_allclose(rescaled[f"true_lp_{transition}"] - clinical_part,
                                       factor * (mixed[f"true_lp_{transition}"] - clinical_part))
        np.testing.assert_array_equal(rescaled["true_lp_death"], mixed["true_lp_death"])


def test_the_scenarios_with_an_image_term_are_those_whose_image_score_varies(drawn_cohort):
    base = {s: scenarios.RESCALED.get(s, (s,))[0] for s in scenarios.SCENARIOS}
    varies = {s for s in scenarios.SCENARIOS if drawn_cohort.patients[f"image_score_{base[s]}"].std() > 0}
    assert varies == set(scenarios.WITH_IMAGE_TERM)


def test_each_draw_has_its_own_coefficients_within_the_published_intervals():
    draws = [synthetic.Coefficients.draw(seed) for seed in range(200)]
    assert synthetic.Coefficients.draw(3) == draws[3] and draws[3] != draws[4]
    size_low, size_high = synthetic.BURDEN_SIZE_LOG_HR[2]
    texture_low, texture_high = synthetic.TEXTURE_LOG_HR[2]
    for c in draws:
        assert size_low <= c.size_per_log_cm <= size_high and texture_low <= c.texture_per_sd <= texture_high
        for name, (low, high) in synthetic.BURDEN_COUNT_LOG_HR.items():
            assert low <= getattr(c, name) <= high
    central = synthetic.Coefficients.central()
    assert np.mean([c.size_per_log_cm for c in draws]) == pytest.approx(central.size_per_log_cm, abs=0.03)
    assert np.mean([c.texture_per_sd for c in draws]) == pytest.approx(central.texture_per_sd, abs=0.04)


def test_the_default_image_term_carries_the_draws_published_log_hazard_ratios(drawn_cohort):
    """A least-squares fit of the default's recurrence log-HR on its terms returns the draw's coefficients."""
    patients, c = drawn_cohort.patients, drawn_cohort.coefficients
    assert c == synthetic.Coefficients.draw(3)   # the fixture's seed
    n = patients["n_tumours"]
    reference = synthetic._score_reference()
    unpublished = sum(w * patients[f"image_score_{name}"] for name, w in synthetic.UNPUBLISHED_WEIGHTS.items())
    design = np.column_stack([np.log(patients["max_diameter_mm"] / 10), n.between(2, 4), n >= 5,
                              patients["image_score_texture"], unpublished, np.ones(len(patients))])
    fitted, *_ = np.linalg.lstsq(design, synthetic.IMAGE_STRENGTH * patients["image_score_mixed"], rcond=None)
    np.testing.assert_allclose(fitted[:5], [c.size_per_log_cm, c.two_to_four, c.five_or_more, c.texture_per_sd,
                                            reference.unpublished_scale], atol=1e-8)
