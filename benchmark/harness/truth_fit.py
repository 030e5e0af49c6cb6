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

import numpy as np
import pandas as pd
import torch
from torch import nn

from benchmark import methods
from benchmark.methods import FoldData
from benchmark.methods.inputs import GraphInputs, keep_node_types
from benchmark.methods.training import deterministic, inner_split, snapshot

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


def fit_and_rank(train: FoldData, test: FoldData, target: pd.Series) -> np.ndarray:
    """The test patients' predicted log-hazard of a network fitted to `target` (patient id -> truth) on `train`."""
    method = methods.get(METHOD)()
    graphs = train.artefact(next(r for r in method.inputs() if r.startswith("graphs_")))
    inputs = GraphInputs(graphs, method.params["log_skewed"]).fit(train)
    config = method.network_config(inputs.dims)
    settings = method.train_config()
    fit_positions, val_positions = inner_split(train.y["event"], method.params["val_fraction"], train.seed)
    with deterministic(train.seed, method.params["threads"]):
        network = method.build_network(inputs.dims, config)
        model = TruthRegression(network, config.hidden)

        def graph_of(data: FoldData):
            return keep_node_types(inputs.transform(data).graph, network.node_types)

        fit, val = train.subset(fit_positions), train.subset(val_positions)
        fit_graph, val_graph = graph_of(fit), graph_of(val)
        y_fit, y_val = (torch.tensor(target.loc[d.ids].to_numpy(np.float32)) for d in (fit, val))
        mean, sd = y_fit.mean(), y_fit.std()
        optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        best, best_state, waited = np.inf, snapshot(model), 0
        for _ in range(MAX_EPOCHS):
            model.train()
            optimiser.zero_grad()
            loss = ((model(fit_graph) - (y_fit - mean) / sd) ** 2).mean()
            loss.backward()
            optimiser.step()
            model.eval()
            with torch.no_grad():
                val_loss = ((model(val_graph) - (y_val - mean) / sd) ** 2).mean().item()
            if val_loss < best - 1e-4:
                best, best_state, waited = val_loss, snapshot(model), 0
            elif (waited := waited + 1) >= settings.patience:
                break
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            return model(graph_of(test)).numpy().astype(float)
