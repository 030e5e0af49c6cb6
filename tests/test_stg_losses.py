"""STG losses on hand-checked cases."""
import math

import pytest
import torch

from benchmark.methods import losses


def test_censored_patient_contributes_only_the_years_it_survived():
    logits = torch.zeros(1, 12, requires_grad=True)   # hazard 0.5 every year
    loss = losses.discrete_time_nll(logits, torch.tensor([3]), torch.tensor([False]))
    assert loss.item() == pytest.approx(3 * math.log(2))   # survived years 0, 1, 2
    loss.backward()
    assert (logits.grad[0, :3] > 0).all() and (logits.grad[0, 3:] == 0).all()


def test_event_adds_the_hazard_of_its_year():
    logits = torch.zeros(1, 12)
    loss = losses.discrete_time_nll(logits, torch.tensor([3]), torch.tensor([True]))
    assert loss.item() == pytest.approx(4 * math.log(2))


def test_survival_and_expected_years():
    logits = torch.full((1, 12), -1e4)   # no hazard: event-free for all 12 years
    assert losses.survival_at_year_ends(logits).min().item() == pytest.approx(1.0)
    assert losses.expected_years(logits).item() == pytest.approx(12.0)
    certain = torch.full((1, 12), 1e4)   # event in year 0: S = 1 then 0
    assert losses.expected_years(certain).item() == pytest.approx(0.5)


def test_event_year_regression_is_censoring_aware():
    event, censored = torch.tensor([True]), torch.tensor([False])
    assert losses.event_year_loss(torch.tensor([5.0]), torch.tensor([5.0]), event).item() == 0
    assert losses.event_year_loss(torch.tensor([7.0]), torch.tensor([5.0]), event).item() > 0
    # censored at 5 years: predicting later is not wrong, predicting earlier is
    assert losses.event_year_loss(torch.tensor([9.0]), torch.tensor([5.0]), censored).item() == 0
    assert losses.event_year_loss(torch.tensor([2.0]), torch.tensor([5.0]), censored).item() > 0


def test_info_nce_lower_for_aligned_pairs():
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(16, 8, generator=generator)
    aligned = losses.info_nce(image, image + 0.05 * torch.randn(16, 8, generator=generator))
    shuffled = losses.info_nce(image, image[torch.randperm(16, generator=generator)])
    assert aligned.item() < 0.5 < shuffled.item()


def test_cox_partial_likelihood_by_hand():
    risk = torch.tensor([1.0, 0.0, 2.0])
    time = torch.tensor([1.0, 2.0, 3.0])
    event = torch.tensor([True, False, True])
    expected = -((1 - math.log(math.e + 1 + math.e ** 2)) + (2 - 2)) / 2
    assert losses.cox_partial_nll(risk, time, event).item() == pytest.approx(expected, rel=1e-6)
    # Breslow ties: both tied events share the same risk set
    tied = losses.cox_partial_nll(risk, torch.tensor([1.0, 1.0, 3.0]), torch.tensor([True, True, False]))
    denominator = math.log(math.e + 1 + math.e ** 2)
    assert tied.item() == pytest.approx(-((1 - denominator) + (0 - denominator)) / 2, rel=1e-6)


def test_the_ranking_term_orders_events_the_yearly_likelihood_cannot():
    """Two events in the same year: swapping their predictions leaves the yearly likelihood as it was, while the
    ranking term (a Cox partial likelihood on the exact times) prefers the earlier event at the higher risk."""
    from types import SimpleNamespace

    from benchmark.methods.layers import Output
    from benchmark.methods.training import TrainConfig, objective
    config = TrainConfig(lr=1e-3, weight_decay=0.0, max_epochs=1, patience=1, contrastive_weight=0.0,
                         regression_weight=0.0, ranking_weight=0.5, temperature=0.1)
    batch = SimpleNamespace(year=torch.tensor([0, 0, 3]), event=torch.tensor([True, True, False]),
                            time=torch.tensor([2.0, 10.0, 40.0]), years=torch.tensor([2.0, 10.0, 40.0]) / 12)
    riskier, safer = torch.full((12,), 0.5), torch.full((12,), -1.0)
    right = torch.stack([riskier, safer, safer])   # the event at 2 months has the higher hazard
    wrong = torch.stack([safer, riskier, safer])
    right_loss, right_parts = objective(Output(logits=right), batch, config)
    wrong_loss, wrong_parts = objective(Output(logits=wrong), batch, config)
    assert right_parts["survival"].item() == pytest.approx(wrong_parts["survival"].item())
    assert right_parts["ranking"].item() < wrong_parts["ranking"].item()
    expected = 0.5 * losses.cox_partial_nll(-losses.expected_years(right), batch.time, batch.event)
    assert right_parts["ranking"].item() == pytest.approx(expected.item())
    # weight 0 (the term off) adds no part
    _, parts = objective(Output(logits=right), batch, TrainConfig(**{**config.__dict__, "ranking_weight": 0.0}))
    assert "ranking" not in parts
