"""DeepSurv: an MLP on the clinical features with the Cox partial likelihood (Katzman et al. 2018)."""
from torch import nn

from benchmark.methods.layers import CoxHead, NodeEncoder, Output, fuse
from benchmark.methods.neural import NetworkConfig, NeuralSurvivalMethod


class DeepSurvNetwork(nn.Module):
    """Clinical vector -> two ReLU layers of width h with dropout -> (n,) log relative risk."""

    node_types = ("clinical",)

    def __init__(self, dims: dict[str, int], config: NetworkConfig):
        super().__init__()
        h = config.hidden
        self.encoder = NodeEncoder(dims, self.node_types, h, config.dropout)
        self.fuse = fuse(h, h, config.dropout)
        self.head = CoxHead(h)

    def forward(self, graph) -> Output:
        x = self.encoder(graph)["clinical"]      # (n, h): one clinical node per patient
        return self.head(self.fuse(x))           # (n, h) -> risk (n,)


class DeepSurv(NeuralSurvivalMethod):
    name = "deepsurv"
    description = "DeepSurv: MLP on clinical features, Cox partial likelihood, Breslow baseline"
    requires = ("clinical",)
    family = "gnn"
    architecture = {"head": "cox"}

    def build_network(self, dims: dict[str, int], config: NetworkConfig) -> DeepSurvNetwork:
        return DeepSurvNetwork(dims, config)
