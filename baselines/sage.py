"""Homogeneous GraphSAGE on the STG patient graphs, with a discrete-time ("single") or Cox head."""
from stg.methods import NeuralSurvivalMethod


class Sage(NeuralSurvivalMethod):
    name = "sage"
    description = "GraphSAGE (mean) on the homogeneous patient graph; head=single (discrete time) or cox"
    family = "gnn"
    defaults = {**NeuralSurvivalMethod.defaults, "head": "single"}
    architecture = {"graph": "homogeneous", "conv": "sage", "contrastive": False}
