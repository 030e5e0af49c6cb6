"""Gradient-boosted Cox model with regression trees; parameters counted as tree nodes."""
from sksurv.ensemble import GradientBoostingSurvivalAnalysis

from benchmark.methods.tabular import SksurvMethod, tree_node_count


class GradientBoostedSurvival(SksurvMethod):
    name = "gbsa"
    description = "gradient-boosted survival (Cox loss, 100 depth-2 trees, subsample 0.8)"
    stochastic = True
    defaults = {"n_estimators": 100, "learning_rate": 0.05, "max_depth": 2, "subsample": 0.8}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
                "max_depth": trial.suggest_int("max_depth", 1, 4)}

    def make_estimator(self, data):
        return GradientBoostingSurvivalAnalysis(random_state=data.seed, **self.params)

    def n_params(self) -> int:
        return tree_node_count(self.estimator_.estimators_)
