"""Homogeneous GraphSAGE on the STG patient graphs, with a discrete-time ("single") or Cox head."""
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.message_passing import RelationalSAGE
from benchmark.methods.neural import GraphBaseline, NetworkConfig


class SAGE(HomogeneousNetwork):
    """GraphSAGE (Hamilton et al. 2017), mean aggregator: x'_v = W1 x_v + W2 mean_u(w_uv x_u) over
    the neighbours u of every type, w_uv from the edge gates; (N, h) -> (N, h)."""

    def __init__(self, dims: dict[str, int], config: NetworkConfig):
        h = config.hidden
        super().__init__(dims, config, lambda: RelationalSAGE(1, h))


class Sage(GraphBaseline):
    name = "sage"
    description = "GraphSAGE (mean) on the homogeneous patient graph; head=single (discrete time) or cox"

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> SAGE:
        return SAGE(dims, config)
