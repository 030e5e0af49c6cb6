"""Full-batch training with early stopping on an inner validation split of the training fold.

Shared by STG, its ablations and the neural baselines: one loop, one objective. Deterministic on
CPU: the seed is set at the start of every fit and torch runs its deterministic algorithms.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from benchmark.methods import losses
from benchmark.methods.inputs import Batch
from benchmark.methods.layers import Output


@dataclass(frozen=True)
class TrainConfig:
    """The optimiser and objective settings; the values come from the method's parameters
    (benchmark.methods.neural.DEFAULTS), so there are no defaults here to disagree with them."""

    lr: float
    weight_decay: float
    max_epochs: int
    patience: int
    contrastive_weight: float
    regression_weight: float
    ranking_weight: float
    temperature: float


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1


@contextmanager
def deterministic(seed: int, threads: int = 1):
    """Seeded, deterministic torch for the duration of a fit (the previous modes are restored).

    One intra-op thread by default: on graphs of a few hundred nodes thread hand-offs cost more
    than they save, and on a busy 2-core machine extra threads slow a fit down tenfold.
    """
    previous, previous_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # cuBLAS's deterministic mode, on a GPU
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())   # CUDA lacks a few
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.set_num_threads(previous_threads)


def inner_split(event: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) positions of a training fold, stratified by event when both classes allow."""
    positions = np.arange(len(event))
    stratify = event if min(event.sum(), (~event).sum()) >= 2 else None
    train, val = train_test_split(positions, test_size=fraction, random_state=seed % 2**32, stratify=stratify)
    return np.sort(train), np.sort(val)


def objective(output: Output, batch: Batch, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """(total loss, parts). Survival: discrete-time NLL, or Cox partial NLL. Regression: of the recurrence time
    by STG's recurrence head where the network has one, else of the event year read off the survival head.
    Ranking (discrete-time heads): a Cox partial NLL on the exact times of the risk the C-index scores (minus the
    restricted mean), which the yearly likelihood cannot order within a year."""
    parts = {}
    if output.risk is not None:
        parts["survival"] = losses.cox_partial_nll(output.risk, batch.time, batch.event)
    else:
        parts["survival"] = losses.discrete_time_nll(output.logits, batch.year, batch.event)
    if config.regression_weight and output.recurrence is not None:
        parts["regression"] = config.regression_weight * losses.event_year_loss(
            output.recurrence, batch.recurrence_years, batch.recurrence_event)
    elif config.regression_weight and output.logits is not None:
        predicted = losses.expected_years(output.logits)
        parts["regression"] = config.regression_weight * losses.event_year_loss(predicted, batch.years, batch.event)
    if config.ranking_weight and output.logits is not None:
        parts["ranking"] = config.ranking_weight * losses.cox_partial_nll(
            -losses.expected_years(output.logits), batch.time, batch.event)
    if output.image is not None and config.contrastive_weight:
        parts["contrastive"] = config.contrastive_weight * losses.info_nce(output.image, output.clinical,
                                                                           config.temperature)
    return sum(parts.values()), parts


def monitored(parts: dict) -> float:
    """Validation criterion: the prognostic terms (the contrastive term depends on the batch size)."""
    return float(sum(v for k, v in parts.items() if k != "contrastive"))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights to return to: the state dict's tensors cloned (a deep copy of the dict would also
    copy each tensor's Python wrapper and metadata, some 3 % of an STG fit)."""
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def survival_criterion(model: nn.Module, batch: Batch, config: TrainConfig) -> tuple[torch.Tensor, dict]:
    """The networks' criterion: `objective` of the model's output on the batch's graph."""
    return objective(model(batch.graph), batch, config)


def train(model: nn.Module, train_batch, val_batch, config: TrainConfig, criterion=survival_criterion) -> History:
    """Adam on the whole training batch per epoch; stop after `patience` epochs without a better
    validation loss and keep the best weights. `criterion(model, batch, config) -> (loss, parts)` (survival by
    default; the validation loss is the parts' `monitored` sum)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    history = History()
    best, best_state, waited = np.inf, snapshot(model), 0
    for epoch in range(config.max_epochs):
        model.train()
        optimiser.zero_grad()
        loss, _ = criterion(model, train_batch, config)
        loss.backward()
        optimiser.step()
        model.eval()
        with torch.no_grad():
            _, parts = criterion(model, val_batch, config)
        history.train_loss.append(loss.item())
        history.val_loss.append(monitored(parts))
        if history.val_loss[-1] < best - 1e-4:
            best, waited, history.best_epoch = history.val_loss[-1], 0, epoch
            best_state = snapshot(model)
        else:
            waited += 1
            if waited >= config.patience:
                break
    model.load_state_dict(best_state)
    return history
