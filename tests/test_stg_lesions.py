"""Lesion graphs and the STG variants that read them or pass no messages: one node per lesion measured on
the native grid, edge attributes equal to the per-lesion morphometry, batches of mixed lesion counts, a
readout that sees the count, and the cache keyed on the lesions."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from stg_fakes import fake_cohort, fake_features, fake_geometry
from torch import nn

from benchmark.data import splits
from benchmark.data.imaging import morphometry, tcia_reader
from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.dgl_import import dgl
from benchmark.features import graphs
from benchmark.features.graphs import DISTANCE_SCALE_MM, LESION_FEATURES, LESION_VESSEL_ATTRIBUTES
from benchmark.methods import FoldData
from benchmark.methods.inputs import GraphInputs
from benchmark.methods.layers import n_trainable
from stg.methods import Stg
from stg.model import GeometryConv, StgNetwork

SPACING = (2.0, 1.0, 1.0)
SHAPE = (12, 24, 24)
DIMS = {"anatomy": 5, "ct": 5, "clinical": 3, "lesion": len(LESION_FEATURES)}
CONFIG = Stg().network_config(DIMS)


def cube(z: int, y: int, x: int, half: int = 1) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[z - half:z + half + 1, y - half:y + half + 1, x - half:x + half + 1] = True
    return mask


def seg(tumours: list[np.ndarray], hepatic: bool = True) -> tcia_reader.SegMasks:
    """A liver with a portal vein along y at (z 6, x 4), a hepatic vein along z at (y 4, x 20), the remnant
    at x >= 12, and these Tumor segments."""
    liver = np.ones(SHAPE, dtype=bool)
    remnant = liver.copy()
    remnant[..., :12] = False
    portal, veins = np.zeros(SHAPE, dtype=bool), np.zeros(SHAPE, dtype=bool)
    portal[6, :, 4] = True
    veins[:, 4, 20] = True
    return tcia_reader.SegMasks(nodes={"liver": liver, "remnant": remnant, "hepatic": veins if hepatic else None,
                                       "portal": portal}, tumours=tumours)


#: Patients with 0, 1 and 3 lesions (empty Tumor segments among them); P1 touches the portal vein and has
#: no hepatic segment.
SEGS = {"P0": seg([np.zeros(SHAPE, dtype=bool)]),
        "P1": seg([cube(6, 12, 6)], hepatic=False),
        "P2": seg([cube(3, 18, 16), np.zeros(SHAPE, dtype=bool), cube(8, 6, 18), cube(6, 12, 9, half=2)])}


@pytest.fixture(scope="module")
def measured():
    """The per-lesion morphometry of SEGS as the lesions artefact, and the lesion graphs built on it."""
    rows = [{"patient_id": pid, **lesion} for pid, masks in SEGS.items()
            for lesion in morphometry.measure(masks, SPACING).lesions]
    lesions = pd.DataFrame(rows, columns=["patient_id", *morphometry.LESION_COLUMNS]).set_index("patient_id")
    geometry = fake_geometry(list(SEGS), seed=2)
    table = fake_features(geometry, seed=2)
    return lesions, table, geometry, graphs.build(list(SEGS), table, geometry, lesions)


def test_one_lesion_node_per_non_empty_tumour_segment(measured):
    lesions, _, _, built = measured
    counts = [graph.num_nodes("lesion") for graph in built.graphs]
    assert counts == [morphometry.measure(masks, SPACING).row["n_tumours"] for masks in SEGS.values()] == [0, 1, 3]
    p2 = built.graphs[2]
    assert p2.num_edges("lesion_lesion") == 6 and p2.num_edges("lesion_ct") == p2.num_edges("ct_lesion") == 3
    src, dst = p2.edges(etype="lesion_anatomy")
    assert [NODE_NAMES[d] for d in dst.tolist()] == ["portal", "hepatic"] * 3 and src.tolist() == [0, 0, 1, 1, 2, 2]
    x = p2.nodes["lesion"].data["x"].numpy()
    np.testing.assert_allclose(x[:, LESION_FEATURES.index("log_volume")], np.log(lesions.loc["P2", "volume_ml"]),
                               rtol=1e-6)
    assert list(x[:, LESION_FEATURES.index("in_remnant")]) == [1, 1, 0]


def test_lesion_vessel_attributes_are_the_lesion_morphometry(measured):
    lesions, _, _, built = measured
    distance, contact, imaged = (LESION_VESSEL_ATTRIBUTES.index(a) for a in ("min_distance", "contact",
                                                                            "vessel_present"))
    for pid, graph in zip(SEGS, built.graphs):
        if not graph.num_nodes("lesion"):
            continue
        rows = lesions.loc[[pid]]
        expected = rows[["portal_mm", "hepatic_mm"]].to_numpy().reshape(-1)   # (lesion, vessel) order
        for etype in ("lesion_anatomy", "anatomy_lesion"):
            a = graph.edges[etype].data["a"].numpy().astype(float)
            known = np.isfinite(expected)
            np.testing.assert_allclose(a[known, distance] * DISTANCE_SCALE_MM, expected[known], rtol=1e-5)
            np.testing.assert_array_equal(a[:, contact], known & (expected == 0))
            np.testing.assert_array_equal(a[:, imaged], known)
            assert (a[~known] == 0).all()
    p1 = lesions.loc[["P1"]]
    assert p1["portal_mm"].iloc[0] == 0 and np.isnan(p1["hepatic_mm"].iloc[0])   # touches; no hepatic segment
    centroids = lesions.loc["P2", ["centroid_z_mm", "centroid_y_mm", "centroid_x_mm"]].to_numpy()
    src, dst = built.graphs[2].edges(etype="lesion_lesion")
    between = np.linalg.norm(centroids[src.numpy()] - centroids[dst.numpy()], axis=1)
    np.testing.assert_allclose(built.graphs[2].edges["lesion_lesion"].data["a"][:, 0] * DISTANCE_SCALE_MM, between,
                               rtol=1e-5)


def test_the_lobe_enters_the_lesion_edges(measured):
    """P2's lesions lie at x = 16, 18 and 9 voxels of a liver filling x = 0..23 (midplane 11.5): the first two on
    its +x side, the third on its -x side; the liver edges carry each lesion's side, the pair edges their product."""
    lesions, _, _, built = measured
    assert list(lesions.loc["P2", "lobe_side"]) == [1.0, 1.0, -1.0]
    p2 = built.graphs[2]
    lobe = graphs.LESION_LIVER_ATTRIBUTES.index("lobe")
    for etype in ("lesion_ct", "ct_lesion"):
        assert p2.edges[etype].data["a"][:, lobe].tolist() == [1.0, 1.0, -1.0]
    src, dst = p2.edges(etype="lesion_lesion")
    same = p2.edges["lesion_lesion"].data["a"][:, graphs.LESION_PAIR_ATTRIBUTES.index("same_lobe")]
    sides = torch.tensor([1.0, 1.0, -1.0])
    assert same.tolist() == (sides[src] * sides[dst]).tolist() and -1.0 in same.tolist()


def test_lesion_graph_cache_keys_on_the_lesions(tmp_path, measured):
    lesions, table, geometry, built = measured
    ids = list(SEGS)
    key = graphs.fingerprint(table, geometry, ids, lesions)
    assert key != graphs.fingerprint(table, geometry, ids)
    graphs.save(built, tmp_path / "g.bin", key)
    loaded = graphs.load(tmp_path / "g.bin", key)
    assert [g.num_nodes("lesion") for g in loaded.graphs] == [0, 1, 3]
    for etype in ("lesion_lesion", "lesion_anatomy"):
        assert torch.equal(loaded.graphs[2].edges[etype].data["a"], built.graphs[2].edges[etype].data["a"])
    moved = lesions.copy()
    moved.iloc[0, moved.columns.get_loc("portal_mm")] += 1.0
    assert graphs.fingerprint(table, geometry, ids, moved) != key
    assert graphs.fingerprint(table, geometry, ids, lesions.drop(index="P1")) != key


@pytest.fixture(scope="module")
def cohort(drawn_cohort):
    """The fake cohort with the first patient's lesions removed, so lesion counts run from 0 up."""
    cohort = fake_cohort(drawn_cohort, "stg-lesions-test")
    lesions = cohort.artefacts["lesions"].drop(index=cohort.patient_ids[0])
    cohort.artefacts["graphs_radiomics_lesions"] = graphs.build(cohort.patient_ids, cohort.artefacts["radiomics"],
                                                                cohort.artefacts["geometry"], lesions)
    cohort.artefacts["lesions"] = lesions
    return cohort


def test_forward_on_a_batch_mixing_lesion_counts(cohort):
    counts = cohort.artefacts["lesions"].groupby(level=0).size().reindex(cohort.patient_ids, fill_value=0)
    mixed = [counts.index[counts == k][0] for k in (0, 1, 3)] + [counts.idxmax()]
    split = splits.make_splits(cohort, "dfs", "cv", 4, 1, seed=0)[0]
    train = FoldData(cohort, np.setdiff1d(split.train, mixed), "dfs", "preoperative", seed=0)
    inputs = GraphInputs(cohort.artefacts["graphs_radiomics_lesions"]).fit(train)
    assert inputs.dims["lesion"] == len(LESION_FEATURES)
    batch = inputs.transform(FoldData(cohort, np.array(mixed), "dfs", "preoperative", seed=0))
    assert batch.graph.batch_num_nodes("lesion").tolist() == [0, 1, 3, counts.max()]
    assert torch.isfinite(batch.graph.nodes["lesion"].data["h0"]).all()
    network = StgNetwork(inputs.dims, replace(CONFIG, lesions=True))
    output = network(batch.graph)
    assert output.logits.shape == (4, 12) and torch.isfinite(output.logits).all()
    output.logits.sum().backward()
    assert network.encoder.project["lesion"].weight.grad.abs().sum() > 0


def test_the_lesion_count_reaches_the_readout():
    """Patients A and C have one lesion, B the same lesion twice, and nothing else differs: without message
    passing only the readout's pooling can tell B from A, and it must."""
    ids = ["A", "B", "C"]
    geometry = fake_geometry(ids, seed=4)
    geometry.loc[["B", "C"]] = geometry.loc[["A", "A"]].to_numpy()
    table = fake_features(geometry, seed=4)
    table.values.loc[["B", "C"]] = table.values.loc[["A", "A"]].to_numpy()
    lesion = {"segment": 0, "volume_ml": 3.0, "centroid_z_mm": 10, "centroid_y_mm": 20, "centroid_x_mm": 30,
              "portal_mm": 4.0, "hepatic_mm": 0.0, "in_remnant": 0, "lobe_side": 1.0}
    lesions = pd.DataFrame([lesion] * 4, index=pd.Index(["A", "B", "B", "C"], name="patient_id"))
    graph = graphs.build(ids, table, geometry, lesions).batch(ids)
    for ntype in ("anatomy", "ct"):
        data = graph.nodes[ntype].data
        data["h0"] = torch.cat([torch.nan_to_num(data["x"]), data["present"]], dim=1)
    graph.nodes["lesion"].data["h0"] = torch.nan_to_num(graph.nodes["lesion"].data["x"])
    graph.nodes["clinical"].data["h0"] = torch.zeros(3, DIMS["clinical"])
    dims = {**DIMS, "anatomy": graph.nodes["anatomy"].data["h0"].shape[1], "ct": graph.nodes["ct"].data["h0"].shape[1]}
    network = StgNetwork(dims, replace(CONFIG, lesions=True, layers=0)).eval()
    with torch.no_grad():
        logits = network(graph).logits
    # A and C are the same patient (equal up to float summation order within a batch); B differs by far more
    assert torch.allclose(logits[0], logits[2], rtol=0, atol=1e-5)
    assert (logits[0] - logits[1]).abs().max() > 1e-3


def test_no_message_passing_is_stg_without_its_message_passing_parts():
    full = StgNetwork(DIMS, CONFIG)
    bare = StgNetwork(DIMS, replace(CONFIG, layers=0))
    assert bare.gnn is None and n_trainable(bare) == n_trainable(full) - n_trainable(full.gnn)
    assert {"lesion_anatomy", "anatomy_lesion", "lesion_lesion", "lesion_ct", "ct_lesion"} <= {
        name for _, name, _ in full.relations}
    assert ("ct", "ct_clinical", "clinical") in full.relations   # image -> clinical, never clinical -> image
    assert not any(src == "clinical" and dst != "clinical" for src, _, dst in full.relations)
    geometric = {r for r, conv in full.gnn.layers[0].mods.items() if isinstance(conv, GeometryConv)}
    assert geometric == {"ct_anatomy", "anatomy_ct", "anatomy_anatomy", "lesion_anatomy", "anatomy_lesion",
                         "lesion_lesion", "lesion_ct", "ct_lesion"}
    union = StgNetwork(DIMS, replace(CONFIG, lesions=False))
    assert "lesion" not in union.node_types and not any("lesion" in name for _, name, _ in union.relations)


def test_the_geometry_enters_the_message(drawn_cohort):
    """Two patients alike but for one lesion's distance to the portal vein: a GeometryConv whose edge weights
    are not zero tells them apart after one layer, though nothing else differs."""
    conv = GeometryConv(4, len(LESION_VESSEL_ATTRIBUTES))
    nn.init.normal_(conv.fc_gain.weight)
    nn.init.normal_(conv.fc_shift.weight)
    graph = dgl.heterograph({("lesion", "lesion_anatomy", "anatomy"): ([0, 1], [0, 1])})
    graph.edata["a"] = torch.tensor([[0.0, 1.0, 1.0], [0.8, 0.0, 1.0]])
    x = torch.ones(2, 4)
    out = conv(graph, (x, x))
    assert not torch.allclose(out[0], out[1])
    nn.init.zeros_(conv.fc_gain.weight)
    nn.init.zeros_(conv.fc_shift.weight)
    out = conv(graph, (x, x))
    assert torch.allclose(out[0], out[1])
