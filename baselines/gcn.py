"""GCN on the homogeneous view of the STG patient graphs, with a discrete-time or Cox head."""
from stg.methods import NeuralSurvivalMethod


class Gcn(NeuralSurvivalMethod):
    name = "gcn"
    description = "GCN (GraphConv, symmetric norm, self loops) on the homogeneous patient graph"
    family = "gnn"
    defaults = {**NeuralSurvivalMethod.defaults, "head": "single"}
    architecture = {"graph": "homogeneous", "conv": "gcn", "contrastive": False}
