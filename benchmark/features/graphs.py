"""Per-patient heterogeneous graphs, built once per cohort and feature source (docs/design.md, STG).

Node types (every patient has all of them, with the same counts):
  ``anatomy``   5 nodes, one per NODE_NAMES structure (liver, remnant, hepatic, portal, tumour)
  ``ct``        1 node, the CT-global (whole-liver) node
  ``clinical``  1 node, the patient's clinical vector
Edge types (each relation and its reverse, so messages flow both ways):
  ``ct_anatomy`` / ``anatomy_ct``     CT-global <-> each anatomical node, with attributes
  ``anatomy_anatomy``                 the structures that touch: tumour-portal, tumour-hepatic,
                                      remnant-liver (both directions), with attributes
  ``clinical_ct`` / ``ct_clinical``, ``clinical_anatomy`` / ``anatomy_clinical``   cross-modal

The CT-global node carries the patient's global scalars after its image features: GLOBAL_FEATURES
[remnant volume / liver volume (NaN without either), number of lesions].

Node data: ``x`` raw features (float32, NaN where a feature could not be computed), ``present``
(1 when the mask was non-empty), on anatomy nodes ``structure`` (index into NODE_NAMES). A missing
mask keeps its node, with present 0. Features are stored raw on purpose: standardisation and
imputation are fitted inside each model's fit on training patients only (see benchmark.methods.inputs).
The clinical node carries no stored features: the clinical vector depends on the run's feature set
(pre- or post-operative) and is attached by the model at fit time.

Edge data ``a`` (E, 5) from the geometry (fixed scales, nothing fitted):
  [ln(volume ratio)/5, centroid distance/50 mm, contact, minimum distance/50 mm, both present]
The geometry is measured on the SEG's native grid wherever the morphometry has the quantity (`native_geometry`:
liver, remnant and tumour volumes, tumour-vessel minimum distances and contacts); centroids come from the
prepared 4 mm grid (a centroid moves by less than half a voxel).
For CT-global edges the pair is (liver, node): the CT-global node is the whole liver. Attributes
of a pair with an empty mask are 0 with ``both present`` 0. Anatomy pairs are connected whether or
not they touch: contact and minimum distance are the attributes that say how close they are.

Lesion graphs (the ``graphs_<source>_lesions`` artefacts) add what the tumour union hides, from the
per-lesion morphometry measured on the SEG's native grid (benchmark.data.imaging.morphometry):
  ``lesion``  one node per lesion (a non-empty Tumor_i segment), none for a patient without lesions;
              ``x`` (k, 6) LESION_FEATURES: [ln(volume ml), portal and hepatic distance / 50 mm, portal and
              hepatic contact, in remnant], NaN where the SEG cannot show it (no such vessel, no remnant)
  ``lesion_anatomy`` / ``anatomy_lesion``   each lesion <-> the portal and the hepatic nodes,
              ``a`` (E, 3) LESION_VESSEL_ATTRIBUTES: [distance / 50 mm, contact, vessel imaged] (0 without it)
  ``lesion_lesion``   every ordered pair of a patient's lesions, ``a`` (E, 4) LESION_PAIR_ATTRIBUTES: [centroid
              distance / 50 mm, ln(volume ratio) / 5, same side of the resection plane, same lobe (each +1 same,
              -1 opposite, 0 unknown)]
  ``lesion_ct`` / ``ct_lesion``   each lesion <-> the CT-global node (the whole liver), ``a`` (E, 3)
              LESION_LIVER_ATTRIBUTES: [ln(lesion / liver volume) / 5, side of the resection plane (+1 remnant,
              -1 resected, 0 unknown), lobe (+1 left, -1 right of the liver's midplane, 0 unknown)]
The lobe is morphometry's ``lobe_side``: the side of the sagittal plane through the liver's centroid.
The lesion node features are stored at these fixed scales and standardised like the others (benchmark.methods.inputs).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.data.cohort import Cohort
from benchmark.data.imaging.morphometry import VESSELS
from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.dgl_import import dgl
from benchmark.features import artefacts, deep_features, radiomics_features  # noqa: F401 (their providers)
from benchmark.features.feature_table import FeatureTable
from benchmark.files import atomic_write_text

NODE_TYPES = ("anatomy", "ct", "clinical")
IMAGE_NODE_TYPES = ("anatomy", "ct")
#: (src, dst) index pairs into NODE_NAMES of the anatomical structures that touch.
TOUCHING = (("tumour", "portal"), ("tumour", "hepatic"), ("remnant", "liver"))
EDGE_ATTRIBUTES = ("log_volume_ratio", "centroid_distance", "contact", "min_distance", "both_present")
ATTRIBUTE_EDGE_TYPES = ("ct_anatomy", "anatomy_ct", "anatomy_anatomy")
DISTANCE_SCALE_MM = 50.0
LOG_RATIO_SCALE = 5.0
MIN_VOLUME_RATIO = 1e-4
FEATURE_SOURCES = ("radiomics", "deep")
LESION_FEATURES = ("log_volume", "portal_distance", "hepatic_distance", "portal_contact", "hepatic_contact",
                   "in_remnant")
LESION_VESSEL_ATTRIBUTES = ("min_distance", "contact", "vessel_present")
LESION_PAIR_ATTRIBUTES = ("centroid_distance", "log_volume_ratio", "same_side", "same_lobe")
LESION_LIVER_ATTRIBUTES = ("log_relative_volume", "side", "lobe")
GLOBAL_FEATURES = ("remnant_fraction", "n_tumours")
#: Bumped when graph building changes what it stores, so caches built by older code are not reused.
GRAPH_VERSION = 3
#: The relations of lesion graphs only, as canonical edge types.
LESION_EDGE_TYPES = (("lesion", "lesion_anatomy", "anatomy"), ("anatomy", "anatomy_lesion", "lesion"),
                     ("lesion", "lesion_lesion", "lesion"),
                     ("lesion", "lesion_ct", "ct"), ("ct", "ct_lesion", "lesion"))
#: The columns of each attributed relation's edge attributes ``a``.
RELATION_ATTRIBUTES = {**{etype: EDGE_ATTRIBUTES for etype in ATTRIBUTE_EDGE_TYPES},
                       "lesion_anatomy": LESION_VESSEL_ATTRIBUTES, "anatomy_lesion": LESION_VESSEL_ATTRIBUTES,
                       "lesion_lesion": LESION_PAIR_ATTRIBUTES, "lesion_ct": LESION_LIVER_ATTRIBUTES,
                       "ct_lesion": LESION_LIVER_ATTRIBUTES}


class GraphBuildError(ValueError):
    """Inputs that cannot make a patient's graph; the message names the patient."""


def _edges() -> dict[tuple[str, str, str], tuple[list[int], list[int]]]:
    """The fixed topology of one patient graph: canonical edge type -> (src ids, dst ids)."""
    anatomy = list(range(len(NODE_NAMES)))
    index = {name: i for i, name in enumerate(NODE_NAMES)}
    touch_src = [index[a] for a, b in TOUCHING] + [index[b] for a, b in TOUCHING]
    touch_dst = [index[b] for a, b in TOUCHING] + [index[a] for a, b in TOUCHING]
    zeros = [0] * len(anatomy)
    return {
        ("ct", "ct_anatomy", "anatomy"): (zeros, anatomy),
        ("anatomy", "anatomy_ct", "ct"): (anatomy, zeros),
        ("anatomy", "anatomy_anatomy", "anatomy"): (touch_src, touch_dst),
        ("clinical", "clinical_ct", "ct"): ([0], [0]),
        ("ct", "ct_clinical", "clinical"): ([0], [0]),
        ("clinical", "clinical_anatomy", "anatomy"): (zeros, anatomy),
        ("anatomy", "anatomy_clinical", "clinical"): (anatomy, zeros),
    }


EDGES = _edges()
#: Every relation a patient graph may have: EDGES, and LESION_EDGE_TYPES in lesion graphs.
CANONICAL_ETYPES = (*EDGES, *LESION_EDGE_TYPES)


def _lesion_edges(k: int) -> dict[tuple[str, str, str], tuple[list[int], list[int]]]:
    """The LESION_EDGE_TYPES of a patient with k lesions; lesion-vessel edges in (lesion, VESSELS) order."""
    lesions = list(range(k))
    vessels = [NODE_NAMES.index(vessel) for vessel in VESSELS]
    to_vessel = ([i for i in lesions for _ in vessels], vessels * k)
    pairs = [(i, j) for i in lesions for j in lesions if i != j]
    lesion_lesion = ([i for i, _ in pairs], [j for _, j in pairs])
    return dict(zip(LESION_EDGE_TYPES, (to_vessel, to_vessel[::-1], lesion_lesion, (lesions, [0] * k),
                                        ([0] * k, lesions))))


def _pair(geometry: pd.Series, a: str, b: str, column: str) -> float:
    """A pairwise geometry value; the columns exist once per unordered pair, in NODE_NAMES order."""
    if a == b:
        return {"mindist": 0.0, "contact": 1.0, "centroid_dist": 0.0}[column]
    first, second = sorted((a, b), key=NODE_NAMES.index)
    name = f"contact_{first}_{second}" if column == "contact" else f"{column}_{first}_{second}_mm"
    return float(geometry[name])


#: Structures whose volume the native-grid morphometry measures (``<node>_volume_ml`` in both tables).
NATIVE_VOLUME_NODES = ("liver", "remnant", "tumour")


def native_geometry(geometry: pd.DataFrame, morphometry: pd.DataFrame) -> pd.DataFrame:
    """The 4 mm geometry with every quantity the native-grid morphometry measures put in its place: the
    liver, remnant and tumour volumes and the tumour's minimum distance and contact to each vessel.

    Only where both grids show the structure: a tumour the 4 mm grid lost has no centroid there, so its
    edges stay absent (its volume and count still reach the models that read the morphometry)."""
    out = geometry.copy()
    native = morphometry.reindex(out.index)
    for node in NATIVE_VOLUME_NODES:
        column = f"{node}_volume_ml"
        usable = out[f"{node}_present"].astype(bool) & np.isfinite(native[column]) & (native[column] > 0)
        out.loc[usable, column] = native.loc[usable, column]
    for vessel in VESSELS:
        first, second = sorted((vessel, "tumour"), key=NODE_NAMES.index)
        distance = native[f"lesion_{vessel}_min_mm"]
        usable = out["tumour_present"].astype(bool) & out[f"{vessel}_present"].astype(bool) & np.isfinite(distance)
        out.loc[usable, f"mindist_{first}_{second}_mm"] = distance[usable]
        out.loc[usable, f"contact_{first}_{second}"] = (distance[usable] == 0).astype(float)
    return out


def edge_attributes(geometry: pd.Series, src: str, dst: str) -> list[float]:
    """The EDGE_ATTRIBUTES of the pair (src, dst) of one patient's geometry row."""
    present = bool(geometry[f"{src}_present"]) and bool(geometry[f"{dst}_present"])
    if not present:
        return [0.0] * len(EDGE_ATTRIBUTES)
    ratio = float(geometry[f"{src}_volume_ml"]) / max(float(geometry[f"{dst}_volume_ml"]), 1e-9)
    values = [np.log(max(ratio, MIN_VOLUME_RATIO)) / LOG_RATIO_SCALE,
              _pair(geometry, src, dst, "centroid_dist") / DISTANCE_SCALE_MM,
              _pair(geometry, src, dst, "contact"),
              _pair(geometry, src, dst, "mindist") / DISTANCE_SCALE_MM,
              1.0]
    return [0.0 if not np.isfinite(v) else float(v) for v in values]


def lesion_features(lesions: pd.DataFrame) -> np.ndarray:
    """(k, len(LESION_FEATURES)) features of a patient's lesion rows (morphometry.LESION_COLUMNS)."""
    distance = lesions[[f"{vessel}_mm" for vessel in VESSELS]].to_numpy(dtype=float)
    contact = np.where(np.isnan(distance), np.nan, distance == 0)
    return np.column_stack([np.log(lesions["volume_ml"].to_numpy(dtype=float)), distance / DISTANCE_SCALE_MM,
                            contact, lesions["in_remnant"].to_numpy(dtype=float)]).astype(np.float32)


def lesion_attributes(lesions: pd.DataFrame, liver_volume_ml: float) -> dict[str, np.ndarray]:
    """Relation -> (E, width) attributes of a patient's lesion edges, in `_lesion_edges` order."""
    distance = lesions[[f"{vessel}_mm" for vessel in VESSELS]].to_numpy(dtype=float).reshape(-1)
    imaged = np.isfinite(distance)
    vessel = np.column_stack([np.where(imaged, distance / DISTANCE_SCALE_MM, 0.0), imaged & (distance == 0), imaged])
    centroids = lesions[["centroid_z_mm", "centroid_y_mm", "centroid_x_mm"]].to_numpy(dtype=float)
    log_volume = np.log(lesions["volume_ml"].to_numpy(dtype=float))
    side = np.nan_to_num(2 * lesions["in_remnant"].to_numpy(dtype=float) - 1)        # +1 remnant, -1 resected, 0
    lobe = np.nan_to_num(lesions["lobe_side"].to_numpy(dtype=float))                  # +1 left, -1 right, 0
    off_diagonal = ~np.eye(len(lesions), dtype=bool)
    between = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[off_diagonal] / DISTANCE_SCALE_MM
    ratio = (log_volume[:, None] - log_volume[None])[off_diagonal] / LOG_RATIO_SCALE
    pair = np.column_stack([between, ratio, (side[:, None] * side[None])[off_diagonal],
                            (lobe[:, None] * lobe[None])[off_diagonal]])
    relative = np.log(np.maximum(np.exp(log_volume) / max(liver_volume_ml, 1e-9), MIN_VOLUME_RATIO)) / LOG_RATIO_SCALE
    liver = np.column_stack([np.nan_to_num(relative), side, lobe])
    return {"lesion_anatomy": vessel, "anatomy_lesion": vessel, "lesion_lesion": pair, "lesion_ct": liver,
            "ct_lesion": liver}


def global_features(geometry: pd.Series) -> np.ndarray:
    """(1, len(GLOBAL_FEATURES)) the CT node's global scalars of one patient's geometry row."""
    liver, remnant = float(geometry["liver_volume_ml"]), float(geometry["remnant_volume_ml"])
    usable = bool(geometry["liver_present"]) and bool(geometry["remnant_present"]) and liver > 0
    return np.array([[remnant / liver if usable else np.nan, float(geometry["n_tumours"])]], dtype=np.float32)


def _node_matrix(table: FeatureTable, pid: str, nodes, features: list[str]) -> np.ndarray:
    """(len(nodes), len(features)) raw features of one patient, NaN where absent."""
    row = table.values.loc[pid]
    out = np.full((len(nodes), len(features)), np.nan, dtype=np.float32)
    for i, node in enumerate(nodes):
        if node in row.index.get_level_values(0):
            out[i] = row[node].reindex(features).to_numpy(dtype=np.float32)
    return out


def _structure(ntype: str, index: int) -> str:
    """The structure a node stands for in the geometry table: the CT-global node is the whole liver."""
    return "liver" if ntype == "ct" else NODE_NAMES[index]


def patient_graph(pid: str, table: FeatureTable, geometry: pd.Series, anatomy_features: list[str],
                  ct_features: list[str], lesions: pd.DataFrame | None = None):
    """One patient's heterograph (see the module docstring); with `lesions`, the patient's lesion rows,
    its lesion graph."""
    edges, nodes = dict(EDGES), {"anatomy": len(NODE_NAMES), "ct": 1, "clinical": 1}
    if lesions is not None:
        edges.update(_lesion_edges(len(lesions)))
        nodes["lesion"] = len(lesions)
    graph = dgl.heterograph({etype: (torch.tensor(s, dtype=torch.int64), torch.tensor(d, dtype=torch.int64))
                             for etype, (s, d) in edges.items()}, num_nodes_dict=nodes)
    present = table.present.loc[pid]
    graph.nodes["anatomy"].data["x"] = torch.from_numpy(_node_matrix(table, pid, NODE_NAMES, anatomy_features))
    graph.nodes["anatomy"].data["present"] = torch.tensor([[float(present[n])] for n in NODE_NAMES])
    graph.nodes["anatomy"].data["structure"] = torch.arange(len(NODE_NAMES))
    ct = np.hstack([_node_matrix(table, pid, ["ct_global"], ct_features), global_features(geometry)])
    graph.nodes["ct"].data["x"] = torch.from_numpy(ct)
    graph.nodes["ct"].data["present"] = torch.tensor([[float(present["ct_global"])]])
    for etype in ATTRIBUTE_EDGE_TYPES:
        canonical = graph.to_canonical_etype(etype)
        rows = [edge_attributes(geometry, _structure(canonical[0], s), _structure(canonical[2], d))
                for s, d in zip(*EDGES[canonical])]
        graph.edges[etype].data["a"] = torch.tensor(rows, dtype=torch.float32)
    if lesions is not None:
        graph.nodes["lesion"].data["x"] = torch.from_numpy(lesion_features(lesions))
        for etype, attributes in lesion_attributes(lesions, float(geometry["liver_volume_ml"])).items():
            graph.edges[etype].data["a"] = torch.tensor(attributes, dtype=torch.float32)
    return graph


@dataclass
class PatientGraphs:
    """Every patient's graph of one cohort and feature source, in cohort order."""

    source: str
    ids: np.ndarray
    graphs: list
    anatomy_features: list[str]
    ct_features: list[str]
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._position = {pid: i for i, pid in enumerate(self.ids)}

    def batch(self, ids):
        """The batched graph of these patients, in the order given."""
        missing = [pid for pid in ids if pid not in self._position]
        if missing:
            raise GraphBuildError(f"no graph for patient(s) {missing[:5]} ({self.source} graphs)")
        return dgl.batch([self.graphs[self._position[pid]] for pid in ids])


def _feature_names(table: FeatureTable, nodes) -> list[str]:
    names: list[str] = []
    for node in nodes:
        if node in table.values.columns.get_level_values(0):
            names += [f for f in table.values[node].columns if f not in names]
    return names


def fingerprint(table: FeatureTable, geometry: pd.DataFrame, ids, lesions: pd.DataFrame | None = None) -> str:
    """Hash of the inputs, so a cache built from other features, geometry or lesions is never reused."""
    digest = hashlib.sha256(f"graphs v{GRAPH_VERSION}".encode())
    frames = [table.values.loc[ids], table.present.loc[ids].astype(float), geometry.loc[ids]]
    if lesions is not None:
        frames.append(lesions[lesions.index.isin(ids)])
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(repr(list(frame.columns)).encode())
    return digest.hexdigest()[:16]


def build(ids, table: FeatureTable, geometry: pd.DataFrame, lesions: pd.DataFrame | None = None) -> PatientGraphs:
    """Graphs of these patients, lesion graphs with `lesions` (morphometry.LESION_COLUMNS indexed by
    patient; a patient without rows has no lesions); a patient without features or geometry is an
    error naming it."""
    ids = np.asarray(ids)
    for name, index in (("node features", table.values.index), ("feature presence", table.present.index),
                        ("geometry", geometry.index)):
        missing = [pid for pid in ids if pid not in index]
        if missing:
            raise GraphBuildError(f"{len(missing)} patient(s) have no {name} ({table.source}): {missing[:5]}")
    anatomy_features = _feature_names(table, NODE_NAMES)
    ct_features = _feature_names(table, ["ct_global"])
    if not anatomy_features or not ct_features:
        raise GraphBuildError(f"{table.source} feature table has no anatomical or no ct_global features")
    rows = dict(tuple(lesions.groupby(level=0, sort=False))) if lesions is not None else {}
    graphs = [patient_graph(pid, table, geometry.loc[pid], anatomy_features, ct_features,
                            None if lesions is None else rows.get(pid, lesions.iloc[:0])) for pid in ids]
    return PatientGraphs(table.source, ids, graphs, anatomy_features, ct_features, list(table.notes))


def save(graphs: PatientGraphs, path: Path, key: str) -> None:
    """DGL's own binary format for the graphs, a JSON sidecar for ids, feature names and notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.partial")
    dgl.save_graphs(str(staging), graphs.graphs)
    staging.replace(path)
    meta = {"source": graphs.source, "ids": [str(i) for i in graphs.ids], "anatomy_features": graphs.anatomy_features,
            "ct_features": graphs.ct_features, "notes": graphs.notes, "key": key}
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))


def load(path: Path, key: str | None = None) -> PatientGraphs | None:
    """The saved graphs, or None when absent or built from other inputs than `key` says."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return None
    meta = json.loads(sidecar.read_text())
    if key is not None and meta.get("key") != key:
        return None
    graphs, _ = dgl.load_graphs(str(path))
    return PatientGraphs(meta["source"], np.asarray(meta["ids"], dtype=object), graphs, meta["anatomy_features"],
                         meta["ct_features"], meta["notes"])


def artefact_name(source: str, lesions: bool) -> str:
    return f"graphs_{source}_lesions" if lesions else f"graphs_{source}"


def cohort_graphs(cohort: Cohort, cache_dir: Path, table: FeatureTable, geometry: pd.DataFrame,
                  lesions: pd.DataFrame | None = None) -> PatientGraphs:
    """The cohort's graphs from one feature table and the (native-grid) geometry (lesion graphs with
    `lesions`), read from the cache or built and saved there."""
    if table.source not in FEATURE_SOURCES:
        raise GraphBuildError(f"unknown feature source {table.source!r} (choose from {', '.join(FEATURE_SOURCES)})")
    ids = cohort.patient_ids
    key = fingerprint(table, geometry, ids, lesions)
    path = Path(cache_dir) / f"{artefact_name(table.source, lesions is not None)}.bin"
    graphs = load(path, key)
    if graphs is None:
        graphs = build(ids, table, geometry, lesions)
        save(graphs, path, key)
    return graphs


def _register(source: str, lesions: bool) -> None:
    """Register the provider of one feature source's graphs (lesion graphs with `lesions`)."""
    inputs = (source, "geometry", "morphometry", *(("lesions",) if lesions else ()))

    @artefacts.provider(artefact_name(source, lesions), inputs=inputs)
    def provide(cohort: Cohort, cache_dir: Path, inputs: dict, context) -> PatientGraphs:
        geometry = native_geometry(inputs["geometry"], inputs["morphometry"])
        return cohort_graphs(cohort, cache_dir, inputs[source], geometry, inputs.get("lesions"))


for _source in FEATURE_SOURCES:
    for _lesions in (False, True):
        _register(_source, _lesions)
