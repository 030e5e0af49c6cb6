"""MLP on the concatenated node features of the STG patient graphs (no message passing)."""
import torch
from torch import nn

from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.methods.layers import NODE_TYPES, NodeEncoder, Output, fuse, make_head
from benchmark.methods.neural import GraphBaseline, NetworkConfig

#: Nodes per patient graph: the five anatomical structures, the CT-global node and the clinical node.
NODES_PER_PATIENT = len(NODE_NAMES) + 2


class MLP(nn.Module):
    """Every node of a patient encoded, concatenated in node-type order, fused: (n, 7h) -> (n, h) -> head."""

    node_types = NODE_TYPES

    def __init__(self, dims: dict[str, int], config: NetworkConfig):
        super().__init__()
        h = config.hidden
        self.encoder = NodeEncoder(dims, self.node_types, h, config.dropout)
        self.fuse = fuse(NODES_PER_PATIENT * h, h, config.dropout)
        self.head = make_head(config.head, h, config.year_dim)

    def forward(self, graph) -> Output:
        h = self.encoder(graph)                                                    # node type -> (nodes, h)
        n = graph.batch_size
        x = torch.cat([h[nt].reshape(n, -1) for nt in self.node_types], dim=1)    # (n, 7h)
        return self.head(self.fuse(x))                                             # (n, h) -> head


class Mlp(GraphBaseline):
    name = "mlp"
    description = "MLP on every node's features concatenated (image nodes + clinical), discrete-time head"

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> MLP:
        return MLP(dims, config)
