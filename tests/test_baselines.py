"""Clinical baselines: output contract on every registered tabular method, and Cox-PH vs scikit-survival."""
import warnings

import numpy as np
import pytest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from benchmark import methods
from benchmark.data import splits, synthetic
from benchmark.datasets.tcia import cohort_from_clinical
from benchmark.methods import FoldData

TABULAR = ["coxph", "coxnet", "rsf", "gbsa", "fong"]


def fold_data(cohort, split, endpoint="dfs", feature_set="preoperative"):
    def side(ids):
        return FoldData(cohort, np.array(ids), endpoint, feature_set, seed=0)
    return side(split.train), side(split.test)


@pytest.fixture(scope="module")
def ranking_cohort():
    """800 patients of the `clinical` scenario (tables only): enough to tell a weak clinical score such as
    Fong's (C about 0.55 on every scenario of the grid) from chance, whatever the world draws."""
    return cohort_from_clinical(synthetic.generate(800, seed=3, scenario="clinical").clinical, "crlm-ranking", None)


@pytest.mark.parametrize("name", TABULAR)
def test_tabular_method_contract(name, ranking_cohort):
    """The Prediction contract on every fold, and out-of-fold risks that rank above chance over the whole
    repeat: their C-index more than two bootstrap standard errors above 0.5."""
    risk, time, event = [], [], []
    for split in splits.make_splits(ranking_cohort, "dfs", "cv", 4, 1, seed=0):
        train, test = fold_data(ranking_cohort, split)
        model = methods.get(name)().fit(train)
        prediction = model.predict(test)
        prediction.validate(len(test), len(test.time_grid))
        assert prediction.year.min() >= 0 and prediction.year.max() <= 12
        assert model.n_params() >= 0
        risk.append(prediction.risk), time.append(test.y["time"]), event.append(test.y["event"])
    risk, time, event = (np.concatenate(parts) for parts in (risk, time, event))
    c = concordance_index_censored(event, time, risk)[0]
    rng = np.random.default_rng(0)
    resamples = (rng.integers(len(risk), size=len(risk)) for _ in range(200))
    se = np.std([concordance_index_censored(event[i], time[i], risk[i])[0] for i in resamples])
    assert c - 2 * se > 0.5, f"{name} ranks no better than chance on the synthetic cohort: C {c:.3f}, se {se:.3f}"


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



def separating_fold():
    """A training fold of the real post-operative DFS table on which a nearly unpenalised Cox fit
    diverges (found by search: event-stratified 5-fold, seed 1, fold 2)."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from benchmark import datasets
    from benchmark.features.feature_selection import CorrelationFilter
    from benchmark.features.preprocessing import tabular_pipeline
    from benchmark.methods.tabular import DUPLICATE_R
    cohort = datasets.load("mskcc-crlm")
    X, y = cohort.clinical[cohort.feature_sets["postoperative"]].to_numpy(float), cohort.y("dfs")
    train, _ = list(StratifiedKFold(5, shuffle=True, random_state=1).split(X, y["event"]))[2]
    return make_pipeline(tabular_pipeline(), CorrelationFilter(DUPLICATE_R)).fit_transform(X[train], y[train]), y[train]


def test_coxph_raises_its_penalty_where_the_fit_diverges():
    from baselines.coxph import StabilisedCoxPH
    X, y = separating_fold()
    with pytest.raises(ValueError, match="search direction"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CoxPHSurvivalAnalysis(alpha=1e-4, ties="breslow").fit(X, y)
    model = StabilisedCoxPH(1e-4).fit(X, y)
    assert model.alpha_ > 1e-4 and np.isfinite(model.coef_).all()
    assert StabilisedCoxPH(1e-4).fit(X[:, :5], y).alpha_ == 1e-4   # five pre-operative columns: no divergence


def test_coxnet_path_search_survives_separation_and_counts_diverged_penalties():
    from baselines.coxnet import N_ALPHAS, InnerCVCoxnet
    X, y = separating_fold()
    model = InnerCVCoxnet(0.5, 3, seed=0).fit(X, y)
    assert 0 <= model.n_failed_alphas_ < N_ALPHAS and np.isfinite(model.predict(X)).all()
    assert model.alpha_ in set(model.grid(X, y))
