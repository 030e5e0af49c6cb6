"""In-fold feature selection: the Cox score, the filters, and the proof that test labels cannot leak in."""
import copy

import numpy as np
import pandas as pd
import pytest
from sksurv.metrics import concordance_index_censored

from benchmark import methods
from benchmark.data import splits
from benchmark.data.imaging.prepared import geometry_columns
from benchmark.features.feature_selection import CorrelationFilter, UnivariateCoxSelector, cox_scores
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.methods import FoldData

RADIOMICS = ["radiomics_rsf", "radiomics_coxnet", "radiomics_clinical_coxnet"]


def test_cox_score_ranks_signal_over_noise_and_ignores_constants(clinical_cohort):
    y = clinical_cohort.y("dfs")
    truth = clinical_cohort.truth.loc[clinical_cohort.patient_ids, "total_tumour_volume_ml"].to_numpy()
    rng = np.random.default_rng(0)
    X = np.column_stack([np.log(truth), rng.normal(size=len(y)), np.ones(len(y))])
    scores = cox_scores(X, y)
    assert scores[0] > 10 > scores[1] and scores[2] == 0


def test_correlation_filter_keeps_the_more_prognostic_twin(clinical_cohort):
    y = clinical_cohort.y("dfs")
    signal = np.log(clinical_cohort.truth.loc[clinical_cohort.patient_ids, "total_tumour_volume_ml"].to_numpy())
    rng = np.random.default_rng(1)
    X = np.column_stack([signal + rng.normal(0, 0.3, len(y)), signal, rng.normal(size=len(y))])
    keep = CorrelationFilter(0.9).fit(X, y).get_support()
    assert keep.tolist() == [False, True, True]
    assert CorrelationFilter(0.9).fit(X).get_support().tolist() == [True, False, True]


def fake_radiomics(cohort, leak_ids=(), seed=0) -> FeatureTable:
    """Noise features, one weak true signal, and a `leak` column equal to -time on `leak_ids` only."""
    rng = np.random.default_rng(seed)
    ids = cohort.patient_ids
    tumour = np.log(cohort.truth.loc[ids, "total_tumour_volume_ml"].to_numpy())
    columns = pd.MultiIndex.from_product([NODE_COLUMNS, ["f0", "f1", "f2"]], names=["node", "feature"])
    values = pd.DataFrame(rng.normal(size=(len(ids), len(columns))), index=ids, columns=columns)
    values[("tumour", "f0")] = tumour + rng.normal(0, 1.0, len(ids))
    leak = rng.normal(size=len(ids))
    time = cohort.outcome("dfs")["time"]
    positions = np.isin(ids, list(leak_ids))
    leak[positions] = -time.loc[ids[positions]].to_numpy()
    values[("ct_global", "leak")] = leak
    present = pd.DataFrame(True, index=ids, columns=list(NODE_COLUMNS))
    return FeatureTable("radiomics", values, present, [])


def fake_geometry(cohort) -> pd.DataFrame:
    """A noise geometry row per patient, in the prepared schema."""
    rng = np.random.default_rng(7)
    columns = geometry_columns()
    return pd.DataFrame(rng.normal(size=(len(cohort.patient_ids), len(columns))),
                        index=cohort.patient_ids, columns=columns)


def c_index(model, data) -> float:
    prediction = model.predict(data)
    return concordance_index_censored(data.y["event"], data.y["time"], prediction.risk)[0]


def test_a_feature_leaking_test_labels_does_not_help(clinical_cohort):
    """The leak equals -time on the test patients and is noise on the training ones: a selection or
    standardisation fitted on all patients would pick it and rank the test fold almost perfectly."""
    cohort = copy.copy(clinical_cohort)
    split = splits.make_splits(cohort, "dfs", "cv", 4, 1, seed=0)[0]
    train = FoldData(cohort, np.array(split.train), "dfs", "preoperative", seed=0)
    test = FoldData(cohort, np.array(split.test), "dfs", "preoperative", seed=0)

    cohort.artefacts = {"radiomics": fake_radiomics(cohort, leak_ids=split.test), "geometry": fake_geometry(cohort)}
    with_leak = methods.get("radiomics_coxnet")(n_selected=5).fit(train)
    cohort.artefacts = {"radiomics": fake_radiomics(cohort), "geometry": fake_geometry(cohort)}
    without_leak = methods.get("radiomics_coxnet")(n_selected=5).fit(train)
    assert abs(c_index(with_leak, test) - c_index(without_leak, test)) < 0.05

    # The test can fail: the same selector fitted on every patient does pick the leak.
    leaky = fake_radiomics(cohort, leak_ids=split.test).flat()
    everyone = UnivariateCoxSelector(5).fit(leaky.to_numpy(), cohort.y("dfs"))
    assert "ct_global:leak" in leaky.columns[everyone.get_support()]
    # Fitted on the training fold it selects exactly what it selects when no test patient leaks (the
    # leak column there is noise, which may or may not rank among the top 5 by chance).
    on_train = UnivariateCoxSelector(5).fit(leaky.loc[list(split.train)].to_numpy(), train.y)
    clean = fake_radiomics(cohort).flat()
    on_clean = UnivariateCoxSelector(5).fit(clean.loc[list(split.train)].to_numpy(), train.y)
    assert list(leaky.columns[on_train.get_support()]) == list(clean.columns[on_clean.get_support()])
    assert not np.array_equal(leaky.to_numpy(), clean.to_numpy())


@pytest.mark.parametrize("name", RADIOMICS)
def test_radiomics_methods_contract(name, clinical_cohort):
    cohort = copy.copy(clinical_cohort)
    cohort.artefacts = {"radiomics": fake_radiomics(cohort), "geometry": fake_geometry(cohort)}
    split = splits.make_splits(cohort, "dfs", "cv", 4, 1, seed=0)[0]
    train = FoldData(cohort, np.array(split.train), "dfs", "preoperative", seed=0)
    test = FoldData(cohort, np.array(split.test), "dfs", "preoperative", seed=0)
    method = methods.get(name)
    assert method.requires == ("images", "radiomics")
    assert method.applicable(cohort) == "needs CT images; the dataset has none"
    columns = method().features(train).columns
    assert {"tumour:f0", "geometry:n_tumours"} <= set(columns)
    assert ("preoperative" in name or "clinical" in name) == ("age" in columns)
    model = method(n_selected=4).fit(train)
    model.predict(test).validate(len(test), len(test.time_grid))
    assert model.preprocess_[-1].get_support().sum() == 4
    assert c_index(model, test) > 0.55
