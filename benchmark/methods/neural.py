"""The base class every neural survival method shares: STG, its ablations and the neural baselines.

A subclass builds its network in `build_network` (a small nn.Module made of the blocks in
benchmark.methods.layers) and names its inputs in `requires`; everything else (profiles, the
hyper-parameter defaults, standardisation on the training fold, the inner validation split, the
training loop of benchmark.methods.training, predictions on the suite's grid) is written once here.

Profiles: ``cpu`` (default; radiomics node features, hidden width 64: ~1 s per fit on ~160
patients) and ``paper`` (the paper's 4096-wide encoder features, hidden 512, for GPUs). Either runs on
CUDA when a GPU is present (``device`` auto), else on the CPU. Each result's notes say which profile and
device produced it.
"""
from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from dataclasses import fields, replace
from typing import ClassVar

import numpy as np
import torch
from sksurv.linear_model.coxph import BreslowEstimator
from torch import nn

from benchmark.data.cohort import N_YEARS
from benchmark.dgl_import import dgl
from benchmark.methods import FoldData, Method, MethodError, losses, step_functions_on_grid, survival_prediction
from benchmark.methods.inputs import Batch, GraphInputs, keep_node_types
from benchmark.methods.layers import NetworkConfig, n_trainable
from benchmark.methods.training import TrainConfig, deterministic, inner_split, survival_criterion, train
from benchmark.scoring.metrics import Prediction

#: The neural methods' hyper-parameters: the one source of their defaults (the configs have none). The
#: training settings (width, dropout, weight decay, learning rate, patience, epochs, logged inputs, ranking term)
#: were chosen by `python -m benchmark defaults` (benchmark.harness.defaults_study) on development draws' training
#: folds, across every scenario and size; results/tables/neural_defaults.md says how.
DEFAULTS = {"profile": "cpu", "features": "radiomics", "hidden": 64, "layers": 2, "year_dim": 16, "projection": 32,
            "dropout": 0.3, "lr": 5e-3, "weight_decay": 1e-3, "max_epochs": 150, "patience": 20,
            "val_fraction": 0.2, "contrastive_weight": 0.1, "regression_weight": 0.1, "ranking_weight": 0.0,
            "temperature": 0.1, "log_skewed": True, "device": "auto", "threads": 1}
PROFILES = {
    "cpu": {},
    "paper": {"features": "deep", "hidden": 512, "year_dim": 64, "projection": 128, "max_epochs": 300,
              "patience": 30, "lr": 1e-3},
}
#: The discrete-time networks' own event-year read-out (losses.expected_years).
OWN_READ_OUT = "restricted mean"
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


class NeuralSurvivalMethod(Method):
    """Base of STG, its ablations and the neural baselines (not registered: it has no name)."""

    requires = ("images", "clinical", "graphs_radiomics")
    family = "stg"
    stochastic = True
    #: The network's configuration class (STG's adds its ablation switches).
    config_class: ClassVar[type[NetworkConfig]] = NetworkConfig
    #: Configuration fields fixed by the method (its architecture), not by parameters.
    architecture: ClassVar[dict] = {}
    defaults = DEFAULTS

    def __init__(self, **params):
        super().__init__(**params)
        profile = self.params["profile"]
        if profile not in PROFILES:
            raise MethodError(f"{self.name}: unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
        self.params = {**self.defaults, **PROFILES[profile], **params}   # explicit values win
        self.notes = [f"profile {profile}"]

    def inputs(self) -> tuple[str, ...]:
        """The graphs of the chosen node features (the paper profile reads the CT encoder's)."""
        graphs = f"graphs_{self.params['features']}"
        return tuple(graphs if r.startswith("graphs_") else r for r in self.requires)

    def network_config(self, dims: dict[str, int]) -> NetworkConfig:
        """The configuration `build_network` gets for these input widths (node type -> width)."""
        names = {f.name for f in fields(self.config_class)}
        return self.config_class(**{**{k: v for k, v in self.params.items() if k in names}, **self.architecture})

    @abc.abstractmethod
    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> nn.Module:
        """The untrained network: `forward(graph) -> layers.Output`, and the `node_types` it reads."""

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{k: v for k, v in self.params.items() if k in _TRAIN_FIELDS})

    def device(self) -> torch.device:
        """``auto`` (the default): CUDA when a GPU is present and DGL was built for it, else the CPU."""
        wanted = self.params["device"]
        return torch.device(("cuda" if cuda_usable() else "cpu") if wanted == "auto" else wanted)

    def fit(self, data: FoldData) -> "NeuralSurvivalMethod":
        self.prepare(data)
        self.fit_network(data)
        if self.config_.head == "cox":   # baseline hazard of the whole training fold (Breslow)
            risk = self._forward(self.batch(data)).risk.cpu().numpy()
            self.breslow_ = BreslowEstimator().fit(risk, data.y["event"], data.y["time"])
        return self

    def prepare(self, data: FoldData) -> None:
        """Standardise the inputs on the training patients and fix the network's configuration."""
        graph_inputs = [r for r in self.inputs() if r.startswith("graphs_")]
        graphs = data.artefact(graph_inputs[0]) if graph_inputs else None
        self.notes = [f"profile {self.params['profile']}", f"device {self.device().type}",
                      *([f"{graphs.source} node features", *graphs.notes] if graphs is not None else [])]
        self.inputs_ = GraphInputs(graphs, self.params["log_skewed"]).fit(data)
        self.config_ = self.network_config(self.inputs_.dims)

    def fit_network(self, data: FoldData, head: Callable[[nn.Module], nn.Module] | None = None,
                    batch: Callable[[FoldData], object] | None = None, criterion=survival_criterion,
                    **settings) -> nn.Module:
        """Train a fresh network on `data` (after `prepare`), early-stopped on an inner split of it, and return
        what was trained. By default the survival fit itself; a caller with another target (the capacity
        study's truth fit) passes a `head` to put on the network, the `batch` of its target and its
        `criterion`, and overrides training settings (e.g. max_epochs)."""
        train_positions, val_positions = inner_split(data.y["event"], self.params["val_fraction"], data.seed)
        batch = batch or self.batch
        with deterministic(data.seed, self.params["threads"]):
            self.model_ = self.build_network(self.inputs_.dims, self.config_).to(self.device())
            trained = self.model_ if head is None else head(self.model_).to(self.device())
            self.history_ = train(trained, batch(data.subset(train_positions)), batch(data.subset(val_positions)),
                                  replace(self.train_config(), **settings), criterion)
        return trained

    def batch(self, data: FoldData) -> Batch:
        """The patients' inputs, restricted once to the node types the network uses, on its device."""
        batch = self.inputs_.transform(data)
        batch.graph = keep_node_types(batch.graph, self.model_.node_types)
        return batch.to(self.device())

    def _forward(self, batch: Batch):
        self.model_.eval()
        with torch.no_grad():
            return self.model_(batch.graph)

    def predict(self, data: FoldData) -> Prediction:
        output = self._forward(self.batch(data))
        if output.risk is not None:
            risk = output.risk.cpu().numpy().astype(float)
            surv = step_functions_on_grid(self.breslow_.get_survival_function(risk), data.time_grid)
            return survival_prediction(risk, surv, data)
        at_year_ends = losses.survival_at_year_ends(output.logits).cpu().numpy().astype(float)
        mean_years = losses.expected_years(output.logits).cpu().numpy().astype(float)
        surv = survival_on_grid(at_year_ends, data.time_grid / data.units_per_year)
        # year and year status are read off the curve like every other method's; the network's own
        # restricted mean stays the risk and is scored apart as its own read-out
        return replace(survival_prediction(-mean_years, surv, data), own_year=mean_years,
                       own_year_label=OWN_READ_OUT)

    def n_params(self) -> int:
        return n_trainable(self.model_)


class GraphBaseline(NeuralSurvivalMethod):
    """The baselines on the patient graphs (GCN, GAT, SAGE, MLP): a discrete-time head with one risk
    score by default ("single"; head=cox for a Cox risk), no contrastive term."""

    family = "gnn"
    defaults = {**DEFAULTS, "head": "single"}


@functools.cache
def cuda_usable() -> bool:
    """A GPU torch can see, and a DGL build that can put a graph on it (the CPU wheel cannot)."""
    if not torch.cuda.is_available():
        return False
    try:
        dgl.graph(([0], [0])).to("cuda")
    except Exception:   # DGLError: DGL built without CUDA
        return False
    return True


def survival_on_grid(at_year_ends: np.ndarray, years: np.ndarray) -> np.ndarray:
    """(n, T) survival at `years` from (n, K + 1) values at year ends, constant hazard within a year."""
    k = np.clip(np.floor(years).astype(int), 0, N_YEARS - 1)
    fraction = np.clip(years - k, 0.0, 1.0)
    log_s = np.log(np.clip(at_year_ends, 1e-12, 1.0))
    return np.exp(log_s[:, k] + fraction[None, :] * (log_s[:, k + 1] - log_s[:, k]))
