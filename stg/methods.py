"""STG and STG-lite as benchmark methods: the STG network (stg.model) on the shared neural-method
machinery (benchmark.methods.neural)."""
from __future__ import annotations

from benchmark.methods.neural import NeuralSurvivalMethod
from stg.model import StgConfig, StgNetwork, lite_config

#: The paper's lite STG: 78.55 % fewer trainable parameters than the full model.
LITE_RATIO = 0.2145


class Stg(NeuralSurvivalMethod):
    name = "stg"
    description = ("STG: heterogeneous patient graph, HeteroGraphConv of SAGEConv with edge-attribute weights, "
                   "temporal module of 12 year embeddings, survival + event-year + InfoNCE losses")
    config_class = StgConfig

    def build_network(self, dims: dict[str, int], config: StgConfig) -> StgNetwork:
        return StgNetwork(dims, config)


class StgLite(Stg):
    name = "stg-lite"
    description = f"STG narrowed to {LITE_RATIO:.2%} of the full model's trainable parameters (the paper's lite)"

    def network_config(self, dims: dict[str, int]) -> StgConfig:
        """The full configuration scaled down to LITE_RATIO of its trainable parameters for these inputs."""
        return lite_config(dims, super().network_config(dims), LITE_RATIO)
