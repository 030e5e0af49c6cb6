"""STG ablations: the same network with one part switched off, each a method so tables show it."""
from __future__ import annotations

from stg.methods import Stg


class StgNoContrastive(Stg):
    name = "stg-no-contrastive"
    description = "STG without the InfoNCE image-clinical term"
    family = "ablation"
    architecture = {"contrastive": False}


class StgUnionTumour(Stg):
    """STG as it was before lesions were nodes: the tumour is the union of every Tumor_i mask, one anatomy node,
    so the network cannot see how many lesions there are or which lies where."""

    name = "stg-union-tumour"
    description = "STG without lesion nodes: the tumour union node alone"
    family = "ablation"
    architecture = {"lesions": False}


class StgNoTemporal(Stg):
    name = "stg-no-temporal"
    description = "STG without spatiotemporal decoupling: one risk score plus per-year baselines"
    family = "ablation"
    architecture = {"head": "single"}


class StgNoEdgeAttributes(Stg):
    name = "stg-no-edge-attributes"
    description = "STG without the edges' geometry in the messages (SAGEConv on every relation)"
    family = "ablation"
    architecture = {"edge_attributes": False}


class StgHomogeneous(Stg):
    name = "stg-homogeneous"
    description = "STG on the homogeneous view of the graph (one SAGEConv for every relation, no edge attributes)"
    family = "ablation"
    architecture = {"graph": "homogeneous"}


class StgNoMessagePassing(Stg):
    """STG's node encoders, readout, temporal head and InfoNCE term with no message-passing layer, so each
    node's embedding is its own features only: the difference to STG is what the graph adds.

    Not the `mlp` baseline: that one fuses all seven node encodings in a single layer and has the
    graph baselines' single-risk head and no contrastive term; this keeps everything of STG but the
    message passing."""

    name = "stg-no-message-passing"
    description = "STG with zero message-passing layers (node encoders straight to the readout)"
    family = "ablation"
    architecture = {"layers": 0}


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
