"""The STG network and its relatives, one configurable module (DESIGN.md §4).

    node encoders (one Linear per node type, + a structure embedding on anatomy nodes)
      -> message passing: HeteroGraphConv of SAGEConv (STG), or one SAGE/GCN/GAT conv on the
         homogeneous view of the same graph, or none (MLP on the concatenated node features)
      -> readout: image-graph embedding (the five anatomy nodes, in structure order, and the
         CT-global node, concatenated: every patient has the same structures, and pooling them
         would mix the tumour with the liver) and the clinical node -> patient embedding
         (the spatial part)
      -> head: the temporal module (12 learned year embeddings combined with the patient
         embedding -> per-year hazard logits), a single risk score + year baselines, or a Cox risk.

Edge weights come from the edge attributes through a per-relation gate 2*sigmoid(w.a + b),
initialised to 1, so "no edge attributes" is exactly the same network with the gates off.
Shapes: n patients, h hidden width, K = 12 years.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from benchmark.data.cohort import N_YEARS
from benchmark.data.imaging.prepared import NODE_NAMES
from stg.dgl_import import dgl
from stg.graphs import ATTRIBUTE_EDGE_TYPES, EDGE_ATTRIBUTES, EDGES, IMAGE_NODE_TYPES, NODE_TYPES
from stg.inputs import keep_node_types

CONVS = ("sage", "gcn", "gat")
GRAPHS = ("hetero", "homogeneous", "none")
NODE_SETS = {"all": NODE_TYPES, "clinical": ("clinical",), "image": IMAGE_NODE_TYPES}
HEADS = ("temporal", "single", "cox")


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 64          # node and patient embedding width
    layers: int = 2           # message-passing layers
    year_dim: int = 16        # width of the temporal module's year embeddings
    projection: int = 32      # width of the contrastive space
    dropout: float = 0.1
    graph: str = "hetero"     # hetero | homogeneous | none
    conv: str = "sage"        # sage | gcn | gat (homogeneous graphs; hetero is always SAGE)
    gat_heads: int = 4
    nodes: str = "all"        # all | clinical | image
    edge_attributes: bool = True
    contrastive: bool = True  # InfoNCE projections (used only when both modalities are nodes)
    head: str = "temporal"    # temporal | single | cox

    def __post_init__(self):
        for value, valid in ((self.graph, GRAPHS), (self.conv, CONVS), (self.nodes, NODE_SETS), (self.head, HEADS)):
            if value not in valid:
                raise ValueError(f"model option {value!r} not in {sorted(valid)}")
        if self.conv == "gat" and self.hidden % self.gat_heads:
            raise ValueError(f"GAT hidden width {self.hidden} is not a multiple of {self.gat_heads} heads")

    @property
    def node_types(self) -> tuple[str, ...]:
        return NODE_SETS[self.nodes]

    @property
    def uses_contrastive(self) -> bool:
        """InfoNCE needs both an image graph and a clinical node."""
        return self.contrastive and self.nodes == "all"


@dataclass
class Output:
    """What the network returns for n patients."""

    logits: torch.Tensor | None      # (n, K) per-year hazard logits (temporal and single heads)
    risk: torch.Tensor | None        # (n,) Cox log relative risk (cox head)
    image: torch.Tensor | None       # (n, projection) image-graph embedding for InfoNCE
    clinical: torch.Tensor | None    # (n, projection) clinical embedding for InfoNCE


class NodeEncoder(nn.Module):
    """Per node type: Linear(input width -> h); anatomy nodes add a learned structure embedding."""

    def __init__(self, dims: dict[str, int], ntypes, hidden: int, dropout: float):
        super().__init__()
        self.project = nn.ModuleDict({nt: nn.Linear(dims[nt], hidden) for nt in ntypes})
        self.structure = nn.Embedding(len(NODE_NAMES), hidden) if "anatomy" in ntypes else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph) -> dict[str, torch.Tensor]:
        out = {}
        for ntype, layer in self.project.items():
            h = layer(graph.nodes[ntype].data["h0"])
            if ntype == "anatomy":
                h = h + self.structure(graph.nodes["anatomy"].data["structure"])
            out[ntype] = self.dropout(torch.relu(h))
        return out


class EdgeGates(nn.Module):
    """Per attributed relation, a scalar edge weight 2*sigmoid(w.a + b), 1 at initialisation."""

    def __init__(self, etypes):
        super().__init__()
        self.gates = nn.ModuleDict({et: nn.Linear(len(EDGE_ATTRIBUTES), 1) for et in etypes})
        for gate in self.gates.values():
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)

    def forward(self, graph) -> dict[str, torch.Tensor]:
        """canonical etype name -> (E,) weights; relations without attributes are absent (weight 1)."""
        return {et: 2 * torch.sigmoid(gate(graph.edges[et].data["a"]))[:, 0] for et, gate in self.gates.items()}


class HeteroSAGE(nn.Module):
    """`layers` HeteroGraphConv layers with one SAGEConv (mean) per relation, summed per node type."""

    def __init__(self, etypes, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            dgl.nn.pytorch.HeteroGraphConv({et: dgl.nn.pytorch.SAGEConv(hidden, hidden, "mean") for et in etypes},
                                           aggregate="sum") for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph, h: dict, weights: dict) -> dict:
        kwargs = {et: {"edge_weight": w} for et, w in weights.items()}
        for i, layer in enumerate(self.layers):
            out = layer(graph, h, mod_kwargs=kwargs)
            h = {nt: out.get(nt, h[nt]) for nt in h}
            if i < len(self.layers) - 1:
                h = {nt: self.dropout(torch.relu(x)) for nt, x in h.items()}
        return h


class HomogeneousGNN(nn.Module):
    """SAGE, GCN or GAT layers on the homogeneous view of the graph (node types forgotten)."""

    def __init__(self, conv: str, hidden: int, layers: int, dropout: float, gat_heads: int):
        super().__init__()
        nn_ = dgl.nn.pytorch

        def make():
            if conv == "sage":
                return nn_.SAGEConv(hidden, hidden, "mean")
            if conv == "gcn":
                return nn_.GraphConv(hidden, hidden, norm="both", allow_zero_in_degree=True)
            return nn_.GATConv(hidden, hidden // gat_heads, gat_heads, allow_zero_in_degree=True)

        self.conv = conv
        self.layers = nn.ModuleList(make() for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph, h: dict, weights: dict) -> dict:
        homogeneous, weight = _homogeneous(graph, weights, self_loops=self.conv == "gcn")
        ntypes = [nt for nt in graph.ntypes if nt in h]
        x = torch.cat([h[nt] for nt in ntypes])
        for i, layer in enumerate(self.layers):
            x = layer(homogeneous, x, edge_weight=weight).flatten(1)
            if i < len(self.layers) - 1:
                x = self.dropout(torch.relu(x))
        return dict(zip(ntypes, torch.split(x, [graph.num_nodes(nt) for nt in ntypes])))


def _homogeneous(graph, weights: dict, self_loops: bool):
    """dgl.to_homogeneous (nodes and edges ordered by type) with the edge weights in that order."""
    cache = getattr(graph, "_stg_homogeneous", None)
    if cache is None or cache[1] != self_loops:
        homogeneous = dgl.to_homogeneous(graph)
        if self_loops:
            homogeneous = dgl.add_self_loop(homogeneous)
        graph._stg_homogeneous = cache = (homogeneous, self_loops)
    homogeneous = cache[0]
    parts = [weights.get(et[1], torch.ones(graph.num_edges(et))) for et in graph.canonical_etypes]
    weight = torch.cat(parts) if parts else torch.ones(0)
    missing = homogeneous.num_edges() - len(weight)  # the self loops added last
    return homogeneous, torch.cat([weight, torch.ones(missing)])


class TemporalHead(nn.Module):
    """Spatiotemporal decoupling: logit_k = v . relu(W p + e_k) + c, e_k a learned year embedding."""

    def __init__(self, hidden: int, year_dim: int):
        super().__init__()
        self.patient = nn.Linear(hidden, year_dim)
        self.years = nn.Embedding(N_YEARS, year_dim)
        self.out = nn.Linear(year_dim, 1)

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        combined = torch.relu(self.patient(p)[:, None, :] + self.years.weight[None, :, :])   # (n, K, d)
        return self.out(combined)[..., 0]


class SingleRiskHead(nn.Module):
    """No decoupling: one risk score r = w . p, logit_k = r + b_k (proportional odds over years)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.risk = nn.Linear(hidden, 1, bias=False)
        self.baseline = nn.Parameter(torch.full((N_YEARS,), -2.0))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.risk(p) + self.baseline[None, :]


class SurvivalGNN(nn.Module):
    """STG and its ablations/baselines; `dims` are the input widths per node type."""

    def __init__(self, dims: dict[str, int], config: ModelConfig):
        super().__init__()
        self.config = config
        ntypes = config.node_types
        h = config.hidden
        self.encoder = NodeEncoder(dims, ntypes, h, config.dropout)
        etypes = [et for (src, et, dst) in EDGES if src in ntypes and dst in ntypes]
        use_gates = config.edge_attributes and config.graph != "none"
        self.gates = EdgeGates([et for et in ATTRIBUTE_EDGE_TYPES if et in etypes]) if use_gates else None
        if config.graph == "hetero" and etypes and config.layers:
            self.gnn = HeteroSAGE(etypes, h, config.layers, config.dropout)
        elif config.graph == "homogeneous" and etypes and config.layers:
            self.gnn = HomogeneousGNN(config.conv, h, config.layers, config.dropout, config.gat_heads)
        else:
            self.gnn = None
        has_image = "anatomy" in ntypes
        if config.graph == "none":   # MLP on the concatenated node embeddings
            width = h * ((len(NODE_NAMES) if has_image else 0) + ("ct" in ntypes) + ("clinical" in ntypes))
            self.image_readout = None
        else:
            self.image_readout = nn.Linear((len(NODE_NAMES) + 1) * h, h) if has_image else None
            width = h * (has_image + ("clinical" in ntypes))
        self.fuse = nn.Sequential(nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout))
        if config.uses_contrastive:
            self.project_image = nn.Linear(h, config.projection)
            self.project_clinical = nn.Linear(h, config.projection)
        if config.head == "temporal":
            self.head = TemporalHead(h, config.year_dim)
        elif config.head == "single":
            self.head = SingleRiskHead(h)
        else:
            self.head = nn.Linear(h, 1, bias=False)

    def forward(self, graph) -> Output:
        config = self.config
        graph = keep_node_types(graph, config.node_types)
        h0 = self.encoder(graph)
        weights = self.gates(graph) if self.gates is not None else {}
        h = self.gnn(graph, h0, weights) if self.gnn is not None else h0
        n = graph.batch_size
        parts, image = [], None
        if config.graph == "none":
            parts = [h[nt].reshape(n, -1) for nt in ("anatomy", "ct", "clinical") if nt in h]
        else:
            if self.image_readout is not None:
                pooled = [h["anatomy"].reshape(n, -1), h["ct"]]
                image = torch.relu(self.image_readout(torch.cat(pooled, dim=1)))
                parts.append(image)
            if "clinical" in h:
                parts.append(h["clinical"])
        p = self.fuse(torch.cat(parts, dim=1))
        contrast = {}
        if config.uses_contrastive:
            if image is None:   # MLP: the image part is the concatenated image-node embeddings' mean
                image = torch.cat([h["anatomy"].reshape(n, len(NODE_NAMES), -1), h["ct"][:, None]], 1).mean(1)
            contrast = {"image": self.project_image(image), "clinical": self.project_clinical(h0["clinical"])}
        if config.head == "cox":
            return Output(None, self.head(p)[:, 0], contrast.get("image"), contrast.get("clinical"))
        return Output(self.head(p), None, contrast.get("image"), contrast.get("clinical"))


def n_trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def scaled(config: ModelConfig, hidden: int) -> ModelConfig:
    """The same network narrower: hidden width `hidden`, year and contrastive widths in proportion."""
    factor = hidden / config.hidden
    heads = config.gat_heads if config.conv == "gat" else 1
    hidden = max(heads, hidden - hidden % heads)
    return replace(config, hidden=hidden, year_dim=max(2, round(config.year_dim * factor)),
                   projection=max(2, round(config.projection * factor)))


def lite_config(dims: dict[str, int], config: ModelConfig, ratio: float) -> ModelConfig:
    """The narrowest-width variant whose trainable parameters are closest to `ratio` of the full model's.

    The paper's lite STG has 78.55 % fewer parameters (ratio 0.2145); the width that gives it
    depends on the input widths, so it is solved for here (bisection: the count grows with width).
    """
    target = ratio * n_trainable(SurvivalGNN(dims, config))
    low, high = 1, config.hidden
    while high - low > 1:
        middle = (low + high) // 2
        if n_trainable(SurvivalGNN(dims, scaled(config, middle))) < target:
            low = middle
        else:
            high = middle
    candidates = [scaled(config, low), scaled(config, high)]
    return min(candidates, key=lambda c: abs(n_trainable(SurvivalGNN(dims, c)) - target))
