"""The STG network, with the switches its ablations turn off (docs/design.md, STG).

    node encoders -> HeteroGraphConv of SAGEConv, one per relation, summed per node type, edge weights
    from the edge-attribute gates (or, ablated, one SAGEConv on the homogeneous view of the same graph,
    or no message passing at all; benchmark.methods.message_passing computes every relation at
    once) -> readout -> temporal head; plus the InfoNCE projections of
    the image-graph and clinical embeddings. The shared blocks (encoders, gates, readout, heads)
    are benchmark.methods.layers'. With ``lesions`` the network reads the lesion graphs: one more
    node type, pooled by the readout, and the lesion relations (stg.graphs).

Shapes: n patients, h hidden width, K = 12 years.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from torch import nn

from benchmark.methods.layers import GraphReadout, NodeEncoder, make_head, n_trainable, pass_messages
from benchmark.methods.message_passing import ConvStack, EdgeGates, EdgeIndex, RelationalSAGE
from benchmark.methods.neural import NetworkConfig
from stg.graphs import CANONICAL_ETYPES, IMAGE_NODE_TYPES, NODE_TYPES, RELATION_ATTRIBUTES

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
        attributed = [r[1] for r in self.relations if r[1] in RELATION_ATTRIBUTES]
        self.gates = EdgeGates(attributed) if config.edge_attributes and passing else None
        # per layer, SAGEConv weights per relation (hetero) or one SAGEConv for every edge (homogeneous)
        n_weights = len(self.relations) if config.graph == "hetero" else 1
        self.gnn = ConvStack([RelationalSAGE(n_weights, h) for _ in range(config.layers)],
                             config.dropout) if passing else None
        self.readout = GraphReadout(ntypes, h, config.dropout)
        if config.uses_contrastive:
            self.project_image = nn.Linear(h, config.projection)
            self.project_clinical = nn.Linear(h, config.projection)
        self.head = make_head(config.head, h, config.year_dim)

    def forward(self, graph):
        h0 = self.encoder(graph)                                      # node type -> (nodes, h)
        h = h0
        if self.gnn is not None:
            hetero = self.config.graph == "hetero"
            order = self.node_types if hetero else sorted(self.node_types)   # as DGL's homogeneous view
            index = EdgeIndex.of(graph, order, self.relations, homogeneous=not hetero)
            h = pass_messages(self.gnn, self.gates, index, h0, order)
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
