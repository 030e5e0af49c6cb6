"""GCN on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.message_passing import GraphConv
from benchmark.methods.neural import GraphBaseline, NetworkConfig


class GCN(HomogeneousNetwork):
    """GCN (Kipf & Welling 2017): each layer x' = D^-1/2 (A + I) D^-1/2 x W, A weighted by the edge
    gates, self loops added; (N, h) -> (N, h) on the patients' N nodes of every type."""

    def __init__(self, dims: dict[str, int], config: NetworkConfig):
        h = config.hidden
        super().__init__(dims, config, lambda: GraphConv(h),
                         self_loops=True)


class Gcn(GraphBaseline):
    name = "gcn"
    description = "GCN (GraphConv, symmetric norm, self loops) on the homogeneous patient graph"

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> GCN:
        return GCN(dims, config)
