"""STG ablations: the same network with one part switched off, each a method so tables show it."""
from __future__ import annotations

from stg.methods import Stg


class StgNoContrastive(Stg):
    name = "stg-no-contrastive"
    description = "STG without the InfoNCE image-clinical term"
    family = "ablation"
    architecture = {"contrastive": False}


class StgNoTemporal(Stg):
    name = "stg-no-temporal"
    description = "STG without spatiotemporal decoupling: one risk score plus per-year baselines"
    family = "ablation"
    architecture = {"head": "single"}


class StgNoEdgeAttributes(Stg):
    name = "stg-no-edge-attributes"
    description = "STG with every edge weight 1 (spatial topology attributes unused)"
    family = "ablation"
    architecture = {"edge_attributes": False}


class StgHomogeneous(Stg):
    name = "stg-homogeneous"
    description = "STG on the homogeneous view of the graph (one SAGEConv for every relation)"
    family = "ablation"
    architecture = {"graph": "homogeneous"}


class StgClinicalOnly(Stg):
    name = "stg-clinical-only"
    description = "STG with the clinical node only (no image nodes, no message passing)"
    family = "ablation"
    architecture = {"nodes": "clinical"}


class StgImageOnly(Stg):
    name = "stg-image-only"
    description = "STG with the image nodes only (no clinical node, no contrastive term)"
    family = "ablation"
    architecture = {"nodes": "image"}
