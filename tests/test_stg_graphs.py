"""Patient graph builder: schema, absent masks, the leakage-free inputs, and the DGL cache round trip."""
import numpy as np
import pandas as pd
import pytest
import torch
from stg_fakes import FEATURES, fake_features, fake_geometry, remove_mask

from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.features import graphs
from benchmark.features.graphs import EDGE_ATTRIBUTES, GraphBuildError

IDS = [f"P{i}" for i in range(6)]


@pytest.fixture()
def inputs():
    geometry = fake_geometry(IDS, seed=1)
    table = fake_features(geometry, seed=1)
    return table, geometry


def test_schema(inputs):
    table, geometry = inputs
    built = graphs.build(IDS, table, geometry)
    graph = built.graphs[0]
    assert sorted(graph.ntypes) == ["anatomy", "clinical", "ct"]
    assert {graph.num_nodes(nt) for nt in ("ct", "clinical")} == {1} and graph.num_nodes("anatomy") == 5
    assert set(graph.etypes) == {"ct_anatomy", "anatomy_ct", "anatomy_anatomy", "clinical_ct", "ct_clinical",
                                 "clinical_anatomy", "anatomy_clinical"}
    src, dst = graph.edges(etype="anatomy_anatomy")
    pairs = {(NODE_NAMES[s], NODE_NAMES[d]) for s, d in zip(src.tolist(), dst.tolist())}
    assert pairs == {("tumour", "portal"), ("portal", "tumour"), ("tumour", "hepatic"), ("hepatic", "tumour"),
                     ("remnant", "liver"), ("liver", "remnant")}
    assert graph.nodes["anatomy"].data["x"].shape == (5, len(FEATURES))
    assert graph.edges["ct_anatomy"].data["a"].shape == (5, len(EDGE_ATTRIBUTES))
    # raw features are stored unscaled: the tumour node's log volume is the geometry's
    tumour = NODE_NAMES.index("tumour")
    assert graph.nodes["anatomy"].data["x"][tumour, 0].item() == pytest.approx(
        np.log(geometry.loc["P0", "tumour_volume_ml"]), rel=1e-5)
    # the tumour-portal edge carries their minimum distance
    portal = NODE_NAMES.index("portal")
    edge = graph.edge_ids(tumour, portal, etype="anatomy_anatomy")
    distance = graph.edges["anatomy_anatomy"].data["a"][edge, EDGE_ATTRIBUTES.index("min_distance")].item()
    assert distance == pytest.approx(geometry.loc["P0", "mindist_portal_tumour_mm"] / graphs.DISTANCE_SCALE_MM)


def test_empty_mask_keeps_the_node_with_present_zero(inputs):
    table, geometry = inputs
    remove_mask(geometry, table, "P2", "hepatic")
    graph = graphs.build(IDS, table, geometry).graphs[2]
    hepatic = NODE_NAMES.index("hepatic")
    assert graph.num_nodes("anatomy") == 5
    present = graph.nodes["anatomy"].data["present"][:, 0]
    assert present[hepatic] == 0 and present.sum() == 4
    assert torch.isnan(graph.nodes["anatomy"].data["x"][hepatic]).all()
    attributes = graph.edges["ct_anatomy"].data["a"]
    assert torch.isfinite(attributes).all()
    assert attributes[hepatic].abs().sum() == 0 and attributes[:, -1].sum() == 4


def test_missing_patient_is_named(inputs):
    table, geometry = inputs
    with pytest.raises(GraphBuildError, match="P5"):
        graphs.build(IDS, table, geometry.drop(index="P5"))
    with pytest.raises(GraphBuildError, match="Q9"):
        graphs.build(IDS, table, geometry).batch(["P0", "Q9"])


def test_save_load_round_trip_and_stale_cache(tmp_path, inputs):
    table, geometry = inputs
    built = graphs.build(IDS, table, geometry)
    key = graphs.fingerprint(table, geometry, IDS)
    graphs.save(built, tmp_path / "g.bin", key)
    loaded = graphs.load(tmp_path / "g.bin", key)
    assert list(loaded.ids) == IDS and loaded.anatomy_features == built.anatomy_features
    for a, b in zip(built.graphs, loaded.graphs):
        for ntype in ("anatomy", "ct"):
            assert torch.equal(a.nodes[ntype].data["x"], b.nodes[ntype].data["x"])
        assert torch.equal(a.edges["anatomy_anatomy"].data["a"], b.edges["anatomy_anatomy"].data["a"])
    changed = table.values.copy()
    changed.iloc[0, 1] += 1.0
    table.values = changed
    assert graphs.fingerprint(table, geometry, IDS) != key
    assert graphs.load(tmp_path / "g.bin", graphs.fingerprint(table, geometry, IDS)) is None


def test_native_geometry_replaces_what_the_native_grid_measures_where_both_grids_show_it(inputs):
    table, geometry = inputs
    remove_mask(geometry, table, "P1", "tumour")   # lost at 4 mm: no centroid, so its edges stay absent
    morphometry = pd.DataFrame({"liver_volume_ml": 1500.0, "remnant_volume_ml": 900.0, "tumour_volume_ml": 0.3,
                                "lesion_portal_min_mm": [0.0, 4.0, 7.5, np.nan, 2.0, 3.0],
                                "lesion_hepatic_min_mm": 12.0}, index=IDS)
    native = graphs.native_geometry(geometry, morphometry)
    assert (native["liver_volume_ml"] == 1500.0).all()
    assert native.loc["P0", "tumour_volume_ml"] == 0.3 and native.loc["P1", "tumour_volume_ml"] == \
        geometry.loc["P1", "tumour_volume_ml"]
    assert native.loc["P0", "contact_portal_tumour"] == 1.0 and native.loc["P0", "mindist_portal_tumour_mm"] == 0.0
    assert native.loc["P2", "contact_portal_tumour"] == 0.0 and native.loc["P2", "mindist_portal_tumour_mm"] == 7.5
    assert native.loc["P3", "mindist_portal_tumour_mm"] == geometry.loc["P3", "mindist_portal_tumour_mm"]  # NaN: kept
    assert np.isnan(native.loc["P1", "mindist_portal_tumour_mm"])
    graph = graphs.build(IDS, table, native).graphs[2]
    src, dst = graph.edges(etype="anatomy_anatomy")
    tumour_portal = [i for i, (s, d) in enumerate(zip(src.tolist(), dst.tolist()))
                     if (NODE_NAMES[s], NODE_NAMES[d]) == ("tumour", "portal")][0]
    a = graph.edges["anatomy_anatomy"].data["a"][tumour_portal]
    assert a[EDGE_ATTRIBUTES.index("min_distance")] == pytest.approx(7.5 / graphs.DISTANCE_SCALE_MM)
