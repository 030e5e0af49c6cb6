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

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmark import methods
from benchmark.methods import FoldData, training
from benchmark.methods.inputs import GraphInputs, keep_node_types

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
    graphs = train.artefact(next(r for r in method.inputs() if r.startswith("graphs_")))
    inputs = GraphInputs(graphs, method.params["log_skewed"]).fit(train)
    config = method.network_config(inputs.dims)
    fit_positions, val_positions = training.inner_split(train.y["event"], method.params["val_fraction"], train.seed)
    fit, val = train.subset(fit_positions), train.subset(val_positions)
    values = target.loc[fit.ids].to_numpy(np.float32)
    mean, sd = values.mean(), values.std(ddof=1)
    with training.deterministic(train.seed, method.params["threads"]):
        network = method.build_network(inputs.dims, config)
        model = TruthRegression(network, config.hidden)

        def graph_of(data: FoldData):
            return keep_node_types(inputs.transform(data).graph, network.node_types)

        def batch(data: FoldData) -> TargetBatch:
            return TargetBatch(graph_of(data), torch.tensor((target.loc[data.ids].to_numpy(np.float32) - mean) / sd))

        settings = replace(method.train_config(), max_epochs=MAX_EPOCHS)
        training.train(model, batch(fit), batch(val), settings, squared_error)
        model.eval()
        with torch.no_grad():
            return model(graph_of(test)).numpy().astype(float)
