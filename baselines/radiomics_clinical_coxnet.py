"""Elastic-net Cox on clinical plus radiomics features, selected inside the training fold."""
from baselines.coxnet import CoxNet
from benchmark.methods.radiomics import RadiomicsInputs


class RadiomicsClinicalCoxNet(RadiomicsInputs, CoxNet):
    name = "radiomics_clinical_coxnet"
    description = ("elastic-net Cox (alpha by inner CV) on clinical + per-node radiomics + morphometry; skewed "
                   "features logged, correlation filter and top univariate Cox features fitted on the training fold")
    with_clinical = True
    defaults = {**CoxNet.defaults, **RadiomicsInputs.selection_defaults}
