"""Radiomics node features: known shape values, NaN with a reason, caching, the provider contract, the texture
grid."""
import numpy as np
import pytest
from feature_fakes import SPACING, fake_case, imaging_cohort, sphere, with_texture_grid

from benchmark.features import artefacts, radiomics_features
from benchmark.features.artefacts import ArtefactError
from benchmark.features.feature_table import NODE_COLUMNS
from benchmark.features.node_features import case_digest, node_masks


def test_shape_features_match_the_mask():
    case = fake_case()
    [features] = radiomics_features.extract_cases([case])
    assert features.reasons == {}
    names = features.names
    for node in ("liver", "tumour", "portal"):
        voxels = int(case.masks[node].sum())
        voxel_volume = features.values[node][names.index("original_shape_VoxelVolume")]
        assert voxel_volume == pytest.approx(voxels * np.prod(SPACING))
    # A sphere of radius 14 mm on a 4 mm grid: sphericity near 1, mesh volume near 4/3 pi r^3.
    tumour = dict(zip(names, features.values["tumour"]))
    assert tumour["original_shape_Sphericity"] > 0.85
    assert tumour["original_shape_MeshVolume"] == pytest.approx(4 / 3 * np.pi * 14**3, rel=0.15)
    # The tumour is darker than the liver, as rendered.
    liver = dict(zip(names, features.values["liver"]))
    assert tumour["original_firstorder_Mean"] < liver["original_firstorder_Mean"] - 50


def test_empty_and_one_voxel_masks_give_nan_with_reason(tmp_path):
    case = fake_case(empty=("hepatic", "portal"))
    case.masks["portal"][5, 5, 5] = True
    [features] = radiomics_features.extract_cases([case])
    assert features.values["hepatic"] is None and features.reasons["hepatic"] == "empty mask"
    assert features.values["portal"] is None and features.reasons["portal"] == "one-voxel mask"
    assert features.values["tumour"] is not None

    cohort = imaging_cohort(tmp_path / "cases", n=2, empty=("hepatic",))
    table = radiomics_features.radiomics_table(cohort, tmp_path / "cache", n_jobs=1)
    assert table.values["hepatic"].isna().all().all()
    assert not table.present["hepatic"].any() and table.present["liver"].all()
    assert any(note.startswith("hepatic: NaN features (empty mask) for P00, P01") for note in table.notes)
    assert np.isfinite(table.values["tumour"].to_numpy()).all()


def test_table_schema_and_cache_hit(tmp_path, monkeypatch):
    cohort = imaging_cohort(tmp_path / "cases", n=3)
    table = radiomics_features.radiomics_table(cohort, tmp_path / "cache", n_jobs=1)
    assert list(table.values.index) == list(cohort.patient_ids)
    assert tuple(table.values.columns.get_level_values(0).unique()) == NODE_COLUMNS
    assert table.flat().shape == (3, table.values.shape[1])
    # ct_global is the whole liver: the union of every node mask, here with a tumour bulging out.
    case = fake_case()
    case.masks["tumour"] = sphere(12.0, (44.0, 52.0, 4.0))
    assert node_masks(case)["ct_global"].sum() > case.masks["liver"].sum()
    [features] = radiomics_features.extract_cases([case])
    volume = features.names.index("original_shape_VoxelVolume")
    assert features.values["ct_global"][volume] == node_masks(case)["ct_global"].sum() * np.prod(SPACING)

    def fail(*_):
        raise AssertionError("extraction ran although every patient was cached")

    monkeypatch.setattr(radiomics_features, "node_radiomics", fail)
    again = radiomics_features.radiomics_table(cohort, tmp_path / "cache", n_jobs=1)
    assert again.values.equals(table.values)


def test_changed_mask_recomputes_only_that_patient(tmp_path):
    cohort = imaging_cohort(tmp_path / "cases", n=2)
    before = radiomics_features.radiomics_table(cohort, tmp_path / "cache", n_jobs=1)
    fake_case("P01", seed=1, tumour_radius=16.0).save(cohort.images["P01"])
    after = radiomics_features.radiomics_table(cohort, tmp_path / "cache", n_jobs=1)
    volume = ("tumour", "original_shape_VoxelVolume")
    assert after.values.loc["P00", volume] == before.values.loc["P00", volume]
    assert after.values.loc["P01", volume] > before.values.loc["P01", volume]


def test_provider_is_registered_and_refuses_a_cohort_without_images(tmp_path, clinical_cohort):
    assert artefacts.PROVIDERS["radiomics"].build is radiomics_features._provide
    with pytest.raises(ArtefactError, match="need CT images.*crlm-test"):
        radiomics_features.radiomics_table(clinical_cohort, tmp_path, n_jobs=1)


def test_complex_feature_value_is_nan_not_its_real_part():
    assert np.isnan(radiomics_features._real(np.array(1 + 2j)))
    assert radiomics_features._real(np.complex128(2.0)) == 2.0 and radiomics_features._real(np.array(1.5)) == 1.5


def test_a_case_with_a_texture_grid_is_described_there():
    """Radiomics reads the texture grid, at its own spacing (here a 2 mm grid whose tumour is smaller than the
    4 mm grid's), and the feature cache tells the two grids apart."""
    coarse = fake_case()
    case = with_texture_grid(coarse)
    fine, masks = case.texture.spacing[0], case.texture.masks
    [features] = radiomics_features.extract_cases([case])
    volume = features.values["tumour"][features.names.index("original_shape_VoxelVolume")]
    assert volume == pytest.approx(masks["tumour"].sum() * fine**3, rel=0.05)
    assert volume < 0.5 * coarse.masks["tumour"].sum() * np.prod(SPACING)
    assert case_digest(case) != case_digest(coarse)
