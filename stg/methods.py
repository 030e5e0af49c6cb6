"""STG and STG-lite as benchmark methods: the STG network (stg.model) on the shared neural-method
machinery (benchmark.methods.neural)."""
from __future__ import annotations

from benchmark.methods.neural import NeuralSurvivalMethod
from stg.graphs import artefact_name
from stg.model import StgConfig, StgNetwork, lite_config

#: The paper's lite STG: 78.55 % fewer trainable parameters than the full model.
LITE_RATIO = 0.2145


class Stg(NeuralSurvivalMethod):
    name = "stg"
    description = ("STG: heterogeneous patient graph, HeteroGraphConv of SAGEConv with edge-attribute weights, "
                   "temporal module of 12 year embeddings, survival + event-year + InfoNCE losses")
    config_class = StgConfig

    def inputs(self) -> tuple[str, ...]:
        """With lesion nodes in its architecture, the lesion graphs of the same node features."""
        lesions = self.architecture.get("lesions", False)
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


class StgLesions(Stg):
    """STG that sees every lesion: the tumour union node stays, and each Tumor_i segment becomes a node
    with its native-grid volume, vessel distances and contacts and remnant flag, linked to the portal and
    hepatic nodes, to the other lesions and to the CT node; the readout pools them by sum and max, so the
    count and the lesion nearest a vessel reach the head. A full model beside STG, not a part switched
    off: it is in the STG family, so it appears in the main table as well as beside STG's ablations."""

    name = "stg-lesions"
    description = ("STG with one node per lesion (native-grid volume, vessel distances and contacts, remnant flag), "
                   "lesion-vessel, lesion-lesion and lesion-CT edges, lesions pooled by sum and max")
    architecture = {"lesions": True}
