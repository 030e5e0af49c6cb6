"""DeepSurv: an MLP on the clinical features with the Cox partial likelihood (Katzman et al. 2018)."""
from stg.methods import NeuralSurvivalMethod


class DeepSurv(NeuralSurvivalMethod):
    name = "deepsurv"
    description = "DeepSurv: MLP on clinical features, Cox partial likelihood, Breslow baseline"
    requires = ("clinical",)
    family = "gnn"
    architecture = {"graph": "none", "nodes": "clinical", "head": "cox", "contrastive": False}
