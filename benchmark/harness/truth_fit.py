"""STG's network fitted to the truth: can the architecture represent a scenario's signal at all?

The capacity study's survival fits learn from censored outcomes, so a shortfall there mixes what the
network can represent with what 2,400 patients' outcomes teach it. This fit removes the second part: the
same network (STG's defaults, inputs standardised on the training patients) with a linear head on its
patient embedding, trained by mean squared error on the true recurrence log-hazard of the training patients
(the target of the graph inputs' ceiling), early-stopped on an inner validation split of them, ranking the
test patients. Where it comes close to the oracle the architecture can represent the signal; where it does
not, it cannot (or its inputs do not show it: compare the ceiling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmark import methods
from benchmark.methods import FoldData, training

METHOD = "stg"
#: The truth is noise-free, so the fit keeps improving long after a survival fit stops (~30-60 epochs).
MAX_EPOCHS = 400


class TruthRegression(nn.Module):
    """The method's network and a linear head on its (n, h) patient embedding: graph -> (n,) log-hazard."""

    def __init__(self, network: nn.Module, hidden: int):
        super().__init__()
        self.network, self.head = network, nn.Linear(hidden, 1)

    def forward(self, graph) -> torch.Tensor:
        return self.head(self.network.embed(graph)[0])[:, 0]


@dataclass
class TargetBatch:
    """Patients' graphs and their standardised target, (n,)."""

    graph: object
    target: torch.Tensor


def squared_error(model: nn.Module, batch: TargetBatch, config: training.TrainConfig) -> tuple[torch.Tensor, dict]:
    """The truth fit's criterion for benchmark.methods.training.train."""
    error = ((model(batch.graph) - batch.target) ** 2).mean()
    return error, {"squared error": error}


def fit_and_rank(train: FoldData, test: FoldData, target: pd.Series) -> np.ndarray:
    """The test patients' predicted log-hazard of a network fitted to `target` (patient id -> truth) on `train`."""
    method = methods.get(METHOD)()
    method.prepare(train)
    values = target.loc[train.ids].to_numpy(np.float32)
    mean, sd = values.mean(), values.std(ddof=1)

    def batch(data: FoldData) -> TargetBatch:
        standardised = (target.loc[data.ids].to_numpy(np.float32) - mean) / sd
        return TargetBatch(method.batch(data).graph, torch.tensor(standardised, device=method.device()))

    model = method.fit_network(train, head=lambda network: TruthRegression(network, method.config_.hidden),
                               batch=batch, criterion=squared_error, max_epochs=MAX_EPOCHS)
    model.eval()
    with torch.no_grad():
        return model(method.batch(test).graph).cpu().numpy().astype(float)
