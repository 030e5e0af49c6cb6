"""GAT on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
import torch.nn.functional as F
from torch import nn

from benchmark.dgl_import import dgl
from benchmark.methods import MethodError
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.neural import GraphBaseline, NetworkConfig

dglnn = dgl.nn.pytorch


class GAT(nn.Module):
    """GAT (Velickovic et al. 2018), as DGL's example: GATConv layers of `heads` heads of width h / heads,
    concatenated, ReLU and dropout between; (N, h) -> (N, heads, h / heads) -> (N, h). Attention weights are
    scaled by the edge gates."""

    def __init__(self, hidden: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.gat_layers = nn.ModuleList(dglnn.GATConv(hidden, hidden // heads, heads, allow_zero_in_degree=True)
                                        for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, g, h, edge_weight):
        for i, layer in enumerate(self.gat_layers):
            h = layer(g, h, edge_weight=edge_weight).flatten(1)
            if i != len(self.gat_layers) - 1:
                h = self.dropout(F.relu(h))
        return h


class Gat(GraphBaseline):
    name = "gat"
    description = "GAT (4 heads) on the homogeneous patient graph"
    defaults = {**GraphBaseline.defaults, "gat_heads": 4}

    def __init__(self, **params):
        super().__init__(**params)
        if self.params["hidden"] % self.params["gat_heads"]:
            raise MethodError(f"GAT hidden width {self.params['hidden']} is not a multiple of "
                              f"{self.params['gat_heads']} heads")

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> HomogeneousNetwork:
        gnn = GAT(config.hidden, config.layers, self.params["gat_heads"], config.dropout) if config.layers else None
        return HomogeneousNetwork(dims, config, gnn)
