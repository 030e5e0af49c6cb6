"""The STG network, with the switches its ablations turn off (docs/design.md, STG).

    node encoders -> HeteroGraphConv of SAGEConv, one per relation, summed per node type, edge weights
    from the edge-attribute gates (or, ablated, one SAGEConv on the homogeneous view of the same graph,
    or no message passing at all) -> readout -> temporal head; plus the InfoNCE projections of
    the image-graph and clinical embeddings. The shared blocks (encoders, gates, readout, heads)
    are benchmark.methods.layers'. With ``lesions`` the network reads the lesion graphs: one more
    node type, pooled by the readout, and the lesion relations (stg.graphs).

Shapes: n patients, h hidden width, K = 12 years.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.methods.layers import EdgeGates, GraphReadout, NodeEncoder, homogeneous, make_head, n_trainable
from benchmark.methods.neural import NetworkConfig
from stg.dgl_import import dgl
from stg.graphs import CANONICAL_ETYPES, IMAGE_NODE_TYPES, NODE_TYPES, RELATION_ATTRIBUTES

dglnn = dgl.nn.pytorch
GRAPHS = ("hetero", "homogeneous")
NODE_SETS = {"all": NODE_TYPES, "clinical": ("clinical",), "image": IMAGE_NODE_TYPES}


@dataclass(frozen=True)
class StgConfig(NetworkConfig):
    """STG's configuration: the switches default to the full model, and each ablation flips one."""

    head: str = "temporal"    # temporal | single (the no-temporal ablation)
    graph: str = "hetero"     # hetero | homogeneous (one SAGEConv for every relation)
    nodes: str = "all"        # all | clinical | image
    edge_attributes: bool = True
    contrastive: bool = True  # InfoNCE projections (used only when both modalities are nodes)
    lesions: bool = False     # one node per lesion beside the image nodes (the lesion graphs)

    def __post_init__(self):
        super().__post_init__()
        for value, valid in ((self.graph, GRAPHS), (self.nodes, NODE_SETS)):
            if value not in valid:
                raise ValueError(f"model option {value!r} not in {sorted(valid)}")

    @property
    def node_types(self) -> tuple[str, ...]:
        ntypes = NODE_SETS[self.nodes]
        return (*ntypes, "lesion") if self.lesions and "anatomy" in ntypes else ntypes

    @property
    def uses_contrastive(self) -> bool:
        """InfoNCE needs both an image graph and a clinical node."""
        return self.contrastive and self.nodes == "all"


class HeteroSAGE(nn.Module):
    """`layers` HeteroGraphConv layers of one SAGEConv (mean) per relation, summed per node type, ReLU and
    dropout between: node type -> (nodes, h) embeddings in and out, edges weighted per relation."""

    def __init__(self, relations, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            dglnn.HeteroGraphConv({r: dglnn.SAGEConv(hidden, hidden, "mean") for r in relations}, aggregate="sum")
            for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph, h: dict, weights: dict) -> dict:
        """`weights`: relation -> (E,) edge weights (relations absent weigh 1)."""
        kwargs = {r: {"edge_weight": w} for r, w in weights.items()}
        for i, layer in enumerate(self.layers):
            out = layer(graph, h, mod_kwargs=kwargs)
            h = {nt: out.get(nt, h[nt]) for nt in h}       # a type nothing flows into keeps its embedding
            if i != len(self.layers) - 1:
                h = {nt: self.dropout(F.relu(x)) for nt, x in h.items()}
        return h


class HomogeneousSAGE(nn.Module):
    """The homogeneous ablation: SAGEConv (mean) layers on dgl.to_homogeneous of the graph, one weight for
    every relation; node type -> (nodes, h) in and out."""

    def __init__(self, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(dglnn.SAGEConv(hidden, hidden, "mean") for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph, h: dict, weight: torch.Tensor | None) -> dict:
        """`weight`: (E,) edge weights in dgl.to_homogeneous's order, or None (1)."""
        g = homogeneous(graph, self_loops=False)
        x = torch.cat([h[nt] for nt in graph.ntypes])                                     # (N, h)
        for i, layer in enumerate(self.layers):
            x = layer(g, x, edge_weight=weight)
            if i != len(self.layers) - 1:
                x = self.dropout(F.relu(x))
        return dict(zip(graph.ntypes, torch.split(x, [graph.num_nodes(nt) for nt in graph.ntypes])))


class StgNetwork(nn.Module):
    """STG and its ablations; `dims` are the input widths per node type."""

    def __init__(self, dims: dict[str, int], config: StgConfig):
        super().__init__()
        self.config = config
        self.node_types = ntypes = config.node_types
        h = config.hidden
        self.encoder = NodeEncoder(dims, ntypes, h, config.dropout)
        self.relations = [r for r in CANONICAL_ETYPES if r[0] in ntypes and r[2] in ntypes]
        passing = bool(self.relations and config.layers)
        names = [r[1] for r in self.relations]
        attributed = [r for r in names if r in RELATION_ATTRIBUTES]
        self.gates = EdgeGates(attributed) if config.edge_attributes and passing else None
        if not passing:
            self.gnn = None
        elif config.graph == "hetero":
            self.gnn = HeteroSAGE(names, h, config.layers, config.dropout)
        else:
            self.gnn = HomogeneousSAGE(h, config.layers, config.dropout)
        self.readout = GraphReadout(ntypes, h, config.dropout)
        if config.uses_contrastive:
            self.project_image = nn.Linear(h, config.projection)
            self.project_clinical = nn.Linear(h, config.projection)
        self.head = make_head(config.head, h, config.year_dim)

    def forward(self, graph):
        h0 = self.encoder(graph)                                      # node type -> (nodes, h)
        h = h0
        if self.gnn is not None:
            if self.config.graph == "hetero":
                weights = self.gates.by_relation(graph) if self.gates is not None else {}
            else:
                weights = self.gates(graph) if self.gates is not None else None
            h = self.gnn(graph, h0, weights)
        p, image = self.readout(graph, h)                             # (n, h), (n, h) or None
        output = self.head(p)                                         # logits (n, K)
        if self.config.uses_contrastive:                              # (n, projection) each
            output.image, output.clinical = self.project_image(image), self.project_clinical(h0["clinical"])
        return output


def scaled(config: StgConfig, hidden: int) -> StgConfig:
    """The same network narrower: hidden width `hidden`, year and contrastive widths in proportion."""
    factor = hidden / config.hidden
    return replace(config, hidden=hidden, year_dim=max(2, round(config.year_dim * factor)),
                   projection=max(2, round(config.projection * factor)))


def lite_config(dims: dict[str, int], config: StgConfig, ratio: float) -> StgConfig:
    """The narrowest-width variant whose trainable parameters are closest to `ratio` of the full model's.

    The paper's lite STG has 78.55 % fewer parameters (ratio 0.2145); the width that gives it
    depends on the input widths, so it is solved for here (bisection: the count grows with width).
    """
    target = ratio * n_trainable(StgNetwork(dims, config))
    low, high = 1, config.hidden
    while high - low > 1:
        middle = (low + high) // 2
        if n_trainable(StgNetwork(dims, scaled(config, middle))) < target:
            low = middle
        else:
            high = middle
    candidates = [scaled(config, low), scaled(config, high)]
    return min(candidates, key=lambda c: abs(n_trainable(StgNetwork(dims, c)) - target))
