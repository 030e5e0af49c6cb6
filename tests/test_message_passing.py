"""The gather-scatter convolutions compute what DGL's modules compute, with the same parameters, on batched
lesion graphs (mixed lesion counts, so some patients have relations without edges)."""
import numpy as np
import pytest
import torch
from stg_fakes import fake_cohort

from benchmark.methods.message_passing import EdgeGates, EdgeIndex, GATConv, GraphConv, RelationalSAGE
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
