"""The synthetic generator: deterministic, internally consistent, matched to the real statistics."""
import numpy as np
import pytest
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import kaplan_meier_estimator

from benchmark.data import synthetic


def km_median(time, event) -> float:
    x, y = kaplan_meier_estimator(event.astype(bool), time)
    return float(x[np.argmax(y <= 0.5)])


def test_same_seed_same_cohort_other_seed_differs():
    a, b, c = synthetic.generate(30, seed=1), synthetic.generate(30, seed=1), synthetic.generate(30, seed=2)
    assert a.clinical.equals(b.clinical) and a.tumours.equals(b.tumours)
    assert not a.clinical["age"].equals(c.clinical["age"])


def test_ids_follow_tcia_and_skip_1024():
    ids = synthetic.patient_ids(197)
    assert ids[0] == "CRLM-CT-1001" and ids[-1] == "CRLM-CT-1198" and "CRLM-CT-1024" not in ids


def test_clinical_columns_are_read_off_the_anatomy(drawn_cohort):
    table, patients, tumours = drawn_cohort.clinical, drawn_cohort.patients, drawn_cohort.tumours
    counts = tumours.groupby("patient_id").size()
    assert (table["multiple_metastases"] == (counts.loc[table.index] > 1).astype(int)).all()
    largest = tumours.groupby("patient_id")["radius_mm"].max() * 2 / 10
    log_error = np.log(table["max_tumor_size"] / largest.loc[table.index])
    assert abs(log_error.mean()) < 0.05 and abs(log_error.std() - synthetic.MAX_SIZE_MEASUREMENT_SD) < 0.05
    assert np.corrcoef(table["max_tumor_size"], largest.loc[table.index])[0, 1] > 0.7
    lobes = tumours.groupby("patient_id")["lobe"].nunique()
    assert (table["bilobar_disease"] == (lobes.loc[table.index] > 1).astype(int)).all()
    known = table["clinrisk_score"].notna()
    fong = (table["node_positive_primary"] + table["synchronous_crlm"] + table["multiple_metastases"]
            + (table["carcinoembryonic_antigen"] > 200) + (table["max_tumor_size"] > 5))
    assert (table.loc[known, "clinrisk_score"] == fong[known]).all()
    assert (patients["remnant_fraction"].between(0.2, 0.75)).all()


def test_remnant_plane_leaves_the_stated_volume_fraction():
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (200_000, 3))
    points = points[(points**2).sum(1) <= 1]
    for fraction in (0.25, 0.5, 0.7):
        plane = synthetic._remnant_plane(1.0, fraction)
        assert (points[:, 0] > plane).mean() == pytest.approx(fraction, abs=0.01)


def test_outcomes_are_consistent(drawn_cohort):
    table = drawn_cohort.clinical
    assert (table["months_to_DFS_progression"] <= table["overall_survival_months"] + 1e-9).all()
    died = table["vital_status"] == 1
    assert (table.loc[died, "vital_status_DFS"] == 1).all()
    assert table["overall_survival_months"].max() <= synthetic.FOLLOW_UP_MAX


@pytest.mark.slow
def test_large_draw_matches_the_real_cohort_statistics():
    cohort = synthetic.generate(1500, seed=11)
    table = cohort.clinical
    assert km_median(table["overall_survival_months"].to_numpy(), table["vital_status"].to_numpy()) == \
        pytest.approx(77, abs=10)
    assert km_median(table["months_to_DFS_progression"].to_numpy(), table["vital_status_DFS"].to_numpy()) == \
        pytest.approx(23, abs=4)
    assert table["vital_status_DFS"].mean() == pytest.approx(0.67, abs=0.06)
    assert table["multiple_metastases"].mean() == pytest.approx(0.57, abs=0.06)
    assert table["sex"].eq(1).mean() == pytest.approx(0.57, abs=0.04)
    assert table["clinrisk_score"].median() == 2
    assert table["clinrisk_stratified"].mean() == pytest.approx(0.31, abs=0.07)
    assert table["clinrisk_score"].isna().mean() == pytest.approx(29 / 197, abs=0.01)
    # the true risk ranks outcomes well, better than any clinical column alone
    event, time = table["vital_status_DFS"].astype(bool), table["months_to_DFS_progression"]
    oracle = concordance_index_censored(event, time, cohort.patients["true_risk_dfs"].to_numpy())[0]
    fong = concordance_index_censored(event, time, table["clinrisk_score"].fillna(2).to_numpy())[0]
    assert 0.7 < oracle < 0.85 and fong < oracle - 0.05
