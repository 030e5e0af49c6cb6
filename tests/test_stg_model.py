"""STG model, training and method contract: parameter counts, lite ratio, determinism, learning, leakage."""
import numpy as np
import pytest
import torch
from stg_fakes import fake_cohort

from benchmark import methods
from benchmark.data import splits
from benchmark.methods import FoldData
from benchmark.methods.inputs import GraphInputs
from benchmark.methods.layers import n_trainable
from benchmark.scoring.metrics import evaluate, median_survival_years, year_status_from_survival
from benchmark.scoring.year_metrics import year_metrics
from stg.methods import LITE_RATIO, Stg
from stg.model import StgNetwork, lite_config

NEURAL = ["stg", "stg-lite", "stg-union-tumour", "stg-no-contrastive", "stg-no-temporal", "stg-no-edge-attributes",
          "stg-homogeneous", "stg-no-message-passing", "stg-clinical-only", "stg-image-only", "gcn", "gat", "sage",
          "mlp", "deepsurv"]
#: Input widths of the CPU profile on the synthetic cohort: 107 radiomics features + present flag (the CT node
#: also its 2 global scalars), 18 clinical, 6 per lesion.
DIMS = {"anatomy": 108, "ct": 110, "clinical": 18, "lesion": 6}
FULL_PARAMS = 236_771
LITE_PARAMS = 51_929   # hidden 28, year embeddings 7, contrastive 14: 21.93 %
#: STG's configuration from the method's default parameters (the widths do not depend on the inputs).
CONFIG = Stg().network_config(DIMS)


@pytest.fixture(scope="module")
def cohort(drawn_cohort):
    return fake_cohort(drawn_cohort)


@pytest.fixture(scope="module")
def folds(cohort):
    split = splits.make_splits(cohort, "dfs", "cv", 4, 1, seed=0)[0]

    def side(ids):
        return FoldData(cohort, np.array(ids), "dfs", "preoperative", seed=7)
    return side(split.train), side(split.test)


def test_parameter_counts_full_and_lite():
    full = StgNetwork(DIMS, CONFIG)
    lite = StgNetwork(DIMS, lite_config(DIMS, CONFIG, LITE_RATIO))
    assert (n_trainable(full), n_trainable(lite)) == (FULL_PARAMS, LITE_PARAMS)
    assert abs(n_trainable(lite) / n_trainable(full) - LITE_RATIO) <= 0.01


def test_lite_ratio_holds_for_other_input_widths():
    for dims in ({"anatomy": 9, "ct": 11, "clinical": 30, "lesion": 6}, {"anatomy": 513, "ct": 515, "clinical": 15,
                                                                         "lesion": 6}):
        ratio = n_trainable(StgNetwork(dims, lite_config(dims, CONFIG, LITE_RATIO))) / n_trainable(
            StgNetwork(dims, CONFIG))
        assert abs(ratio - LITE_RATIO) <= 0.01, dims


@pytest.mark.parametrize("name", NEURAL)
def test_method_contract(name, folds):
    train, test = folds
    model = methods.get(name)(max_epochs=4).fit(train)
    prediction = model.predict(test)
    prediction.validate(len(test), len(test.time_grid))
    assert prediction.year_status.shape == (len(test), 12)
    assert prediction.year.min() >= 0 and prediction.year.max() <= 12
    assert model.n_params() == sum(p.numel() for p in model.model_.parameters() if p.requires_grad) > 0
    assert "profile cpu" in model.notes and model.stochastic


def test_discrete_time_networks_read_the_year_off_the_curve_and_keep_their_own_apart(folds):
    train, test = folds
    prediction = methods.get("stg")(max_epochs=4).fit(train).predict(test)
    median = median_survival_years(prediction.surv, test.time_grid, test.units_per_year)
    assert np.array_equal(prediction.year, median)
    assert np.allclose(prediction.year_status,
                       year_status_from_survival(prediction.surv, test.time_grid, test.units_per_year))
    assert prediction.own_year_label == "restricted mean" and np.array_equal(prediction.own_year, -prediction.risk)
    assert not np.allclose(prediction.own_year, prediction.year)
    values, _ = evaluate(prediction, train.y, test.y, test.time_grid, test.units_per_year)
    own, _ = year_metrics(prediction.own_year, train.y, test.y, test.units_per_year)
    assert values["mae_po_own"] == own["mae_po"] and values["taa_pm1_events_own"] == own["taa_pm1_events"]


def test_same_seed_same_metrics(folds):
    train, test = folds
    runs = []
    for _ in range(2):
        torch.manual_seed(123)   # a different global state must not matter: the fit seeds itself
        prediction = methods.get("stg")(max_epochs=15).fit(train).predict(test)
        runs.append(evaluate(prediction, train.y, test.y, test.time_grid, test.units_per_year)[0])
        torch.manual_seed(999)
    for key, value in runs[0].items():
        assert runs[1][key] == pytest.approx(value, abs=1e-6, nan_ok=True), key


def test_fit_reduces_the_loss_and_learns_to_rank_its_training_patients(folds):
    """That it learns at all; how well it generalises is the benchmark's question, not a unit test's
    (20 test patients of a calibrated, weak-signal draw move the C-index by 0.1)."""
    from sksurv.metrics import concordance_index_censored
    train, _ = folds
    model = methods.get("stg")().fit(train)
    assert model.history_.train_loss[-1] < 0.9 * model.history_.train_loss[0]
    risk = model.predict(train).risk
    assert concordance_index_censored(train.y["event"], train.y["time"], risk)[0] > 0.65


def test_standardisation_uses_training_patients_only(cohort, folds):
    train, test = folds
    graphs = cohort.artefacts["graphs_radiomics"]
    inputs = GraphInputs(graphs).fit(train)
    raw = np.stack([graphs.graphs[list(graphs.ids).index(pid)].nodes["anatomy"].data["x"].numpy() for pid in train.ids])
    expected = np.nanmean(raw.reshape(len(train), -1), axis=0)
    assert np.allclose(inputs.anatomy_.mean, expected, atol=1e-5)
    batch = inputs.transform(test)
    assert batch.n == len(test) and torch.isfinite(batch.graph.nodes["anatomy"].data["h0"]).all()


def test_log_skewed_inputs_log_the_skewed_columns_fitted_on_training_rows_only():
    from scipy.stats import skew

    from benchmark.methods.inputs import Standardiser
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.lognormal(2.0, 1.2, 200), rng.normal(0.0, 1.0, 200)])
    train[::17, 0] = np.nan   # absent nodes
    plain, logged = Standardiser.fit(train), Standardiser.fit(train, log_skewed=True)
    assert plain.log is None and list(logged.log.logged_) == [True, False]
    finite = np.isfinite(train[:, 0])
    assert abs(skew(logged.transform(train)[finite, 0])) < 0.5 < abs(skew(plain.transform(train)[finite, 0]))
    test = np.array([[np.exp(2.0), 0.0]])   # a test row is transformed with the training statistics
    expected = (np.log(np.exp(2.0) + logged.log.offset_[0]) - logged.mean[0]) / logged.scale[0]
    assert logged.transform(test)[0, 0] == pytest.approx(expected)


def test_gat_width_must_split_into_its_heads():
    with pytest.raises(methods.MethodError, match="not a multiple of 4 heads"):
        methods.get("gat")(hidden=30)


def test_the_contrastive_image_embedding_does_not_see_the_clinical_node(cohort, folds):
    """The image side of InfoNCE comes from the image subgraph alone: other clinical vectors leave it as it
    was (while the prediction, which reads the whole graph, moves), so the pair is not matched by a copy."""
    from dataclasses import replace
    train, _ = folds
    inputs = GraphInputs(cohort.artefacts["graphs_radiomics_lesions"]).fit(train)
    batch = inputs.transform(train)
    network = StgNetwork(inputs.dims, replace(Stg().network_config(inputs.dims), dropout=0.0)).train()
    first = network(batch.graph)
    clinical = batch.graph.nodes["clinical"].data["h0"]
    batch.graph.nodes["clinical"].data["h0"] = clinical.flip(0)
    second = network(batch.graph)
    assert torch.allclose(first.image, second.image, atol=1e-6)
    assert not torch.allclose(first.clinical, second.clinical) and not torch.allclose(first.logits, second.logits)


def test_the_two_tasks_train_together_each_on_its_endpoint(cohort, folds):
    """Survival on the run's endpoint (here OS) and recurrence-risk regression on DFS, in one objective."""
    from benchmark.methods.training import objective
    train, _ = folds
    os_fold = FoldData(cohort, train.ids, "os", "preoperative", seed=7)
    batch = GraphInputs(cohort.artefacts["graphs_radiomics_lesions"]).fit(os_fold).transform(os_fold)
    dfs, os_ = cohort.outcome("dfs", train.ids), cohort.outcome("os", train.ids)
    assert np.allclose(batch.recurrence_years.numpy(), dfs["time"] / cohort.units_per_year, atol=1e-5)
    assert np.allclose(batch.years.numpy(), os_["time"] / cohort.units_per_year, atol=1e-5)
    model = methods.get("stg")(max_epochs=3).fit(os_fold)
    output = model.model_.train()(batch.graph)
    assert output.recurrence.shape == (len(train),) and output.logits.shape == (len(train), 12)
    loss, parts = objective(output, batch, model.train_config())
    assert set(parts) == {"survival", "regression", "contrastive"}
    loss.backward()
    assert model.model_.recurrence.years.weight.grad.abs().sum() > 0
