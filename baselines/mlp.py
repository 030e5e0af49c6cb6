"""MLP on the concatenated node features of the STG patient graphs (no message passing)."""
from stg.methods import NeuralSurvivalMethod


class Mlp(NeuralSurvivalMethod):
    name = "mlp"
    description = "MLP on every node's features concatenated (image nodes + clinical), discrete-time head"
    family = "gnn"
    defaults = {**NeuralSurvivalMethod.defaults, "head": "single"}
    architecture = {"graph": "none", "contrastive": False}
