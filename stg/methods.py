"""STG and STG-lite as benchmark methods: the STG network (stg.model) on the shared neural-method
machinery (benchmark.methods.neural)."""
from __future__ import annotations

from benchmark.features.graphs import artefact_name
from benchmark.methods.neural import NeuralSurvivalMethod
from stg.model import StgConfig, StgNetwork, lite_config

#: The paper's lite STG: 78.55 % fewer trainable parameters than the full model.
LITE_RATIO = 0.2145


class Stg(NeuralSurvivalMethod):
    name = "stg"
    description = ("STG: heterogeneous patient graph with one node per lesion, HeteroGraphConv with the edges' "
                   "geometry in the messages, survival (12 year embeddings) and recurrence-regression heads, "
                   "InfoNCE on the image subgraph")
    config_class = StgConfig

    def inputs(self) -> tuple[str, ...]:
        """With lesion nodes in its architecture (the default), the lesion graphs of the same node features."""
        lesions = self.architecture.get("lesions", StgConfig.lesions)
        return tuple(artefact_name(self.params["features"], lesions) if r.startswith("graphs_") else r
                     for r in super().inputs())

    def build_network(self, dims: dict[str, int], config: StgConfig) -> StgNetwork:
        return StgNetwork(dims, config)


class StgLite(Stg):
    name = "stg-lite"
    description = f"STG narrowed to {LITE_RATIO:.2%} of the full model's trainable parameters (the paper's lite)"

    def network_config(self, dims: dict[str, int]) -> StgConfig:
        """The full configuration scaled down to LITE_RATIO of its trainable parameters for these inputs."""
        return lite_config(dims, super().network_config(dims), LITE_RATIO)
