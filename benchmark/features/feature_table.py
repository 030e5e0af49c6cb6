"""Per patient × node feature tables: the one schema that graph builders and tabular baselines read.

`values` is indexed by patient id with a two-level column index (node, feature), node in
NODE_COLUMNS (the five anatomical nodes plus ``ct_global``, the whole-liver CT node). A feature
that could not be computed (empty or one-voxel mask) is NaN; `present` says which nodes had a
non-empty mask; `notes` carries caveats every table must repeat (e.g. "random-init encoder").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from benchmark.data.imaging.prepared import NODE_NAMES

NODE_COLUMNS = (*NODE_NAMES, "ct_global")


@dataclass
class FeatureTable:
    source: str                   # "radiomics" or "deep"
    values: pd.DataFrame          # index patient id; columns MultiIndex (node, feature)
    present: pd.DataFrame         # index patient id; columns NODE_COLUMNS; bool
    notes: list[str] = field(default_factory=list)

    def node(self, name: str) -> pd.DataFrame:
        """Features of one node (patients × features)."""
        return self.values[name]

    def flat(self) -> pd.DataFrame:
        """patients × "node:feature" columns, for tabular methods."""
        flat = self.values.copy()
        flat.columns = [f"{node}:{feature}" for node, feature in flat.columns]
        return flat

    def loc(self, ids) -> "FeatureTable":
        return FeatureTable(self.source, self.values.loc[ids], self.present.loc[ids], list(self.notes))
