"""Training objectives of STG and the neural baselines (docs/design.md, STG), on 12 one-year bins.

Shapes: n patients, K = 12 years. `logits` (n, K) are per-year hazard logits: the hazard of year k
is the probability of the event in year k given event-free at its start.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.data.cohort import N_YEARS


def survival_at_year_ends(logits: torch.Tensor) -> torch.Tensor:
    """(n, K + 1) P(event-free at the start of year 0 .. end of year K-1); column 0 is 1."""
    log_survive = F.logsigmoid(-logits).cumsum(dim=1)
    return torch.cat([torch.ones_like(logits[:, :1]), log_survive.exp()], dim=1)


def expected_years(logits: torch.Tensor) -> torch.Tensor:
    """(n,) restricted mean event-free time over the 12 years (trapezoid between year ends)."""
    surv = survival_at_year_ends(logits)
    return 0.5 * (surv[:, 1:] + surv[:, :-1]).sum(dim=1)


def discrete_time_nll(logits: torch.Tensor, year: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the discrete-time hazard model, censoring-aware.

    A patient with the event in year y contributes log(1 - h_k) for k < y and log h_y; a patient
    censored in year c contributes only log(1 - h_k) for k < c, the years known to be event-free.
    year: (n,) long bin 0..11; event: (n,) bool.
    """
    k = torch.arange(logits.shape[1], device=logits.device)[None, :]
    survived = (k < year[:, None]).to(logits.dtype)
    failed = ((k == year[:, None]) & event[:, None]).to(logits.dtype)
    log_likelihood = survived * F.logsigmoid(-logits) + failed * F.logsigmoid(logits)
    return -log_likelihood.sum(dim=1).mean()


def event_year_loss(predicted: torch.Tensor, years: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Censoring-aware regression of the event time in years (Huber, delta 1).

    Events: Huber(predicted - true). Censored: only a prediction before the censoring time is
    wrong (the event happened later), so the loss is Huber(max(0, censoring - predicted)).
    """
    target = years.clamp(max=float(N_YEARS))
    gap = torch.where(event, predicted - target, torch.relu(target - predicted))
    return F.huber_loss(gap, torch.zeros_like(gap), delta=1.0)


def info_nce(image: torch.Tensor, clinical: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE: each patient's image embedding should match its own clinical embedding,
    with every other patient in the batch a negative. image, clinical: (n, d)."""
    image, clinical = F.normalize(image, dim=1), F.normalize(clinical, dim=1)
    logits = image @ clinical.T / temperature
    target = torch.arange(len(image), device=image.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cox_partial_nll(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over events."""
    order = torch.argsort(time, descending=True, stable=True)
    risk, time, event = risk[order], time[order], event[order]
    log_cumulative = torch.logcumsumexp(risk, dim=0)
    # Breslow: tied times share the risk set of the earliest of them (the last in this order).
    _, inverse, counts = torch.unique_consecutive(time, return_inverse=True, return_counts=True)
    last_of_tie = torch.cumsum(counts, dim=0) - 1
    log_risk_set = log_cumulative[last_of_tie][inverse]
    n_events = event.sum().clamp(min=1)
    return -((risk - log_risk_set) * event).sum() / n_events
