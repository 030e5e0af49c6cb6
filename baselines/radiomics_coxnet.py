"""Elastic-net Cox on radiomics features selected inside the training fold."""
from baselines.coxnet import CoxNet
from benchmark.methods.radiomics import RadiomicsInputs


class RadiomicsCoxNet(RadiomicsInputs, CoxNet):
    name = "radiomics_coxnet"
    description = ("elastic-net Cox (alpha by inner CV) on per-node radiomics and morphometry; skewed features logged, "
                   "correlation filter and top univariate Cox features fitted on the training fold")
    defaults = {**CoxNet.defaults, **RadiomicsInputs.selection_defaults}
