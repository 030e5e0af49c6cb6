"""GCN on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
import torch.nn.functional as F
from torch import nn

from benchmark.dgl_import import dgl
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.neural import GraphBaseline, NetworkConfig

dglnn = dgl.nn.pytorch


class GCN(nn.Module):
    """GCN (Kipf & Welling 2017), as DGL's example: GraphConv layers (symmetric norm, self loops in the
    graph), ReLU and dropout between them; (N, h) -> (N, h), edges weighted by the edge gates."""

    def __init__(self, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(dglnn.GraphConv(hidden, hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, g, h, edge_weight):
        for i, layer in enumerate(self.layers):
            if i != 0:
                h = self.dropout(F.relu(h))
            h = layer(g, h, edge_weight=edge_weight)
        return h


class Gcn(GraphBaseline):
    name = "gcn"
    description = "GCN (GraphConv, symmetric norm, self loops) on the homogeneous patient graph"

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> HomogeneousNetwork:
        gnn = GCN(config.hidden, config.layers, config.dropout) if config.layers else None
        return HomogeneousNetwork(dims, config, gnn, self_loops=True)
