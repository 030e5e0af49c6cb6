"""Model inputs from the stored raw graphs, standardised with statistics of training patients only.

`GraphInputs.fit` learns per-(structure, feature) means and scales from the training fold's
patients (absent nodes and NaN excluded; in lesion graphs per lesion feature, over the training
patients' lesions), and the clinical pipeline of the tabular baselines;
`GraphInputs.transform` applies them to any patients: NaN becomes the training mean (0 after
scaling), an absent node is all zeros with its present flag 0, values are clipped to +-CLIP.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.dgl_import import dgl
from benchmark.features.graphs import PatientGraphs
from benchmark.features.preprocessing import LogSkewed, tabular_pipeline
from benchmark.methods import FoldData

CLIP = 5.0


@dataclass
class Standardiser:
    """Column means and scales of a (rows, features) matrix, NaN rows/cells ignored; optionally after
    the log of the right-skewed non-negative columns (volumes, counts), fitted on the same rows."""

    mean: np.ndarray
    scale: np.ndarray
    log: LogSkewed | None = None

    @classmethod
    def fit(cls, matrix: np.ndarray, log_skewed: bool = False) -> "Standardiser":
        log = LogSkewed().fit(matrix) if log_skewed and len(matrix) > 1 else None
        matrix = log.transform(matrix) if log else matrix
        finite = np.isfinite(matrix)
        count = finite.sum(axis=0)
        filled = np.where(finite, matrix, 0.0)
        mean = filled.sum(axis=0) / np.maximum(count, 1)
        var = (np.where(finite, matrix - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
        scale = np.sqrt(var)
        return cls(mean, np.where((count > 1) & (scale > 1e-12), scale, 1.0), log)

    def transform(self, matrix: np.ndarray) -> np.ndarray:
        matrix = self.log.transform(matrix) if self.log else matrix
        scaled = (matrix - self.mean) / self.scale
        return np.clip(np.nan_to_num(scaled, nan=0.0, posinf=CLIP, neginf=-CLIP), -CLIP, CLIP)


#: The endpoint of STG's second task, recurrence-risk regression (docs/design.md, STG: the two tasks).
RECURRENCE_ENDPOINT = "dfs"


@dataclass
class Batch:
    """The inputs of n patients: their batched graph with features ``h0``, their outcomes on the run's endpoint,
    and their recurrence outcome (RECURRENCE_ENDPOINT, or the run's endpoint where the cohort lacks it)."""

    graph: object
    n: int
    year: torch.Tensor               # (n,) long, event/censoring year bin
    years: torch.Tensor              # (n,) float, follow-up in years
    time: torch.Tensor               # (n,) float, follow-up in the cohort's unit (Cox)
    event: torch.Tensor              # (n,) bool
    recurrence_years: torch.Tensor   # (n,) float, recurrence-free follow-up in years
    recurrence_event: torch.Tensor   # (n,) bool, recurrence (or death) observed

    OUTCOMES = ("year", "years", "time", "event", "recurrence_years", "recurrence_event")

    def to(self, device) -> "Batch":
        return Batch(self.graph.to(device), self.n, *(getattr(self, f).to(device) for f in self.OUTCOMES))


def _anatomy(graph) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5, F) raw anatomical features with absent nodes NaN, and (n, 5) presence."""
    x = graph.nodes["anatomy"].data["x"].numpy().astype(float)
    present = graph.nodes["anatomy"].data["present"].numpy()[:, 0] > 0
    x[~present] = np.nan
    n = len(x) // len(NODE_NAMES)
    return x.reshape(n, len(NODE_NAMES), -1), present.reshape(n, len(NODE_NAMES))


class GraphInputs:
    """Fitted on a training FoldData; turns any FoldData into a Batch.

    Without patient graphs (clinical-only methods, tabular cohorts) each patient is a single
    clinical node. With `log_skewed`, right-skewed non-negative features (volumes, counts, CEA) are
    logged before standardising, so the typical patients are not squeezed together by a few outliers.
    """

    def __init__(self, graphs: PatientGraphs | None, log_skewed: bool = False):
        self.graphs = graphs
        self.log_skewed = log_skewed

    def fit(self, data: FoldData) -> "GraphInputs":
        self.clinical_ = tabular_pipeline(self.log_skewed).fit(data.X.to_numpy(dtype=float))
        self.lesion_ = None
        if self.graphs is None:
            return self
        graph = self.graphs.batch(data.ids)
        anatomy, _ = _anatomy(graph)
        self.anatomy_ = Standardiser.fit(anatomy.reshape(len(anatomy), -1), self.log_skewed)
        ct = graph.nodes["ct"].data["x"].numpy().astype(float)
        ct[graph.nodes["ct"].data["present"].numpy()[:, 0] <= 0] = np.nan
        self.ct_ = Standardiser.fit(ct, self.log_skewed)
        if "lesion" in graph.ntypes:
            self.lesion_ = Standardiser.fit(graph.nodes["lesion"].data["x"].numpy().astype(float), self.log_skewed)
        return self

    @property
    def dims(self) -> dict[str, int]:
        """Input width per node type (features + present flag; lesions: their features; clinical: the
        pipeline's output)."""
        dims = {"clinical": int(self.clinical_.transform(np.zeros((1, self.clinical_.n_features_in_))).shape[1])}
        if self.graphs is not None:
            dims.update(anatomy=len(self.anatomy_.mean) // len(NODE_NAMES) + 1, ct=len(self.ct_.mean) + 1)
        if self.lesion_ is not None:
            dims.update(lesion=len(self.lesion_.mean))
        return dims

    def transform(self, data: FoldData) -> Batch:
        graph = self._image_features(data.ids) if self.graphs is not None else _clinical_only(len(data))
        graph.create_formats_()   # sparse formats once per batch, not once per relation per epoch
        graph.nodes["clinical"].data["h0"] = _tensor(self.clinical_.transform(data.X.to_numpy(dtype=float)))
        outcome = data.cohort.outcome(data.endpoint, data.ids)
        endpoint = RECURRENCE_ENDPOINT if RECURRENCE_ENDPOINT in data.cohort.outcomes else data.endpoint
        recurrence = data.cohort.outcome(endpoint, data.ids)
        known = recurrence["time"].notna().to_numpy()
        return Batch(graph=graph, n=len(data),
                     year=torch.as_tensor(data.cohort.year_bins(data.endpoint, data.ids), dtype=torch.long),
                     years=_tensor(outcome["time"].to_numpy(dtype=float) / data.units_per_year),
                     time=_tensor(outcome["time"].to_numpy(dtype=float)),
                     event=torch.as_tensor(outcome["event"].to_numpy().astype(bool)),
                     recurrence_years=_tensor(np.nan_to_num(recurrence["time"].to_numpy(dtype=float))
                                              / data.units_per_year),
                     recurrence_event=torch.as_tensor(recurrence["event"].to_numpy().astype(bool) & known))

    def _image_features(self, ids):
        """The patients' batched graph with standardised image features ``h0`` (raw ``x`` dropped)."""
        graph = self.graphs.batch(ids)
        anatomy, present = _anatomy(graph)
        n = len(anatomy)
        scaled = self.anatomy_.transform(anatomy.reshape(n, -1)).reshape(n * len(NODE_NAMES), -1)
        flags = present.reshape(-1, 1).astype(float)
        graph.nodes["anatomy"].data["h0"] = _tensor(np.hstack([scaled * flags, flags]))
        ct_present = graph.nodes["ct"].data["present"].numpy().astype(float)
        ct = self.ct_.transform(graph.nodes["ct"].data["x"].numpy().astype(float))
        graph.nodes["ct"].data["h0"] = _tensor(np.hstack([ct * ct_present, ct_present]))
        if self.lesion_ is not None:
            graph.nodes["lesion"].data["h0"] = _tensor(self.lesion_.transform(graph.nodes["lesion"].data["x"].numpy()))
        for ntype in graph.ntypes:
            graph.nodes[ntype].data.pop("x", None)
        return graph


def _clinical_only(n: int):
    """A batch of n one-node graphs, each a patient's clinical node (no edges)."""
    etype = ("clinical", "none", "clinical")
    graph = dgl.heterograph({etype: ([], [])}, num_nodes_dict={"clinical": n})
    graph.set_batch_num_nodes({"clinical": torch.ones(n, dtype=torch.long)})
    graph.set_batch_num_edges({etype: torch.zeros(n, dtype=torch.long)})
    return graph


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def keep_node_types(graph, ntypes):
    """The batched graph restricted to some node types, with its per-patient batch sizes kept."""
    if set(ntypes) == set(graph.ntypes):
        return graph
    if not any(src in ntypes and dst in ntypes for src, _, dst in graph.canonical_etypes):
        if list(ntypes) != ["clinical"]:
            raise ValueError(f"node types {list(ntypes)} share no edge type")
        sub = _clinical_only(graph.num_nodes("clinical"))
        sub.nodes["clinical"].data["h0"] = graph.nodes["clinical"].data["h0"]
        return sub
    sub = dgl.node_type_subgraph(graph, list(ntypes))
    sub.set_batch_num_nodes({nt: graph.batch_num_nodes(nt) for nt in sub.ntypes})
    sub.set_batch_num_edges({et: graph.batch_num_edges(et) for et in sub.canonical_etypes})
    return sub


def keep_relations(graph, relations):
    """The batched graph with only these canonical edge types (its node types and per-patient batch sizes
    kept); built once per batch."""
    kept = [r for r in graph.canonical_etypes if r in set(relations)]
    if len(kept) == len(graph.canonical_etypes):
        return graph
    cache = graph.__dict__.setdefault("_kept_relations", {})
    if tuple(kept) not in cache:
        sub = dgl.edge_type_subgraph(graph, kept)
        if set(sub.ntypes) != set(graph.ntypes):
            raise ValueError(f"relations {kept} leave out node types of {graph.ntypes}")
        sub.set_batch_num_nodes({nt: graph.batch_num_nodes(nt) for nt in sub.ntypes})
        sub.set_batch_num_edges({et: graph.batch_num_edges(et) for et in sub.canonical_etypes})
        cache[tuple(kept)] = sub
    return cache[tuple(kept)]
