"""Random survival forest on radiomics features selected inside the training fold."""
from baselines.rsf import RSF
from benchmark.methods.radiomics import RadiomicsInputs


class RadiomicsRSF(RadiomicsInputs, RSF):
    name = "radiomics_rsf"
    description = (f"random survival forest ({RSF.defaults['n_estimators']} trees) on per-node radiomics and "
                   "morphometry; skewed features logged, correlation filter and top univariate Cox features fitted "
                   "on the training fold")
    defaults = {**RSF.defaults, **RadiomicsInputs.selection_defaults}
