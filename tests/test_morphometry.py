"""Native-grid morphometry: exact on a phantom of known shapes, faithful to the synthetic latents,
attached as a cohort artefact, and the Cox baseline built on it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from baselines.morphometry import Morphometry
from benchmark import datasets, methods
from benchmark.data import splits, synthetic
from benchmark.data.imaging import morphometry, phantom, prepare, tcia_reader, writer
from benchmark.data.imaging.prepared import PreparedCase
from benchmark.methods import FoldData

SPACING = (2.0, 1.0, 1.0)   # (z, y, x) mm: anisotropic, finer than the 4 mm prepared grid
LIVER_CENTRE, LIVER_AXES = np.array([44.0, 36.0, 36.0]), np.array([36.0, 28.0, 28.0])   # (x, y, z) mm
REMNANT_X = 54.0
PORTAL = ((62.0, 16.0, 28.0), (62.0, 56.0, 28.0), 3.0)    # start, end, radius: along y
HEPATIC = ((30.0, 30.0, 20.0), (30.0, 30.0, 52.0), 2.5)   # along z
#: (centre, radius): 8 mm above the portal vein in z, in the remnant; overlapping the hepatic vein;
#: 3 mm across, centred between the points of the 4 mm grid (multiples of 4 mm from the CT's first voxel);
#: reaching into the remnant with its smaller part.
TUMOURS = [((62.0, 36.0, 45.0), 6.0), ((35.5, 30.0, 36.0), 4.0), ((42.0, 50.0, 42.0), 1.5), ((52.0, 22.0, 50.0), 4.0)]
PORTAL_GAP_MM = 45.0 - 6.0 - (28.0 + 3.0)


def capsule(points, start, end, radius):
    start, end = np.asarray(start), np.asarray(end)
    t = np.clip((points - start) @ (end - start) / ((end - start) @ (end - start)), 0, 1)
    return np.linalg.norm(points - (start + t[..., None] * (end - start)), axis=-1) <= radius


def known_shapes():
    """CT and SEG segments of a liver ellipsoid with two vessels and three ball tumours, origin at 0."""
    shape = (36, 72, 88)
    z, y, x = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, SPACING)), indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    tumours = [np.linalg.norm(points - centre, axis=-1) <= radius for centre, radius in TUMOURS]
    liver = (np.sum(((points - LIVER_CENTRE) / LIVER_AXES) ** 2, axis=-1) <= 1) | np.logical_or.reduce(tumours)
    segments = {"Liver": liver, "Liver Remnant": liver & (x > REMNANT_X), "Hepatic": capsule(points, *HEPATIC),
                "Portal": capsule(points, *PORTAL)}
    segments.update({f"Tumor_{i}": mask for i, mask in enumerate(tumours, start=1)})
    hu = np.where(liver, 110.0, 40.0)
    return hu, writer.CTGeometry((0.0, 0.0, 0.0), SPACING), segments


def read_back(root, patient_id, hu, geometry, segments):
    series = writer.write_ct(root, hu, geometry, patient_id, 3)
    writer.write_seg(root, series.datasets, segments, 3)
    files = tcia_reader.find_series(tcia_reader.PatientFolder(patient_id, root / writer.COLLECTION / patient_id))
    ct = tcia_reader.read_ct(files.ct_dir)
    return prepare.prepare_case(patient_id, ct, tcia_reader.read_seg(files.seg_file, ct), prepare.PrepareOptions())


@pytest.fixture(scope="module")
def shapes_case(tmp_path_factory):
    return read_back(tmp_path_factory.mktemp("shapes"), "CRLM-CT-1001", *known_shapes())


def test_native_grid_counts_a_lesion_the_4mm_grid_loses(shapes_case):
    row = shapes_case.morphometry
    assert row["n_tumours"] == 4
    assert not shapes_case.tumours[2].any()   # resampled to 4 mm the 3 mm lesion is gone
    assert row["lesion_volume_min_ml"] == pytest.approx(4 / 3 * np.pi * 1.5**3 / 1000, abs=0.01)


def test_volumes_match_the_shapes(shapes_case):
    row = shapes_case.morphometry
    balls = [4 / 3 * np.pi * radius**3 / 1000 for _, radius in TUMOURS]
    assert row["tumour_volume_ml"] == pytest.approx(sum(balls), rel=0.15)
    assert row["lesion_volume_max_ml"] == pytest.approx(max(balls), rel=0.15)
    assert row["lesion_volume_mean_ml"] == pytest.approx(np.mean(balls), rel=0.15)
    assert row["liver_volume_ml"] == pytest.approx(4 / 3 * np.pi * np.prod(LIVER_AXES) / 1000, rel=0.03)
    h = (REMNANT_X - LIVER_CENTRE[0]) / LIVER_AXES[0]
    assert row["remnant_fraction"] == pytest.approx((2 - 3 * h + h**3) / 4, abs=0.02)   # ellipsoid cap


def test_distances_use_the_anisotropic_spacing(shapes_case):
    """The portal gap runs along z (2 mm voxels): voxel centres lie inside the shapes, so the measured
    distance is at least the true gap and exceeds it by less than two slices."""
    row = shapes_case.morphometry
    assert PORTAL_GAP_MM <= row["lesion_portal_min_mm"] <= PORTAL_GAP_MM + 2 * SPACING[0]
    assert row["lesion_hepatic_min_mm"] == 0.0
    assert row["n_tumours_near_vessel"] == 1
    assert row["n_tumours_in_remnant"] == 1


def test_one_row_per_lesion_with_its_own_distances(shapes_case):
    """The per-lesion rows the summaries are read off: each lesion's volume, vessel distances, remnant flag,
    and centroids whose differences are the distances between the balls' centres."""
    lesions = pd.DataFrame(shapes_case.lesions)
    assert list(lesions.columns) == morphometry.LESION_COLUMNS and list(lesions["segment"]) == [0, 1, 2, 3]
    balls = [4 / 3 * np.pi * radius**3 / 1000 for _, radius in TUMOURS]
    np.testing.assert_allclose(lesions["volume_ml"], balls, rtol=0.3)
    assert PORTAL_GAP_MM <= lesions.loc[0, "portal_mm"] <= PORTAL_GAP_MM + 2 * SPACING[0]
    assert lesions.loc[1, "hepatic_mm"] == 0.0 and (lesions.drop(index=1)["hepatic_mm"] > 0).all()
    assert list(lesions["in_remnant"]) == [1, 0, 0, 0]
    centres = np.array([centre for centre, _ in TUMOURS])[:, ::-1]   # (z, y, x), the grid's axes
    measured = lesions[["centroid_z_mm", "centroid_y_mm", "centroid_x_mm"]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(measured[:, None] - measured[None], axis=-1),
                               np.linalg.norm(centres[:, None] - centres[None], axis=-1), atol=1.0)
    row = shapes_case.morphometry
    assert row["lesion_portal_min_mm"] == lesions["portal_mm"].min()
    assert row["lesion_volume_max_ml"] == lesions["volume_ml"].max()


def test_lobe_side_is_the_side_of_the_livers_midplane(shapes_case):
    """The liver ellipsoid is centred at x = 44 mm: the lesions at x = 62 and 52 mm lie on its +x side, those at
    35.5 and 42 mm on its -x side, whatever the distance from the plane."""
    lesions = pd.DataFrame(shapes_case.lesions)
    sides = [1.0 if centre[0] > LIVER_CENTRE[0] else -1.0 for centre, _ in TUMOURS]
    assert sides == [1.0, -1.0, -1.0, 1.0]
    assert list(lesions["lobe_side"]) == sides


def test_what_the_seg_does_not_show_is_nan():
    _, _, segments = known_shapes()
    lesion = segments["Tumor_1"]
    seg = tcia_reader.SegMasks(nodes={"liver": segments["Liver"], "remnant": None, "hepatic": None,
                                      "portal": segments["Portal"]},
                               tumours=[lesion, np.zeros_like(lesion)])
    row, lesions = morphometry.measure(seg, SPACING)
    assert row["n_tumours"] == len(lesions) == 1   # an empty Tumor segment is no lesion
    assert np.isnan([lesions[0]["hepatic_mm"], lesions[0]["in_remnant"]]).all()
    assert np.isnan([row["remnant_volume_ml"], row["remnant_fraction"], row["lesion_hepatic_min_mm"],
                     row["n_tumours_in_remnant"]]).all()
    assert row["lesion_portal_min_mm"] > 0 and row["n_tumours_near_vessel"] == 0
    empty = morphometry.measure(tcia_reader.SegMasks(nodes={**seg.nodes, "remnant": segments["Liver"]}), SPACING).row
    assert (empty["n_tumours"], empty["tumour_volume_ml"], empty["n_tumours_near_vessel"],
            empty["n_tumours_in_remnant"]) == (0, 0, 0, 0)
    assert np.isnan([empty["lesion_volume_max_ml"], empty["lesion_portal_min_mm"]]).all()


def test_native_grid_agrees_with_the_latent_truth(tmp_path, monkeypatch):
    """Count, volumes and remnant as drawn, on CTs of 2.5 mm slices and pixels (the small default's
    5 mm ones miss a 3 ml burden by a quarter), distances within two voxels; a lesion centred within a
    voxel of the remnant plane may be counted on either side of it."""
    monkeypatch.setitem(phantom.SIZES, "fine", (128, 2.5))
    drawn = synthetic.generate(10, seed=5)
    for pid in ("CRLM-CT-1005", "CRLM-CT-1006", "CRLM-CT-1010"):
        truth, tumours = drawn.patients.loc[pid], drawn.tumours[drawn.tumours["patient_id"] == pid]
        image = phantom.render(pid, truth, tumours, drawn.vessels[drawn.vessels["patient_id"] == pid], "fine", 5)
        case = read_back(tmp_path, pid, image.hu, image.geometry, image.segments)
        row = case.morphometry
        assert row["n_tumours"] == truth["n_tumours"], pid
        assert row["tumour_volume_ml"] == pytest.approx(truth["total_tumour_volume_ml"], rel=0.15), pid
        assert row["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], rel=0.05), pid
        assert row["remnant_fraction"] == pytest.approx(truth["remnant_fraction"], abs=0.03), pid
        voxel = max(image.geometry.spacing)
        assert row["lesion_portal_min_mm"] == pytest.approx(truth["min_dist_portal_mm"], abs=2 * voxel), pid
        near_plane = (tumours["x"] - truth["remnant_plane_x_mm"]).abs() < image.geometry.spacing[2]
        clear = tumours["in_remnant"] & ~near_plane
        assert clear.sum() <= row["n_tumours_in_remnant"] <= clear.sum() + near_plane.sum(), pid
        lesions = pd.DataFrame(case.lesions)
        drawn_x = tumours["x"].to_numpy()[lesions["segment"].astype(int)]     # the liver frame: 0 at its centre
        off_midplane = np.abs(drawn_x) > 2 * voxel
        assert off_midplane.any(), pid
        np.testing.assert_array_equal(lesions["lobe_side"][off_midplane], np.sign(drawn_x[off_midplane]), err_msg=pid)


@pytest.fixture(scope="module")
def imaged(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    spec = "crlm-synthetic:n=10,seed=4"
    return datasets.load(spec, data_dir), data_dir, spec


def test_morphometry_is_a_cohort_artefact_kept_with_the_prepared_case(imaged):
    """In the artefact, in each prepared npz and in the cache index a warm load reads."""
    cohort, data_dir, spec = imaged
    table = cohort.artefacts["morphometry"]
    assert list(table.columns) == morphometry.MORPHOMETRY_COLUMNS
    assert table.index.equals(cohort.artefacts["geometry"].index) and len(table) == 10
    np.testing.assert_array_equal(table["n_tumours"], cohort.truth.loc[table.index, "n_tumours"])
    for pid in table.index[:3]:
        stored = pd.Series(PreparedCase.load(cohort.images[pid]).morphometry)[table.columns]
        pd.testing.assert_series_equal(stored, table.loc[pid], check_names=False)
    pd.testing.assert_frame_equal(datasets.load(spec, data_dir).artefacts["morphometry"], table)   # from the index


def test_lesions_are_a_cohort_artefact_kept_with_the_prepared_case(imaged):
    """One row per lesion, as many as the morphometry counts, as stored in the npz and read back warm."""
    cohort, data_dir, spec = imaged
    lesions = cohort.artefacts["lesions"]
    assert list(lesions.columns) == morphometry.LESION_COLUMNS
    counts = lesions.groupby(level=0).size().reindex(cohort.artefacts["morphometry"].index, fill_value=0)
    np.testing.assert_array_equal(counts, cohort.artefacts["morphometry"]["n_tumours"])
    pid = counts.idxmax()
    stored = pd.DataFrame(PreparedCase.load(cohort.images[pid]).lesions)
    np.testing.assert_array_equal(stored.to_numpy(), lesions.loc[[pid]].to_numpy())
    pd.testing.assert_frame_equal(datasets.load(spec, data_dir).artefacts["lesions"], lesions)   # from the index


def test_baseline_fits_on_clinical_and_logged_morphometry(imaged, clinical_cohort):
    cohort = imaged[0]
    split = splits.make_splits(cohort, "dfs", "cv", 4, 1, seed=0)[0]
    train, test = (FoldData(cohort, np.array(ids), "dfs", "preoperative", seed=0) for ids in (split.train, split.test))
    model = methods.get("morphometry")().fit(train)
    model.predict(test).validate(len(test), len(test.time_grid))
    features = model.features(train)
    assert list(features.columns[:train.X.shape[1]]) == list(train.X.columns)
    volumes = cohort.artefacts["morphometry"].loc[train.ids, "tumour_volume_ml"]
    np.testing.assert_allclose(features["morphometry:tumour_volume_ml"], np.log1p(volumes))
    np.testing.assert_allclose(features["morphometry:remnant_fraction"],
                               cohort.artefacts["morphometry"].loc[train.ids, "remnant_fraction"])
    assert model.estimator_.alpha_ >= Morphometry.defaults["alpha"]
    assert Morphometry.applicable(clinical_cohort) is not None   # no images, no morphometry
