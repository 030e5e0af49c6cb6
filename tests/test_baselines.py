"""Clinical baselines: output contract on every registered tabular method, and Cox-PH vs scikit-survival."""
import numpy as np
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from benchmark import methods, splits
from benchmark.methods import FoldData

TABULAR = ["coxph", "coxnet", "rsf", "gbsa", "fong"]


def fold_data(cohort, split, endpoint="dfs", feature_set="preoperative"):
    def side(ids):
        return FoldData(cohort, np.array(ids), endpoint, feature_set, seed=0)
    return side(split.train), side(split.test)


@pytest.mark.parametrize("name", TABULAR)
def test_tabular_method_contract(name, clinical_cohort):
    """The Prediction contract on every fold, and a C-index above chance over the whole repeat (one
    fold of 20 patients is too small to tell a weak score such as Fong's from chance)."""
    c = []
    for split in splits.make_splits(clinical_cohort, "dfs", "cv", 4, 1, seed=0):
        train, test = fold_data(clinical_cohort, split)
        model = methods.get(name)().fit(train)
        prediction = model.predict(test)
        prediction.validate(len(test), len(test.time_grid))
        assert prediction.year.min() >= 0 and prediction.year.max() <= 12
        assert model.n_params() >= 0
        c.append(concordance_index_censored(test.y["event"], test.y["time"], prediction.risk)[0])
    assert np.mean(c) > 0.55, f"{name} ranks no better than chance on the synthetic cohort: {np.mean(c):.3f}"


def test_unknown_method_and_parameter_are_named():
    with pytest.raises(methods.MethodError, match="unknown method 'coxx'.*coxph"):
        methods.get("coxx")
    with pytest.raises(methods.MethodError, match="unknown parameter.*'alhpa'"):
        methods.get("coxph")(alhpa=1)


def test_oracle_uses_truth_and_is_refused_without_it(clinical_cohort, gbsg2):
    oracle = methods.get("oracle")
    assert oracle.applicable(gbsg2)
    split = splits.make_splits(clinical_cohort, "dfs", "cv", 4, 1, seed=0)[0]
    train, test = fold_data(clinical_cohort, split)
    prediction = oracle().fit(train).predict(test)
    truth = clinical_cohort.truth.loc[list(split.test), "true_risk_dfs"].to_numpy()
    assert np.array_equal(prediction.risk, truth)
    assert np.allclose(1 - prediction.surv[:, 36], truth, atol=0.02)  # true risk = 1 - S(36 months)


def test_fong_is_not_applicable_to_other_cohorts(gbsg2):
    assert "CRLM clinical columns" in methods.get("fong").applicable(gbsg2)


def test_coxph_matches_scikit_survival_on_gbsg2_splits(gbsg2):
    """The harness's Cox-PH (imputation, scaling, grid) reaches scikit-survival's own C-index."""
    harness, reference = [], []
    for split in splits.make_splits(gbsg2, "dfs", "cv", 5, 2, seed=0):
        train, test = fold_data(gbsg2, split, feature_set="clinical")
        prediction = methods.get("coxph")().fit(train).predict(test)
        harness.append(concordance_index_censored(test.y["event"], test.y["time"], prediction.risk)[0])
        model = CoxPHSurvivalAnalysis().fit(train.X.to_numpy(), train.y)
        reference.append(concordance_index_censored(test.y["event"], test.y["time"],
                                                    model.predict(test.X.to_numpy()))[0])
    assert abs(np.mean(harness) - np.mean(reference)) < 0.02
    assert 0.62 < np.mean(harness) < 0.75  # published GBSG2 Cox C-index is about 0.68
