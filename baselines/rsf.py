"""Random survival forest on clinical features; parameters counted as tree nodes."""
from sksurv.ensemble import RandomSurvivalForest

from benchmark.methods.tabular import SksurvMethod, tree_node_count


class RSF(SksurvMethod):
    name = "rsf"
    description = "random survival forest (100 trees, min 10 per leaf) on clinical features"
    stochastic = True
    defaults = {"n_estimators": 100, "min_samples_leaf": 10, "max_features": "sqrt"}

    @classmethod
    def search_space(cls, trial) -> dict:
        return {"min_samples_leaf": trial.suggest_int("min_samples_leaf", 3, 30, log=True),
                "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", None])}

    def make_estimator(self, data):
        return RandomSurvivalForest(n_estimators=self.params["n_estimators"],
                                    min_samples_leaf=self.params["min_samples_leaf"],
                                    max_features=self.params["max_features"], random_state=data.seed, n_jobs=1)

    def n_params(self) -> int:
        return tree_node_count(self.estimator_.estimators_)
