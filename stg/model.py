"""The STG network, with the switches its ablations turn off (docs/design.md, STG).

    node encoders -> HeteroGraphConv, one convolution per relation, summed per node type: GeometryConv
    (the edge's geometry inside the message) on relations with edge attributes, SAGEConv on the others
    (ablated: SAGEConv everywhere, one SAGEConv on the homogeneous view, or no message passing)
    -> readout -> the two tasks' heads: survival (temporal module) and recurrence-risk regression;
    plus the InfoNCE projections of the image-graph embedding and the clinical node's input embedding.
    Cross-modal messages flow image -> clinical only, so the image nodes are computed from the image
    subgraph alone and the clinical vector is never copied into the image side of the pair. By default
    the network reads the lesion graphs: one node per lesion, pooled by sum and attention, and the lesion
    relations (benchmark.features.graphs); ablated, the tumour is the union node alone. The shared blocks
    (encoders, readout, heads) are benchmark.methods.layers'.

Shapes: n patients, h hidden width, K = 12 years.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from baselines.sage import SAGE
from benchmark.dgl_import import dgl
from benchmark.features.graphs import CANONICAL_ETYPES, IMAGE_NODE_TYPES, NODE_TYPES, RELATION_ATTRIBUTES
from benchmark.methods.inputs import keep_relations
from benchmark.methods.layers import GraphReadout, NodeEncoder, RecurrenceHead, homogeneous, make_head, n_trainable
from benchmark.methods.neural import NetworkConfig

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
    lesions: bool = True      # one node per lesion beside the image nodes (the lesion graphs)
    recurrence: bool = True   # the second task: recurrence-risk regression head on the recurrence endpoint

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


class GeometryConv(nn.Module):
    """SAGEConv (mean) whose messages carry the edge's geometry ``a`` (E, width) (distances, contact, relative
    size, side of the resection plane; benchmark.features.graphs):

        m_uv = W_n x_u * (1 + G a_uv) + B a_uv,      x'_v = W_s x_v + mean_{u -> v} m_uv + b

    so a lesion touching the portal vein sends another message than one 4 cm away, channel by channel.
    One fused DGL kernel for the product (dgl.ops.u_mul_e_sum, divided by the in-degree); the shift's mean is
    B times the mean attributes. G and B start at 0, where it is SAGEConv. NNConv's (width -> h * h) edge
    network would carry ~20 k parameters per relation on cohorts of ~200.
    (N_src, h), (N_dst, h) -> (N_dst, h).
    """

    def __init__(self, hidden: int, width: int):
        super().__init__()
        self.fc_self = nn.Linear(hidden, hidden)
        self.fc_neigh = nn.Linear(hidden, hidden, bias=False)
        self.fc_gain = nn.Linear(width, hidden)     # G
        self.fc_shift = nn.Linear(width, hidden, bias=False)    # B: no bias, so a node without edges gets 0
        nn.init.zeros_(self.fc_gain.weight)
        nn.init.zeros_(self.fc_gain.bias)
        nn.init.zeros_(self.fc_shift.weight)

    def forward(self, graph, feat):
        src, dst = feat
        a = graph.edata["a"]                                                            # (E, width)
        mean_a, inverse_degree = self.graph_terms(graph)                                 # (N_dst, width), (N_dst, 1)
        neigh = dgl.ops.u_mul_e_sum(graph, self.fc_neigh(src), 1 + self.fc_gain(a)) * inverse_degree   # (N_dst, h)
        return self.fc_self(dst) + neigh + self.fc_shift(mean_a)

    @staticmethod
    def graph_terms(graph) -> tuple[torch.Tensor, torch.Tensor]:
        """The relation's mean attributes per destination (0 without edges) and 1 / in-degree (0 without edges).
        They depend on the graph alone, so they are computed on its first pass and kept in its destination node
        data (shared with the batched graph the view was cut from), as DGL's GCN example keeps its normaliser:
        a training fit passes the same graph every epoch."""
        key = f"geometry:{graph.canonical_etypes[0][1]}"
        if f"{key}:mean_a" not in graph.dstdata:
            degree = graph.in_degrees().float().clamp(min=1)[:, None]
            graph.dstdata[f"{key}:mean_a"] = dgl.ops.copy_e_sum(graph, graph.edata["a"]) / degree
            graph.dstdata[f"{key}:inverse_degree"] = (graph.in_degrees() > 0).float()[:, None] / degree
        return graph.dstdata[f"{key}:mean_a"], graph.dstdata[f"{key}:inverse_degree"]


class HeteroConv(nn.Module):
    """`layers` HeteroGraphConv layers, one convolution per relation (GeometryConv where the relation has
    edge attributes and they are used, SAGEConv mean otherwise), summed per node type, ReLU and dropout
    between: node type -> (nodes, h) embeddings in and out."""

    def __init__(self, relations, hidden: int, layers: int, dropout: float, edge_attributes: bool):
        super().__init__()
        self.layers = nn.ModuleList(dglnn.HeteroGraphConv({r: self.conv(r, hidden, edge_attributes) for r in relations},
                                                          aggregate="sum") for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def conv(relation: str, hidden: int, edge_attributes: bool) -> nn.Module:
        if edge_attributes and relation in RELATION_ATTRIBUTES:
            return GeometryConv(hidden, len(RELATION_ATTRIBUTES[relation]))
        return dglnn.SAGEConv(hidden, hidden, "mean")

    def forward(self, graph, h: dict) -> dict:
        for i, layer in enumerate(self.layers):
            out = layer(graph, h)
            h = {nt: out.get(nt, h[nt]) for nt in h}       # a type nothing flows into keeps its embedding
            if i != len(self.layers) - 1:
                h = {nt: self.dropout(F.relu(x)) for nt, x in h.items()}
        return h


class HomogeneousSAGE(nn.Module):
    """The homogeneous ablation: the `sage` baseline's SAGEConv stack on dgl.to_homogeneous of the graph, one
    weight for every relation and no edge attributes; node type -> (nodes, h) in and out."""

    def __init__(self, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.sage = SAGE(hidden, layers, dropout)

    def forward(self, graph, h: dict) -> dict:
        x = torch.cat([h[nt] for nt in graph.ntypes])                                     # (N, h)
        x = self.sage(homogeneous(graph, self_loops=False), x, edge_weight=None)
        return dict(zip(graph.ntypes, torch.split(x, [graph.num_nodes(nt) for nt in graph.ntypes])))


class StgNetwork(nn.Module):
    """STG and its ablations; `dims` are the input widths per node type."""

    def __init__(self, dims: dict[str, int], config: StgConfig):
        super().__init__()
        self.config = config
        self.node_types = ntypes = config.node_types
        h = config.hidden
        self.encoder = NodeEncoder(dims, ntypes, h, config.dropout)
        # cross-modal messages flow image -> clinical only, so the image nodes, and the image embedding that
        # InfoNCE pairs with the clinical one, are computed from the image subgraph alone
        self.relations = [r for r in CANONICAL_ETYPES if r[0] in ntypes and r[2] in ntypes
                          and (r[0] != "clinical" or r[2] == "clinical")]
        passing = bool(self.relations and config.layers)
        if not passing:
            self.gnn = None
        elif config.graph == "hetero":
            self.gnn = HeteroConv([r[1] for r in self.relations], h, config.layers, config.dropout,
                                  config.edge_attributes)
        else:
            self.gnn = HomogeneousSAGE(h, config.layers, config.dropout)
        self.readout = GraphReadout(ntypes, h, config.dropout)
        if config.uses_contrastive:
            self.project_image = nn.Linear(h, config.projection)
            self.project_clinical = nn.Linear(h, config.projection)
        self.head = make_head(config.head, h, config.year_dim)
        self.recurrence = RecurrenceHead(h) if config.recurrence else None

    def embed(self, graph) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        """The (n, h) patient embedding the heads read, the (n, h) image-graph embedding (None without image
        nodes) and the node types' input embeddings (node type -> (nodes, h))."""
        h0 = self.encoder(graph)
        h = self.gnn(keep_relations(graph, self.relations), h0) if self.gnn is not None else h0
        p, image = self.readout(graph, h)
        return p, image, h0

    def forward(self, graph):
        p, image, h0 = self.embed(graph)
        output = self.head(p)                                         # logits (n, K)
        if self.recurrence is not None:
            output.recurrence = self.recurrence(p)                    # (n,) years
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
