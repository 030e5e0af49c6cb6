"""The TCIA reader and prepare step on small DICOM trees written in the exact NBIA layout.

The tree holds, besides two good patients (one supine, one prone), every kind of bad input the
loader must survive: a corrupt CT file, a SEG drawn on another series, a missing slice, images
without a clinical row and a clinical row without images.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
from tcia_fakes import SEED, SPACING, prone_case, supine_case, write_patient

from benchmark import cli, datasets
from benchmark.data import clinical, synthetic
from benchmark.data.imaging import prepare, tcia_reader, writer
from benchmark.data.imaging.prepared import NODE_NAMES, PreparedCase, geometry_columns
from benchmark.data.imaging.tcia_reader import ImagingError

VOXEL_ML = 3.0 * 2.0 * 2.0 / 1000
EXACT = prepare.PrepareOptions(spacing=SPACING, margin_mm=6.0)  # same grid as the CT: no interpolation


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The NBIA tree plus the clinical xlsx (rows for 1001-1005 and 1007; 1006 has images only)."""
    root = tmp_path_factory.mktemp("tcia")
    write_patient(root, "CRLM-CT-1001", supine_case())
    write_patient(root, "CRLM-CT-1002", prone_case())
    series, _ = write_patient(root, "CRLM-CT-1003", supine_case())
    (series.directory / "1-004.dcm").write_bytes(b"this is not a DICOM file")
    hu, geometry, segments = supine_case()
    writer.write_ct(root, hu, geometry, "CRLM-CT-1004", SEED)
    other = writer.ct_slices(hu, geometry, "CRLM-CT-1004", SEED, series_number=9)  # never written
    writer.write_seg(root, other, segments, SEED)
    series, _ = write_patient(root, "CRLM-CT-1005", supine_case())
    (series.directory / "1-006.dcm").unlink()
    write_patient(root, "CRLM-CT-1006", prone_case())
    table = synthetic.generate(10, seed=1).clinical
    clinical.write_clinical_xlsx(table.drop(index=["CRLM-CT-1006", "CRLM-CT-1008", "CRLM-CT-1009",
                                                   "CRLM-CT-1010"]), root / clinical.CLINICAL_FILENAME)
    return root


def patient_dir(root, patient_id):
    return root / writer.COLLECTION / patient_id


def read(root, patient_id):
    files = tcia_reader.find_series(tcia_reader.PatientFolder(patient_id, patient_dir(root, patient_id)))
    ct = tcia_reader.read_ct(files.ct_dir)
    return ct, tcia_reader.read_seg(files.seg_file, ct)


def test_tree_has_the_nbia_layout(tree):
    seg = next(patient_dir(tree, "CRLM-CT-1001").glob("*/*-Segmentation-*/1-1.dcm"))
    study, series = seg.parent.parent.name, seg.parent.name
    assert study.startswith("01-01-2000-NA-") and series.startswith("3.000000-Segmentation-")
    assert len(list(patient_dir(tree, "CRLM-CT-1001").glob("*/2.000000-*/*.dcm"))) == 10


def test_ct_grid_spacing_and_padding(tree):
    ct, _ = read(tree, "CRLM-CT-1001")
    hu, geometry, _ = supine_case()
    assert ct.hu.shape == (10, 16, 16) and ct.spacing == pytest.approx(SPACING)
    assert ct.origin == pytest.approx(geometry.origin)
    assert ct.hu.min() == tcia_reader.AIR_HU  # -3024 padding became air
    np.testing.assert_array_equal(ct.hu, np.maximum(hu, tcia_reader.AIR_HU))


def test_seg_masks_are_voxel_exact_on_partial_z_range(tree):
    _, seg = read(tree, "CRLM-CT-1001")
    _, _, segments = supine_case()
    np.testing.assert_array_equal(seg.nodes["liver"], segments["Liver"])
    np.testing.assert_array_equal(seg.nodes["remnant"], segments["Liver Remnant"])
    np.testing.assert_array_equal(seg.nodes["hepatic"], segments["Hepatic"])
    np.testing.assert_array_equal(seg.nodes["portal"], segments["Portal"])
    assert seg.tumour_labels == ["Tumor_1", "Tumor_2"]
    np.testing.assert_array_equal(seg.tumours[0], segments["Tumor_1"])
    np.testing.assert_array_equal(seg.tumours[1], segments["Tumor_2"])
    assert (seg.tumours[0] & seg.tumours[1]).sum() == 8


def test_prone_scan_keeps_orientation_and_other_spelling(tree):
    ct, seg = read(tree, "CRLM-CT-1002")
    np.testing.assert_allclose(ct.direction, np.diag([-1.0, -1.0, 1.0]))
    assert seg.nodes["hepatic"] is None
    np.testing.assert_array_equal(seg.nodes["remnant"], prone_case()[2]["Liver_Remnant"])


@pytest.mark.parametrize("label, node", [("Liver", "liver"), ("Liver Remnant", "remnant"),
                                         ("Liver_Remnant", "remnant"), ("Hepatic", "hepatic"),
                                         ("Portal", "portal"), ("Tumor_12", "tumour"), ("Spleen", None)])
def test_segment_labels(label, node):
    assert tcia_reader.node_of_label(label) == node


def test_seg_with_another_frame_of_reference_is_refused(tmp_path):
    hu, geometry, segments = supine_case()
    series = writer.write_ct(tmp_path, hu, geometry, "CRLM-CT-1001", SEED)
    moved = writer.ct_slices(hu, geometry, "CRLM-CT-1001", SEED, frame_of_reference_uid="1.2.3.4")
    seg_file = writer.write_seg(tmp_path / "other", moved, segments, SEED)
    with pytest.raises(ImagingError, match="frame of reference"):
        tcia_reader.read_seg(seg_file, tcia_reader.read_ct(series.directory))


def test_seg_without_instance_references_is_mapped_by_position(tmp_path):
    series, seg_file = write_patient(tmp_path, "CRLM-CT-1001", supine_case())
    ds = pydicom.dcmread(seg_file)
    for item in ds.PerFrameFunctionalGroupsSequence:
        del item.DerivationImageSequence
    del ds.ReferencedSeriesSequence
    ds.save_as(seg_file)
    seg = tcia_reader.read_seg(seg_file, tcia_reader.read_ct(series.directory))
    _, _, segments = supine_case()
    np.testing.assert_array_equal(seg.nodes["liver"], segments["Liver"])
    np.testing.assert_array_equal(seg.tumours[1], segments["Tumor_2"])


def test_prepared_case_is_the_ct_crop_when_spacing_matches(tree):
    ct, seg = read(tree, "CRLM-CT-1001")
    case = prepare.prepare_case("CRLM-CT-1001", ct, seg, EXACT)
    # liver voxels z 3-6, y/x 4-11; margin 6 mm = 2 slices in z and 3 voxels in y, x
    assert case.volume.shape == (8, 14, 14)
    assert case.origin == pytest.approx((-15.0 + 1 * 2, -15.0 + 1 * 2, -100.0 + 1 * 3))
    crop = (slice(1, 9), slice(1, 15), slice(1, 15))
    np.testing.assert_allclose(case.volume, ct.hu[crop], atol=1e-3)
    _, _, segments = supine_case()
    for node, label in (("liver", "Liver"), ("remnant", "Liver Remnant"), ("hepatic", "Hepatic"),
                        ("portal", "Portal")):
        np.testing.assert_array_equal(case.masks[node], segments[label][crop])
    np.testing.assert_array_equal(case.tumours[1], segments["Tumor_2"][crop])
    np.testing.assert_array_equal(case.masks["tumour"], (segments["Tumor_1"] | segments["Tumor_2"])[crop])


def test_geometry_of_the_supine_case(tree):
    ct, seg = read(tree, "CRLM-CT-1001")
    case = prepare.prepare_case("CRLM-CT-1001", ct, seg, EXACT)
    row = prepare.geometry_row(case)
    assert list(row) == geometry_columns()
    assert row["liver_volume_ml"] == pytest.approx(4 * 8 * 8 * VOXEL_ML)
    assert row["tumour_volume_ml"] == pytest.approx(28 * VOXEL_ML)  # 18 + 18 - 8 overlapping voxels
    assert row["n_tumours"] == 2
    # liver centroid: voxel centres z 3..6, y 4..11, x 4..11 -> index means 4.5, 7.5, 7.5
    assert (row["liver_centroid_x_mm"], row["liver_centroid_y_mm"], row["liver_centroid_z_mm"]) == pytest.approx(
        (-15.0 + 7.5 * 2, -15.0 + 7.5 * 2, -100.0 + 4.5 * 3))
    assert row["contact_portal_tumour"] == 0 and row["mindist_portal_tumour_mm"] == pytest.approx(np.hypot(4.0, 2.0))
    assert row["contact_hepatic_tumour"] == 1 and row["mindist_hepatic_tumour_mm"] == 0
    assert row["contact_liver_tumour"] == 1 and row["contact_remnant_tumour"] == 1
    assert row["mindist_hepatic_portal_mm"] == pytest.approx(np.hypot(3 * 2.0, 4 * 2.0))


def test_absent_segment_is_an_empty_mask_with_nan_geometry(tree):
    ct, seg = read(tree, "CRLM-CT-1002")
    case = prepare.prepare_case("CRLM-CT-1002", ct, seg, EXACT)
    assert set(case.masks) == set(NODE_NAMES) and not case.masks["hepatic"].any()
    row = prepare.geometry_row(case)
    assert row["hepatic_present"] == 0 and row["hepatic_volume_ml"] == 0
    assert np.isnan(row["mindist_hepatic_portal_mm"]) and np.isnan(row["hepatic_centroid_x_mm"])
    # prone: array x runs towards -x, so liver voxel index 3..8 sits at x = 20 - 2 * (3..8)
    assert row["liver_centroid_x_mm"] == pytest.approx(20.0 - 2 * 5.5)
    assert row["liver_volume_ml"] == pytest.approx(4 * 4 * 6 * VOXEL_ML)


def test_resampling_keeps_volumes_close(tree):
    ct, seg = read(tree, "CRLM-CT-1001")
    case = prepare.prepare_case("CRLM-CT-1001", ct, seg, prepare.PrepareOptions(spacing=(1.0, 0.8, 0.8)))
    assert case.masks["liver"].sum() * 0.64 / 1000 == pytest.approx(4 * 8 * 8 * VOXEL_ML, rel=0.05)
    assert np.median(case.volume[case.masks["liver"] & ~case.masks["tumour"]]) == pytest.approx(110.0)


@pytest.fixture(scope="module")
def loaded(tree, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    return datasets.load(f"tcia:{tree}", data_dir), data_dir


def test_attach_images_prepares_good_and_excludes_bad_patients(loaded):
    cohort, _ = loaded
    assert sorted(cohort.images) == ["CRLM-CT-1001", "CRLM-CT-1002"]
    assert list(cohort.patient_ids) == ["CRLM-CT-1001", "CRLM-CT-1002"]
    reasons = cohort.excluded
    assert set(reasons) == {"CRLM-CT-1003", "CRLM-CT-1004", "CRLM-CT-1005", "CRLM-CT-1006", "CRLM-CT-1007"}
    assert "1-004.dcm" in reasons["CRLM-CT-1003"] and "unreadable DICOM" in reasons["CRLM-CT-1003"]
    assert "references series" in reasons["CRLM-CT-1004"]
    assert "uneven slice spacing" in reasons["CRLM-CT-1005"]
    assert "no clinical row" in reasons["CRLM-CT-1006"]
    assert "no images" in reasons["CRLM-CT-1007"]
    assert not any(str(cohort.root) in reason for reason in reasons.values())   # footers name no local paths
    assert reasons["CRLM-CT-1007"] == "no images in the download"


def test_geometry_frame_and_prepared_files(loaded):
    cohort, _ = loaded
    geometry = cohort.artefacts["geometry"]
    assert list(geometry.columns) == geometry_columns() and list(geometry.index) == ["CRLM-CT-1001", "CRLM-CT-1002"]
    case = PreparedCase.load(cohort.images["CRLM-CT-1001"])
    assert case.patient_id == "CRLM-CT-1001" and len(case.tumours) == 2
    assert geometry.loc["CRLM-CT-1002", "hepatic_present"] == 0


def test_manifest_lists_every_patient_with_status(loaded):
    cohort, data_dir = loaded
    manifest = pd.read_csv(prepare.manifest_path(data_dir / "cache" / cohort.name))
    status = dict(zip(manifest["patient_id"], manifest["status"]))
    assert status == {"CRLM-CT-1001": "prepared", "CRLM-CT-1002": "prepared", "CRLM-CT-1003": "excluded",
                      "CRLM-CT-1004": "excluded", "CRLM-CT-1005": "excluded", "CRLM-CT-1006": "skipped",
                      "CRLM-CT-1007": "excluded"}


def test_warm_load_reads_the_cache_only(loaded, tree, monkeypatch):
    cohort, data_dir = loaded

    def fail(*args, **kwargs):
        raise AssertionError("prepared again although nothing changed")

    monkeypatch.setattr(prepare, "prepare_patient", fail)
    again = datasets.load(f"tcia:{tree}", data_dir)
    assert again.images == cohort.images and again.excluded == cohort.excluded
    pd.testing.assert_frame_equal(again.artefacts["geometry"], cohort.artefacts["geometry"])


def test_prepare_command_on_the_tree(tree, tmp_path, capsys):
    assert cli.main(["prepare", "--data", f"tcia:{tree}", "--data-dir", str(tmp_path), "-j", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 patient(s) with prepared images, 5 excluded" in out and "CRLM-CT-1004" in out


def test_a_ct_finer_than_the_texture_spacing_gets_a_texture_grid_that_survives_the_cache(tree, tmp_path):
    """The fake CT has 2 mm pixels: a 3 mm texture grid is finer than the 4 mm prepared grid and is stored
    (isotropic, the same anatomy)."""
    ct, seg = read(tree, "CRLM-CT-1001")
    case = prepare.prepare_case("CRLM-CT-1001", ct, seg, prepare.PrepareOptions(texture_spacing_mm=3.0))
    texture = case.texture
    assert texture.spacing == (3.0, 3.0, 3.0) and set(texture.masks) == set(NODE_NAMES)
    assert texture.masks["liver"].sum() * 27 / 1000 == pytest.approx(4 * 8 * 8 * VOXEL_ML, rel=0.3)
    assert texture.masks["tumour"].any() and not (texture.masks["tumour"] & ~texture.masks["liver"]).any()
    path = tmp_path / "case.npz"
    case.save(path)
    loaded = PreparedCase.load(path)
    np.testing.assert_array_equal(loaded.texture.volume, texture.volume)
    for name in NODE_NAMES:
        np.testing.assert_array_equal(loaded.texture.masks[name], texture.masks[name])
    assert loaded.texture.origin == texture.origin and loaded.texture.spacing == texture.spacing


def test_a_ct_no_finer_than_the_texture_spacing_keeps_its_own_voxels_on_the_texture_grid(tree):
    """At the default 2 mm the fake CT's 2 mm pixels are no finer: the texture grid is the CT itself, cropped to
    the liver's box, every voxel the CT's own value (no interpolation) and the masks the SEG's own."""
    ct, seg = read(tree, "CRLM-CT-1001")
    texture = prepare.prepare_case("CRLM-CT-1001", ct, seg, prepare.PrepareOptions()).texture
    assert texture.spacing == tuple(ct.spacing)
    index = (np.asarray(texture.origin) - np.asarray(ct.origin)) @ ct.direction / np.asarray(ct.spacing[::-1])
    np.testing.assert_allclose(index, np.round(index), atol=1e-6)            # on the CT's lattice
    offset = np.round(index).astype(int)[::-1]                                 # (z, y, x) of texture voxel 0
    low, high = np.maximum(-offset, 0), np.minimum(texture.volume.shape, np.array(ct.hu.shape) - offset)
    crop = tuple(slice(a, b) for a, b in zip(low, high))
    inside = tuple(slice(a + o, b + o) for a, b, o in zip(low, high, offset))
    np.testing.assert_allclose(texture.volume[crop], ct.hu[inside], atol=1e-3)
    np.testing.assert_array_equal(texture.masks["tumour"][crop], np.logical_or.reduce(seg.tumours)[inside])
