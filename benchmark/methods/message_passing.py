"""Graph convolutions as one sparse matrix product per layer over all the batch's edges.

A patient graph has seven nodes; a batch of 158 patients about 1,100 nodes and 4,400 edges. On graphs
that small, DGL's module calls cost more than the matrix products they feed: HeteroGraphConv runs one
SAGEConv per relation, each with its own degree count and sparse kernel. The layers here compute the
same functions as DGL's SAGEConv (mean), HeteroGraphConv of SAGEConv summed over relations, GraphConv
(norm "both") and GATConv, with the same parameters and initialisation, on an `EdgeIndex` built once
per batched graph (tests check them against DGL's modules). Summing the messages into their targets is
one CSR product of the per-edge coefficients with the node embeddings (`aggregate`), so the (E, h) messages
are never formed, forward or backward. DGL still builds, stores and batches the graphs.

Shapes: N nodes of the batch (node types concatenated in `EdgeIndex.ntypes` order), E edges (relations
concatenated in `EdgeIndex.relations` order), h width, R relations.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from benchmark.methods.dropout import Dropout
from stg.graphs import RELATION_ATTRIBUTES

#: The widest edge-attribute vector of any relation (the gates' input width).
ATTRIBUTE_WIDTH = max(len(columns) for columns in RELATION_ATTRIBUTES.values())
RELU_GAIN = nn.init.calculate_gain("relu")


@dataclass(frozen=True)
class EdgeIndex:
    """The edges of a batched graph as flat global-node arrays, with what each convolution normalises by.

    ``slot`` numbers each (destination node, relation into its type) pair, so one aggregation onto ``slot``
    gives every node one aggregate per relation, and ``mean_norm`` is 1 / (edges sharing the slot);
    ``incoming`` names, per node type, the relations (parameter rows of `RelationalSAGE`) of its slots.
    In the homogeneous view there is one node type and one slot per node.
    """

    ntypes: tuple[str, ...]
    counts: tuple[int, ...]                       # nodes per type
    relations: tuple[str, ...]                    # relation names, in edge order
    src: torch.Tensor                             # (E,) long
    dst: torch.Tensor                             # (E,) long
    relation: torch.Tensor                        # (E,) long, index into relations
    attributes: torch.Tensor                      # (E, ATTRIBUTE_WIDTH) edge attributes, zero-padded
    incoming: tuple[tuple[int, ...], ...]         # per node type, the relations into it
    slot: torch.Tensor                            # (E,) long
    mean_norm: torch.Tensor                       # (E,)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, graph, ntypes, relations, homogeneous: bool = False, self_loops: bool = False) -> "EdgeIndex":
        """The index of `graph` on `ntypes`, with the canonical edge types `relations` in this order (in the
        homogeneous view, with or without self loops); built once per batched graph, which keeps it."""
        key = (tuple(ntypes), tuple(relations), homogeneous, self_loops)
        cache = graph.__dict__.setdefault("_edge_indices", {})
        if key not in cache:
            index = cls._build(graph, *key[:2])
            cache[key] = index.homogeneous(self_loops) if homogeneous else index
        return cache[key]

    def cached(self, key, build):
        """`build(self)`, computed once per index (what a layer derives from the edges, e.g. its sparse layout)."""
        if key not in self._cache:
            self._cache[key] = build(self)
        return self._cache[key]

    @classmethod
    def _build(cls, graph, ntypes, relations) -> "EdgeIndex":
        counts = tuple(graph.num_nodes(nt) for nt in ntypes)
        offsets = dict(zip(ntypes, _starts(counts).tolist()))
        src, dst, relation, attributes = [], [], [], []
        for r, etype in enumerate(relations):
            u, v = graph.edges(etype=etype)
            src.append(u + offsets[etype[0]])
            dst.append(v + offsets[etype[2]])
            relation.append(torch.full_like(u, r))
            a = graph.edges[etype].data.get("a", torch.zeros(len(u), 0))
            attributes.append(nn.functional.pad(a, (0, ATTRIBUTE_WIDTH - a.shape[1])))
        incoming = tuple(tuple(r for r, etype in enumerate(relations) if etype[2] == nt) for nt in ntypes)
        dst, relation = torch.cat(dst), torch.cat(relation)
        return cls(tuple(ntypes), counts, tuple(etype[1] for etype in relations), torch.cat(src), dst, relation,
                   torch.cat(attributes), incoming, *_slots(counts, incoming, dst, relation))

    @property
    def n_nodes(self) -> int:
        return sum(self.counts)

    @property
    def slot_counts(self) -> list[int]:
        """Per node type, its (node, relation) slots: nodes times the relations into the type."""
        return [c * len(r) for c, r in zip(self.counts, self.incoming)]

    @property
    def n_slots(self) -> int:
        return sum(self.slot_counts)

    def homogeneous(self, self_loops: bool = False) -> "EdgeIndex":
        """The same edges with node types and relations forgotten for message passing (the relations stay
        for the gates); with `self_loops` every node gets a loop edge, appended last, of an ungated relation."""
        n, src, dst, relation, attributes, relations = (self.n_nodes, self.src, self.dst, self.relation,
                                                        self.attributes, self.relations)
        if self_loops:
            loops = torch.arange(n)
            src, dst = torch.cat([src, loops]), torch.cat([dst, loops])
            relation = torch.cat([relation, torch.full_like(loops, len(relations))])
            attributes = torch.cat([attributes, attributes.new_zeros(n, ATTRIBUTE_WIDTH)])
            relations = (*relations, "self")
        return EdgeIndex(("node",), (n,), relations, src, dst, relation, attributes, ((0,),),
                         *_slots((n,), ((0,),), dst, torch.zeros_like(relation)))


def _starts(counts) -> torch.Tensor:
    """The first index of each of consecutive blocks of these sizes."""
    return torch.cumsum(torch.tensor([0, *counts]), 0)[:-1]


def _slots(counts, incoming, dst, relation) -> tuple[torch.Tensor, torch.Tensor]:
    """Each edge's (destination node, relation) slot, and 1 / the number of edges sharing it."""
    widths = torch.tensor([len(r) for r in incoming])
    type_of = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))[dst]       # (E,)
    position = torch.zeros(len(counts), int(relation.max()) + 1 if len(relation) else 1, dtype=torch.long)
    for t, relations in enumerate(incoming):
        position[t, list(relations)] = torch.arange(len(relations))
    first_slot = _starts([c * w for c, w in zip(counts, widths.tolist())])
    slot = first_slot[type_of] + (dst - _starts(counts)[type_of]) * widths[type_of] + position[type_of, relation]
    sharing = torch.bincount(slot)[slot] if len(slot) else torch.zeros(0)
    return slot, 1.0 / sharing.float()


class ConvStack(nn.Module):
    """Convolutions on the concatenated node embeddings, ReLU and dropout between them: each maps
    (N, h) to (N, h) or (N, heads, h / heads), flattened."""

    def __init__(self, convs: list[nn.Module], dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(convs)
        self.dropout = Dropout(dropout)

    def forward(self, index: EdgeIndex, x: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(index, x, edge_weight).flatten(1)
            if i < len(self.layers) - 1:
                x = self.dropout(torch.relu(x))
        return x


def aggregate(x: torch.Tensor, index: EdgeIndex, coefficient: torch.Tensor, onto: str = "dst") -> torch.Tensor:
    """sum over edges e into target[e] of coefficient[e] * x[src[e]], the targets being the index's
    destination nodes (``onto="dst"``) or its (node, relation) slots (``"slot"``): (N, h) -> (targets, h).
    With heads, each head its own coefficients: x (N, H, F) and coefficient (E, H) -> (targets, H, F).

    One sparse product: the (E, h) messages are never formed, forward or backward (see `SparseLayout`).
    """
    heads = x.shape[1] if x.dim() == 3 else 1
    layout = index.cached(("layout", onto, heads), lambda i: SparseLayout.of(i, onto, heads))
    out = _SparseAggregate.apply(coefficient.reshape(-1), x.reshape(-1, x.shape[-1]), layout)
    return out.view(-1, *x.shape[1:])


@dataclass(frozen=True)
class SparseLayout:
    """The edges as a sparse (targets, N) matrix in CSR form, and its transpose, built once per index.

    Rows are sorted by target, then source; ``by_target`` and ``by_source`` put per-edge values (in the
    index's edge order) into the order of the matrix and of its transpose. With H heads the matrix is
    (targets H, N H): head k of an edge joins row (target, k) to column (source, k), values edge-major.
    """

    shape: tuple[int, int]
    by_target: torch.Tensor       # (E H,) edge order of the matrix's entries
    rows: torch.Tensor            # (targets H + 1,) CSR row pointers
    columns: torch.Tensor         # (E H,) source of each entry
    by_source: torch.Tensor       # (E H,) edge order of the transpose's entries
    t_rows: torch.Tensor          # (N H + 1,)
    t_columns: torch.Tensor       # (E H,) target of each entry of the transpose

    @classmethod
    def of(cls, index: EdgeIndex, onto: str, heads: int = 1) -> "SparseLayout":
        target = index.slot if onto == "slot" else index.dst
        size, n = (index.n_slots if onto == "slot" else index.n_nodes) * heads, index.n_nodes * heads
        head = torch.arange(heads)
        source, target = (index.src[:, None] * heads + head).flatten(), (target[:, None] * heads + head).flatten()
        by_target = torch.argsort(target * n + source, stable=True)
        by_source = torch.argsort(source * size + target, stable=True)
        return cls((size, n), by_target, _row_pointers(target, size), source[by_target],
                   by_source, _row_pointers(source, n), target[by_source])

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        """The (targets, N) CSR matrix with these per-edge values."""
        return _csr(self.rows, self.columns, values[self.by_target], self.shape)

    def transpose(self, values: torch.Tensor) -> torch.Tensor:
        """Its (N, targets) transpose."""
        return _csr(self.t_rows, self.t_columns, values[self.by_source], self.shape[::-1])


def _row_pointers(rows: torch.Tensor, size: int) -> torch.Tensor:
    return torch.cat([rows.new_zeros(1), torch.cumsum(torch.bincount(rows, minlength=size), 0)])


def _csr(rows, columns, values, shape) -> torch.Tensor:
    with warnings.catch_warnings():   # torch warns once that CSR tensors are a beta feature
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(rows, columns, values, shape, check_invariants=False)


class _SparseAggregate(torch.autograd.Function):
    """out = A x for the sparse A of per-edge `coefficient`s; backward: A^T grad for x, and for each edge's
    coefficient the dot product of its target's gradient with its source's embedding (a sampled product)."""

    @staticmethod
    def forward(ctx, coefficient: torch.Tensor, x: torch.Tensor, layout: SparseLayout) -> torch.Tensor:
        matrix = layout.matrix(coefficient)
        ctx.layout, ctx.matrix = layout, matrix   # the matrix's pattern is where backward samples
        ctx.save_for_backward(coefficient, x)
        if not len(coefficient):
            return x.new_zeros(layout.shape[0], x.shape[1])
        return matrix @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        coefficient, x = ctx.saved_tensors
        layout, grad = ctx.layout, grad.contiguous()
        grad_coefficient = grad_x = None
        if ctx.needs_input_grad[0]:
            sampled = torch.sparse.sampled_addmm(ctx.matrix, grad, x.detach().T, beta=0.0).values()  # matrix order
            grad_coefficient = torch.empty_like(sampled).index_put_((layout.by_target,), sampled)
        if ctx.needs_input_grad[1]:
            grad_x = (layout.transpose(coefficient) @ grad if len(coefficient)
                      else torch.zeros_like(x))
        return grad_coefficient, grad_x, None


class EdgeGates(nn.Module):
    """Per attributed relation, a scalar edge weight 2*sigmoid(w.a + b), 1 at initialisation; edges of
    relations without attributes weigh 1. Every relation's gate in one product over the edges: (E,)."""

    def __init__(self, relations):
        super().__init__()
        self.relations = tuple(relations)
        widths = [len(RELATION_ATTRIBUTES[r]) for r in self.relations]
        for width in widths:   # drawn as torch's Linear(width, 1) would be, then zeroed: seeds keep their networks
            nn.Linear(width, 1)
        self.weight = nn.Parameter(torch.zeros(sum(widths)))        # the relations' w, one after the other
        self.bias = nn.Parameter(torch.zeros(len(self.relations)))  # their b
        starts = _starts(widths).tolist()
        # per relation: where each attribute's w sits in [weight, 0], and where b sits in [bias, 0]
        self._position = {r: ([s + j for j in range(w)] + [len(self.weight)] * (ATTRIBUTE_WIDTH - w), i)
                          for i, (r, s, w) in enumerate(zip(self.relations, starts, widths))}

    def forward(self, index: EdgeIndex) -> torch.Tensor:
        """(E,) weights, in the index's edge order."""
        weight_at, bias_at = index.cached(("gates", self.relations), self._positions)
        weight = torch.cat([self.weight, self.weight.new_zeros(1)])[weight_at]           # (E, ATTRIBUTE_WIDTH)
        bias = torch.cat([self.bias, self.bias.new_zeros(1)])[bias_at]                   # (E,)
        gated = bias_at < len(self.bias)
        return torch.where(gated, 2 * torch.sigmoid((index.attributes * weight).sum(1) + bias), 1.0)

    def _positions(self, index: EdgeIndex) -> tuple[torch.Tensor, torch.Tensor]:
        """Per edge, the positions of its relation's w (E, ATTRIBUTE_WIDTH) and b (E,); past the end if ungated."""
        ungated = ([len(self.weight)] * ATTRIBUTE_WIDTH, len(self.bias))
        table = [self._position.get(r, ungated) for r in index.relations]
        weight_at = torch.tensor([w for w, _ in table], dtype=torch.long).reshape(-1, ATTRIBUTE_WIDTH)
        return weight_at[index.relation], torch.tensor([b for _, b in table], dtype=torch.long)[index.relation]


class RelationalSAGE(nn.Module):
    """GraphSAGE (mean) per relation, summed over the relations into each node type (DGL's
    HeteroGraphConv({r: SAGEConv(h, h, "mean")}, "sum")):

        x'_v = sum over relations r into type(v) of  W_self_r x_v + b_r + W_neigh_r mean_{u -r-> v} w_uv x_u

    One relation on the homogeneous view is plain SAGEConv. Per node type one matrix product of
    [x_v, the per-relation means] with [sum_r W_self_r, W_neigh_r...]: (N, h) -> (N, h).
    """

    def __init__(self, n_relations: int, hidden: int):
        super().__init__()
        self_weight, neigh_weight, bias = [], [], []
        for _ in range(n_relations):   # SAGEConv's construction order and initialisation
            neigh, own = nn.Linear(hidden, hidden, bias=False), nn.Linear(hidden, hidden)
            nn.init.xavier_uniform_(own.weight, gain=RELU_GAIN)
            nn.init.xavier_uniform_(neigh.weight, gain=RELU_GAIN)
            self_weight.append(own.weight.data)
            neigh_weight.append(neigh.weight.data)
            bias.append(own.bias.data)
        self.self_weight = nn.Parameter(torch.stack(self_weight))     # (R, h, h)
        self.neigh_weight = nn.Parameter(torch.stack(neigh_weight))   # (R, h, h)
        self.bias = nn.Parameter(torch.stack(bias))                   # (R, h)

    def forward(self, index: EdgeIndex, x: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        means = aggregate(x, index, edge_weight * index.mean_norm, onto="slot")         # (slots, h)
        incoming = index.cached("incoming", lambda i: [torch.tensor(r, dtype=torch.long) for r in i.incoming])
        out = []
        for x_t, means_t, r in zip(torch.split(x, list(index.counts)), torch.split(means, index.slot_counts), incoming):
            if not len(r):                # a node type nothing flows into keeps its embedding
                out.append(x_t)
                continue
            neigh = self.neigh_weight.index_select(0, r).transpose(0, 1).reshape(x.shape[1], -1)   # (h, R_t h)
            weight = torch.cat([self.self_weight.index_select(0, r).sum(0), neigh], dim=1)     # (h, (1 + R_t) h)
            inputs = torch.cat([x_t, means_t.reshape(len(x_t), -1)], dim=1)                  # (N_t, (1 + R_t) h)
            out.append(torch.addmm(self.bias.index_select(0, r).sum(0), inputs, weight.T))
        return torch.cat(out)


class GraphConv(nn.Module):
    """GCN (Kipf & Welling 2017) as DGL's GraphConv(norm="both"): x'_v = sum_{u -> v} w_uv x_u W /
    sqrt(deg_out(u) deg_in(v)) + b, degrees counting edges (self loops come from the index): (N, h) -> (N, h)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden, hidden))
        self.bias = nn.Parameter(torch.zeros(hidden))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, index: EdgeIndex, x: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        norm = index.cached("symmetric_norm", _symmetric_norm)                          # (E,)
        return aggregate(x, index, edge_weight * norm) @ self.weight + self.bias


def _symmetric_norm(index: EdgeIndex) -> torch.Tensor:
    """(E,) 1 / sqrt(out-degree of the source * in-degree of the destination), degrees at least 1."""
    out_degree = torch.bincount(index.src, minlength=index.n_nodes).clamp(min=1).float()
    in_degree = torch.bincount(index.dst, minlength=index.n_nodes).clamp(min=1).float()
    return (out_degree[index.src] * in_degree[index.dst]).rsqrt()


class GATConv(nn.Module):
    """GAT (Velickovic et al. 2018) as DGL's GATConv: per head, attention softmax over a node's incoming
    edges of leakyrelu(a_l . z_u + a_r . z_v), scaled by the edge weight, z = W x: (N, h) -> (N, heads, h / heads)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.width = heads, hidden // heads
        self.fc = nn.Linear(hidden, hidden, bias=False)
        self.attn_l = nn.Parameter(torch.empty(1, heads, self.width))
        self.attn_r = nn.Parameter(torch.empty(1, heads, self.width))
        self.bias = nn.Parameter(torch.zeros(heads * self.width))
        for parameter in (self.fc.weight, self.attn_l, self.attn_r):
            nn.init.xavier_normal_(parameter, gain=RELU_GAIN)

    def forward(self, index: EdgeIndex, x: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        n = index.n_nodes
        z = self.fc(x).view(n, self.heads, self.width)                          # (N, H, F)
        left, right = (z * self.attn_l).sum(-1), (z * self.attn_r).sum(-1)     # (N, H) each
        score = nn.functional.leaky_relu(left[index.src] + right[index.dst], 0.2)   # (E, H)
        top = torch.full((n, self.heads), -torch.inf).scatter_reduce(
            0, index.dst[:, None].expand_as(score), score.detach(), "amax")
        weight = torch.exp(score - top[index.dst])
        total = weight.new_zeros(n, self.heads).index_add(0, index.dst, weight)
        attention = weight / total[index.dst] * edge_weight[:, None]           # (E, H)
        return aggregate(z, index, attention) + self.bias.view(1, self.heads, self.width)   # (N, H, F)
