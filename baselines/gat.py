"""GAT on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
from stg.methods import NeuralSurvivalMethod


class Gat(NeuralSurvivalMethod):
    name = "gat"
    description = "GAT (4 heads) on the homogeneous patient graph"
    family = "gnn"
    defaults = {**NeuralSurvivalMethod.defaults, "head": "single", "gat_heads": 4}
    architecture = {"graph": "homogeneous", "conv": "gat", "contrastive": False}
