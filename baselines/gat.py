"""GAT on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
from benchmark.methods import MethodError
from benchmark.methods.layers import HomogeneousNetwork
from benchmark.methods.message_passing import GATConv
from benchmark.methods.neural import GraphBaseline, NetworkConfig


class GAT(HomogeneousNetwork):
    """GAT (Velickovic et al. 2018): `heads` attention heads of width h / heads, concatenated;
    (N, h) -> (N, heads, h / heads) -> (N, h). Attention weights are scaled by the edge gates."""

    def __init__(self, dims: dict[str, int], config: NetworkConfig, heads: int):
        h = config.hidden
        super().__init__(dims, config, lambda: GATConv(h, heads))


class Gat(GraphBaseline):
    name = "gat"
    description = "GAT (4 heads) on the homogeneous patient graph"
    defaults = {**GraphBaseline.defaults, "gat_heads": 4}

    def __init__(self, **params):
        super().__init__(**params)
        if self.params["hidden"] % self.params["gat_heads"]:
            raise MethodError(f"GAT hidden width {self.params['hidden']} is not a multiple of "
                              f"{self.params['gat_heads']} heads")

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> GAT:
        return GAT(dims, config, self.params["gat_heads"])
