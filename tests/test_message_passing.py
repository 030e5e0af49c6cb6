"""The sparse-product convolutions compute what DGL's modules compute, with the same parameters, on batched
lesion graphs (mixed lesion counts, so some patients have relations without edges); the aggregation and its
gradients equal summing each message; dropout draws torch's masks."""
import numpy as np
import pytest
import torch
from stg_fakes import fake_cohort
from torch import nn

from benchmark.methods.dropout import Dropout
from benchmark.methods.message_passing import EdgeGates, EdgeIndex, GATConv, GraphConv, RelationalSAGE, aggregate
from stg.dgl_import import dgl
from stg.graphs import RELATION_ATTRIBUTES

dglnn = dgl.nn.pytorch
H = 8


@pytest.fixture(scope="module")
def graph(drawn_cohort):
    """A batch of 12 lesion graphs with random embeddings ``x`` on every node and positive edge weights ``w``."""
    cohort = fake_cohort(drawn_cohort, "message-passing-test")
    graph = cohort.artefacts["graphs_radiomics_lesions"].batch(cohort.patient_ids[:12])
    assert 0 < graph.num_edges("lesion_lesion") < graph.num_nodes("lesion") ** 2   # some patients lack it
    generator = torch.Generator().manual_seed(0)
    for ntype in graph.ntypes:
        graph.nodes[ntype].data["x"] = torch.randn(graph.num_nodes(ntype), H, generator=generator)
    for etype in graph.canonical_etypes:
        graph.edges[etype].data["w"] = torch.rand(graph.num_edges(etype), generator=generator) + 0.5
    return graph


def flat(graph):
    """The node embeddings and edge weights in DGL's homogeneous order (types sorted), and that index."""
    index = EdgeIndex.of(graph, graph.ntypes, graph.canonical_etypes)
    x = torch.cat([graph.nodes[nt].data["x"] for nt in graph.ntypes])
    w = torch.cat([graph.edges[et].data["w"] for et in graph.canonical_etypes])
    return index, x, w


def test_relational_sage_is_heterograph_conv_of_sageconv_summed(graph):
    index, x, w = flat(graph)
    relations = [et for _, et, _ in graph.canonical_etypes]
    torch.manual_seed(1)
    reference = dglnn.HeteroGraphConv({et: dglnn.SAGEConv(H, H, "mean") for et in relations}, aggregate="sum")
    torch.manual_seed(1)
    ours = RelationalSAGE(len(relations), H)
    expected = reference(graph, {nt: graph.nodes[nt].data["x"] for nt in graph.ntypes},
                         mod_kwargs={et: {"edge_weight": graph.edges[et].data["w"]} for et in relations})
    got = dict(zip(index.ntypes, torch.split(ours(index, x, w), list(index.counts))))
    for ntype in graph.ntypes:
        torch.testing.assert_close(got[ntype], expected[ntype], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["sage", "gcn", "gat"])
def test_homogeneous_convolutions_are_dgls(graph, name):
    _, x, w = flat(graph)
    homogeneous = dgl.to_homogeneous(graph)
    self_loops = name == "gcn"
    if self_loops:
        homogeneous = dgl.add_self_loop(homogeneous)
        w = torch.cat([w, torch.ones(homogeneous.num_edges() - len(w))])
    index = EdgeIndex.of(graph, graph.ntypes, graph.canonical_etypes, homogeneous=True, self_loops=self_loops)
    modules = {"sage": (lambda: dglnn.SAGEConv(H, H, "mean"), lambda: RelationalSAGE(1, H)),
               "gcn": (lambda: dglnn.GraphConv(H, H, norm="both", allow_zero_in_degree=True), lambda: GraphConv(H)),
               "gat": (lambda: dglnn.GATConv(H, H // 2, 2, allow_zero_in_degree=True), lambda: GATConv(H, 2))}[name]
    torch.manual_seed(2)
    reference = modules[0]()
    torch.manual_seed(2)
    ours = modules[1]()
    torch.testing.assert_close(ours(index, x, w), reference(homogeneous, x, edge_weight=w), atol=1e-5, rtol=1e-5)


def test_gates_are_one_linear_per_attributed_relation(graph):
    index = EdgeIndex.of(graph, graph.ntypes, graph.canonical_etypes)
    gated = ["anatomy_ct", "lesion_anatomy", "lesion_lesion"]
    gates = EdgeGates(gated)
    assert len(gates.weight) == sum(len(RELATION_ATTRIBUTES[r]) for r in gated)
    torch.testing.assert_close(gates(index), torch.ones(len(index.src)))   # 1 at initialisation
    with torch.no_grad():
        gates.weight.copy_(torch.linspace(-1, 1, len(gates.weight)))
        gates.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    weights = dict(zip([et for _, et, _ in graph.canonical_etypes],
                       torch.split(gates(index), [graph.num_edges(et) for et in graph.canonical_etypes])))
    start = 0
    for i, relation in enumerate(gated):
        width = len(RELATION_ATTRIBUTES[relation])
        a = graph.edges[relation].data["a"]
        expected = 2 * torch.sigmoid(a @ gates.weight[start:start + width] + gates.bias[i])
        torch.testing.assert_close(weights[relation], expected)
        start += width
    for relation in set(weights) - set(gated):
        assert torch.equal(weights[relation], torch.ones_like(weights[relation]))


def test_the_index_is_built_once_per_batch_and_counts_each_relation_into_each_node(graph):
    index = EdgeIndex.of(graph, graph.ntypes, graph.canonical_etypes)
    assert EdgeIndex.of(graph, graph.ntypes, graph.canonical_etypes) is index
    assert len(index.src) == graph.num_edges()
    # the mean norm of an edge is 1 / (edges of its relation into its destination)
    lesion_lesion = index.relations.index("lesion_lesion")
    edges = (index.relation == lesion_lesion).numpy()
    counts = np.bincount(index.dst.numpy()[edges])
    assert np.allclose(index.mean_norm.numpy()[edges], 1 / counts[index.dst.numpy()[edges]])


def gather_scatter(x, index, coefficient, onto):
    """The aggregation written out edge by edge: each message formed, then summed into its target."""
    target, size = (index.slot, index.n_slots) if onto == "slot" else (index.dst, index.n_nodes)
    messages = x[index.src] * coefficient.view(*coefficient.shape, *[1] * (x.dim() - coefficient.dim()))
    return x.new_zeros(size, *x.shape[1:]).index_add(0, target, messages)


@pytest.mark.parametrize("onto, heads", [("slot", 0), ("dst", 0), ("dst", 3)])
def test_the_sparse_aggregation_and_its_gradients_equal_summing_each_message(graph, onto, heads):
    index, x, w = flat(graph)
    x, w = x.double(), w.double()
    if heads:   # each head its own embeddings and coefficients
        x, w = torch.stack([x * (k + 1) for k in range(heads)], 1), torch.stack([w / (k + 1) for k in range(heads)], 1)
    x, w = x.requires_grad_(), w.requires_grad_()
    out = aggregate(x, index, w, onto)
    expected = gather_scatter(x, index, w, onto)
    torch.testing.assert_close(out, expected)
    upstream = torch.randn_like(out)
    torch.testing.assert_close(torch.autograd.grad(out, (x, w), upstream),
                               torch.autograd.grad(expected, (x, w), upstream))
    assert torch.autograd.gradcheck(lambda x, w: aggregate(x, index, w, onto), (x[..., :2], w))


def test_a_relation_without_edges_aggregates_to_zeros(graph):
    lonely = next(g for g in dgl.unbatch(graph) if g.num_edges("lesion_lesion") == 0)
    relation = next(et for et in graph.canonical_etypes if et[1] == "lesion_lesion")
    index = EdgeIndex.of(lonely, ("lesion",), [relation])
    x = torch.randn(index.n_nodes, 3, requires_grad=True)
    out = aggregate(x, index, torch.ones(0, requires_grad=True), "slot")
    assert torch.equal(out, torch.zeros(index.n_slots, 3))
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_draws_torchs_masks_from_torchs_stream(p):
    x = torch.randn(300, 17, requires_grad=True)
    torch.manual_seed(7)
    expected = nn.Dropout(p)(x)
    state = torch.get_rng_state()
    torch.manual_seed(7)
    got = Dropout(p)(x)
    assert torch.equal(got, expected)
    assert torch.equal(torch.get_rng_state(), state)   # the draws that follow are the same too
    upstream = torch.randn_like(x)
    assert torch.equal(torch.autograd.grad(got, x, upstream)[0], torch.autograd.grad(expected, x, upstream)[0])
    assert Dropout(p).eval()(x) is x
