"""Building blocks of every neural survival network (STG, its ablations and the neural baselines).

A network takes the batched patient graph (node features ``h0``, see benchmark.methods.inputs), restricted to its
`node_types`, and returns an `Output`. The blocks here are the parts they share, written once:

    node encoders (one Linear per node type, + a structure embedding on anatomy nodes)
      -> [message passing: the network's own]
      -> readout: image-graph embedding (the five anatomy nodes, in structure order, and the
         CT-global node, concatenated: every patient has the same structures, and pooling them
         would mix the tumour with the liver; lesion nodes, of which patients have different
         numbers, pooled by sum and attention) and the clinical node -> patient embedding
      -> head: the temporal module (12 learned year embeddings combined with the patient
         embedding -> per-year hazard logits), a single risk score + year baselines, or a Cox risk.

Message passing is DGL's (dgl.nn modules on the batched graph); the GNN baselines run theirs on the
homogeneous view of the graph (`HomogeneousNetwork`), with edge weights from a per-relation gate
2*sigmoid(w.a + b), initialised to 1.
Shapes: n patients, N nodes of the batch, E edges, h hidden width, K = 12 years.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmark.data.cohort import N_YEARS
from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.dgl_import import dgl
from benchmark.features.graphs import ATTRIBUTE_EDGE_TYPES, NODE_TYPES, RELATION_ATTRIBUTES

HEADS = ("temporal", "single", "cox")


@dataclass(frozen=True)
class NetworkConfig:
    """A network's widths and head, filled from the method's parameters and architecture."""

    hidden: int          # node and patient embedding width
    layers: int          # message-passing layers
    year_dim: int        # width of the temporal module's year embeddings
    projection: int      # width of the contrastive space
    dropout: float
    head: str            # temporal | single | cox

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"model option {self.head!r} not in {sorted(HEADS)}")


@dataclass
class Output:
    """What a network returns for n patients."""

    logits: torch.Tensor | None = None     # (n, K) per-year hazard logits (temporal and single heads)
    risk: torch.Tensor | None = None       # (n,) Cox log relative risk (cox head)
    image: torch.Tensor | None = None      # (n, projection) image-graph embedding for InfoNCE
    clinical: torch.Tensor | None = None   # (n, projection) clinical embedding for InfoNCE
    recurrence: torch.Tensor | None = None  # (n,) predicted years to recurrence (STG's regression head)


class NodeEncoder(nn.Module):
    """Per node type: Linear(input width -> h); anatomy nodes add a learned structure embedding."""

    def __init__(self, dims: dict[str, int], ntypes, hidden: int, dropout: float):
        super().__init__()
        self.project = nn.ModuleDict({nt: nn.Linear(dims[nt], hidden) for nt in ntypes})
        self.structure = nn.Embedding(len(NODE_NAMES), hidden) if "anatomy" in ntypes else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph) -> dict[str, torch.Tensor]:
        """node type -> (nodes of that type, h)."""
        out = {}
        for ntype, layer in self.project.items():
            h = layer(graph.nodes[ntype].data["h0"])
            if ntype == "anatomy":
                h = h + self.structure(graph.nodes["anatomy"].data["structure"])
            out[ntype] = self.dropout(torch.relu(h))
        return out


def fuse(width: int, hidden: int, dropout: float) -> nn.Sequential:
    """(n, width) concatenated patient parts -> (n, h) patient embedding."""
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout))


class LesionPool(nn.Module):
    """(N_lesion, h) lesion embeddings -> (n, 2h): per patient their sum and their attention-weighted sum
    (dgl.softmax_nodes of a learned score over the patient's lesions; zeros without lesions). The sum grows
    with the number of lesions, so the count reaches the head; attention lets the most threatening lesion
    (the one against a vessel) stand out without being averaged away."""

    def __init__(self, hidden: int):
        super().__init__()
        self.score = nn.Linear(hidden, 1)

    def forward(self, graph, h: torch.Tensor) -> torch.Tensor:
        with graph.local_scope():
            graph.nodes["lesion"].data["h"] = h
            graph.nodes["lesion"].data["score"] = self.score(h)
            graph.nodes["lesion"].data["attention"] = dgl.softmax_nodes(graph, "score", ntype="lesion")
            total = dgl.readout_nodes(graph, "h", op="sum", ntype="lesion")                          # (n, h)
            attended = dgl.readout_nodes(graph, "h", weight="attention", op="sum", ntype="lesion")  # (n, h)
        return torch.cat([total, attended], dim=1)


class GraphReadout(nn.Module):
    """Node embeddings -> (n, h) patient embedding, and the (n, h) image-graph embedding (None
    without image nodes): the anatomy nodes in structure order, the CT node and, in lesion graphs,
    the pooled lesion nodes, concatenated."""

    def __init__(self, ntypes, hidden: int, dropout: float):
        super().__init__()
        has_image = "anatomy" in ntypes
        self.lesions = LesionPool(hidden) if "lesion" in ntypes else None
        width = (len(NODE_NAMES) + 1 + 2 * (self.lesions is not None)) * hidden
        self.image = nn.Linear(width, hidden) if has_image else None
        self.fuse = fuse(hidden * (has_image + ("clinical" in ntypes)), hidden, dropout)

    def embed_image(self, graph, h: dict) -> torch.Tensor:
        """(n, h) image-graph embedding of the image nodes' embeddings `h`."""
        nodes = [h["anatomy"].reshape(graph.batch_size, -1), h["ct"]]            # (n, 5h), (n, h)
        if self.lesions is not None:
            nodes.append(self.lesions(graph, h["lesion"]))                       # (n, 2h)
        return torch.relu(self.image(torch.cat(nodes, dim=1)))

    def forward(self, graph, h: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        image = self.embed_image(graph, h) if self.image is not None else None   # (n, h)
        parts = [x for x in (image, h.get("clinical")) if x is not None]        # (n, h) each
        return self.fuse(torch.cat(parts, dim=1)), image


class TemporalHead(nn.Module):
    """Spatiotemporal decoupling: logit_k = v . relu(W p + e_k) + c, e_k a learned year embedding."""

    def __init__(self, hidden: int, year_dim: int):
        super().__init__()
        self.patient = nn.Linear(hidden, year_dim)
        self.years = nn.Embedding(N_YEARS, year_dim)
        self.out = nn.Linear(year_dim, 1)

    def forward(self, p: torch.Tensor) -> Output:
        combined = torch.relu(self.patient(p)[:, None, :] + self.years.weight[None, :, :])   # (n, K, d)
        return Output(logits=self.out(combined)[..., 0])


class SingleRiskHead(nn.Module):
    """No decoupling: one risk score r = w . p, logit_k = r + b_k (proportional odds over years)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.risk = nn.Linear(hidden, 1, bias=False)
        self.baseline = nn.Parameter(torch.full((N_YEARS,), -2.0))

    def forward(self, p: torch.Tensor) -> Output:
        return Output(logits=self.risk(p) + self.baseline[None, :])


class CoxHead(nn.Module):
    """Log relative risk r = w . p; the method fits the baseline hazard (Breslow)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.risk = nn.Linear(hidden, 1, bias=False)

    def forward(self, p: torch.Tensor) -> Output:
        return Output(risk=self.risk(p)[:, 0])


class RecurrenceHead(nn.Module):
    """STG's second task, recurrence-risk regression: the years to recurrence, N_YEARS * sigmoid(w . p + b),
    (n, h) -> (n,); trained on the recurrence endpoint beside the survival head on the run's endpoint."""

    def __init__(self, hidden: int):
        super().__init__()
        self.years = nn.Linear(hidden, 1)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return N_YEARS * torch.sigmoid(self.years(p)[:, 0])


def make_head(kind: str, hidden: int, year_dim: int) -> nn.Module:
    """The head named `kind` (one of HEADS) on an (n, h) patient embedding."""
    if kind == "temporal":
        return TemporalHead(hidden, year_dim)
    return SingleRiskHead(hidden) if kind == "single" else CoxHead(hidden)


class EdgeGates(nn.Module):
    """Per attributed relation, a scalar edge weight 2*sigmoid(w.a + b), 1 at initialisation."""

    def __init__(self, relations):
        super().__init__()
        self.gates = nn.ModuleDict({r: nn.Linear(len(RELATION_ATTRIBUTES[r]), 1) for r in relations})
        for gate in self.gates.values():
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)

    def forward(self, graph) -> torch.Tensor:
        """(E,) weights of every edge of `graph`, in its canonical edge type order (dgl.to_homogeneous's);
        edges of relations without a gate weigh 1."""
        return torch.cat([2 * torch.sigmoid(self.gates[et](graph.edges[et].data["a"]))[:, 0] if et in self.gates
                          else torch.ones(graph.num_edges(et), device=graph.device)
                          for _, et, _ in graph.canonical_etypes])


def homogeneous(graph, self_loops: bool):
    """dgl.to_homogeneous of the batched graph (nodes and edges grouped by type, in `graph.ntypes` and
    `graph.canonical_etypes` order), with a self loop per node appended last if asked; built once per batch."""
    cache = graph.__dict__.setdefault("_homogeneous", {})
    if self_loops not in cache:
        flat = dgl.to_homogeneous(graph)
        cache[self_loops] = dgl.add_self_loop(flat) if self_loops else flat
    return cache[self_loops]


class HomogeneousNetwork(nn.Module):
    """The GNN baselines' network: node encoders -> a baseline's `gnn` on the homogeneous patient graph,
    edge weights from the gates -> readout -> head. The gnn maps (g, (N, h), edge_weight (E,)) -> (N, h)."""

    node_types = NODE_TYPES

    def __init__(self, dims: dict[str, int], config: NetworkConfig, gnn: nn.Module | None, self_loops: bool = False):
        super().__init__()
        h = config.hidden
        self.encoder = NodeEncoder(dims, self.node_types, h, config.dropout)
        self.gates = EdgeGates(ATTRIBUTE_EDGE_TYPES)
        self.gnn = gnn
        self.self_loops = self_loops
        self.readout = GraphReadout(self.node_types, h, config.dropout)
        self.head = make_head(config.head, h, config.year_dim)

    def forward(self, graph) -> Output:
        h = self.encoder(graph)                                                # node type -> (nodes, h)
        if self.gnn is not None:
            g = homogeneous(graph, self.self_loops)
            weight = self.gates(graph)                                         # (E,)
            weight = torch.cat([weight, weight.new_ones(g.num_edges() - len(weight))])   # self loops weigh 1
            x = self.gnn(g, torch.cat([h[nt] for nt in graph.ntypes]), weight)          # (N, h)
            h = dict(zip(graph.ntypes, torch.split(x, [graph.num_nodes(nt) for nt in graph.ntypes])))
        p, _ = self.readout(graph, h)                                          # (n, h)
        return self.head(p)


def n_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
