"""DGL 2.1 on torch 2.13 through benchmark.dgl_import: every DGL feature the suite uses works."""
import torch

from benchmark.dgl_import import GRAPHBOLT_STAND_IN, dgl, graphbolt_library


def test_stand_in_only_when_the_graphbolt_library_is_missing():
    library = graphbolt_library()
    assert library is not None and library.name.startswith("libgraphbolt_pytorch_")
    assert (not library.exists()) == GRAPHBOLT_STAND_IN


def small_heterograph():
    graph = dgl.heterograph({("a", "ab", "b"): ([0, 1, 2], [0, 0, 1]), ("b", "ba", "a"): ([0, 0, 1], [0, 1, 2])})
    graph.nodes["a"].data["h"] = torch.randn(3, 4)
    graph.nodes["b"].data["h"] = torch.randn(2, 4)
    return graph


def test_heterograph_conv_batch_readout_and_save_load(tmp_path):
    nn = dgl.nn.pytorch
    graph = small_heterograph()
    conv = nn.HeteroGraphConv({"ab": nn.SAGEConv(4, 3, "mean"), "ba": nn.SAGEConv(4, 3, "mean")}, aggregate="sum")
    out = conv(graph, {nt: graph.nodes[nt].data["h"] for nt in graph.ntypes},
               mod_kwargs={"ab": {"edge_weight": torch.ones(3)}})
    assert out["a"].shape == (3, 3) and out["b"].shape == (2, 3)

    batched = dgl.batch([graph, small_heterograph()])
    assert batched.batch_size == 2 and batched.num_nodes("a") == 6
    assert dgl.mean_nodes(batched, "h", ntype="a").shape == (2, 4)

    homogeneous = dgl.add_self_loop(dgl.to_homogeneous(graph))
    x = torch.randn(homogeneous.num_nodes(), 4)
    assert nn.GraphConv(4, 2)(homogeneous, x).shape == (5, 2)
    assert nn.GATConv(4, 2, num_heads=3)(homogeneous, x).shape == (5, 3, 2)

    path = str(tmp_path / "graphs.bin")
    dgl.save_graphs(path, [graph])
    loaded = dgl.load_graphs(path)[0][0]
    assert loaded.canonical_etypes == graph.canonical_etypes
    assert torch.equal(loaded.nodes["a"].data["h"], graph.nodes["a"].data["h"])
