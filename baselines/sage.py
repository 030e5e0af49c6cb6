"""Homogeneous GraphSAGE on the STG patient graphs, with a discrete-time ("single") or Cox head."""
import torch.nn.functional as F
from torch import nn

from benchmark.dgl_import import dgl
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.neural import GraphBaseline, NetworkConfig

dglnn = dgl.nn.pytorch


class SAGE(nn.Module):
    """GraphSAGE (Hamilton et al. 2017), as DGL's example: SAGEConv (mean) layers, x'_v = W1 x_v +
    W2 mean_u(w_uv x_u) over the neighbours u of every type, ReLU and dropout between; (N, h) -> (N, h)."""

    def __init__(self, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(dglnn.SAGEConv(hidden, hidden, "mean") for _ in range(layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, g, h, edge_weight):
        for i, layer in enumerate(self.layers):
            h = layer(g, h, edge_weight=edge_weight)
            if i != len(self.layers) - 1:
                h = self.dropout(F.relu(h))
        return h


class Sage(GraphBaseline):
    name = "sage"
    description = "GraphSAGE (mean) on the homogeneous patient graph; head=single (discrete time) or cox"

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> HomogeneousNetwork:
        gnn = SAGE(config.hidden, config.layers, config.dropout) if config.layers else None
        return HomogeneousNetwork(dims, config, gnn)
