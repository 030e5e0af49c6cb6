"""The synthetic phantoms: rendered from the latents, read back through the TCIA path, faithful to them."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark import datasets
from benchmark.data import anatomy, synthetic
from benchmark.data.imaging import phantom, prepare, tcia_reader, writer
from benchmark.data.imaging.prepared import geometry_columns


@pytest.fixture(scope="module")
def drawn():
    return synthetic.generate(10, seed=5)


def latents(drawn, patient_id):
    return (drawn.patients.loc[patient_id], drawn.tumours[drawn.tumours["patient_id"] == patient_id],
            drawn.vessels[drawn.vessels["patient_id"] == patient_id])



@pytest.mark.slow
def test_real_size_takes_the_drawn_real_slice_spacing_and_coverage(drawn):
    """size=real renders each CT at its drawn spacing (the real scans' mix) over at least its drawn coverage."""
    assert set(drawn.patients["ct_slice_mm"]) <= set(anatomy.SLICE_MIX)
    pid = "CRLM-CT-1002"
    patient, tumours, vessels = latents(drawn, pid)
    image = phantom.render(pid, patient, tumours, vessels, size="real", seed=5)
    slices, rows, columns = image.hu.shape
    assert (rows, columns) == (512, 512) and image.geometry.spacing[0] == patient["ct_slice_mm"]
    assert slices * patient["ct_slice_mm"] >= patient["ct_coverage_mm"] - patient["ct_slice_mm"]

def test_render_uses_the_latent_anatomy(drawn):
    pid = "CRLM-CT-1003"
    patient, tumours, vessels = latents(drawn, pid)
    image = phantom.render(pid, patient, tumours, vessels, seed=5)
    labels = list(image.segments)
    assert labels[0] == "Liver" and labels[1] in {"Liver Remnant", "Liver_Remnant"}
    assert labels[2:4] == ["Hepatic", "Portal"]
    assert labels[4:] == [f"Tumor_{i}" for i in range(1, len(tumours) + 1)]
    assert image.hu.shape[1:] == (64, 64) and image.geometry.spacing[0] == 5.0
    voxel_ml = np.prod(image.geometry.spacing) / 1000
    assert image.segments["Liver"].sum() * voxel_ml == pytest.approx(patient["liver_volume_ml"], rel=0.1)
    remnant = image.segments[labels[1]].sum() / image.segments["Liver"].sum()
    assert remnant == pytest.approx(patient["remnant_fraction"], abs=0.08)
    liver_hu = np.median(image.hu[image.segments["Liver"]])
    tumour = np.logical_or.reduce([image.segments[label] for label in labels[4:]])
    assert np.median(image.hu[tumour]) < liver_hu - 40  # hypodense tumours
    assert np.median(image.hu[image.segments["Portal"]]) > liver_hu + 40  # contrast-filled vessels
    assert image.hu.min() == -3024  # padding outside the circular field of view
    again = phantom.render(pid, patient, tumours, vessels, seed=5)
    np.testing.assert_array_equal(again.hu, image.hu)


def test_the_texture_latents_set_the_heterogeneity_inside_tumours_and_parenchyma(drawn, monkeypatch):
    """The HU sd inside the tumours and inside the parenchyma (liver without vessels and tumours) is
    sqrt(latent^2 + noise^2), on the small grid and on the real one; nothing else in the CT changes."""
    pid = max(drawn.patients.index, key=lambda p: drawn.patients.loc[p, "total_tumour_volume_ml"])
    patient, tumours, vessels = latents(drawn, pid)
    monkeypatch.setitem(phantom.SIZES, "fine", (256, 1.5))   # 1-2 mm voxels: the field spans several
    for size in ("small", "fine"):
        sds = {}
        for tumour_hu, parenchyma_hu in ((5.0, 30.0), (40.0, 2.0)):
            textured = patient.copy()
            textured[["tumour_texture_hu", "parenchyma_texture_hu"]] = tumour_hu, parenchyma_hu
            image = phantom.render(pid, textured, tumours, vessels, size=size, seed=5)
            tumour = np.logical_or.reduce([m for label, m in image.segments.items() if label.startswith("Tumor_")])
            parenchyma = image.segments["Liver"] & ~tumour & ~image.segments["Portal"] & ~image.segments["Hepatic"]
            sds[tumour_hu, parenchyma_hu] = (np.std(image.hu[tumour]), np.std(image.hu[parenchyma]))
            outside = ~image.segments["Liver"]
            if tumour_hu == 5.0:
                first = image.hu[outside]
            else:
                np.testing.assert_array_equal(image.hu[outside], first)
        for (tumour_hu, parenchyma_hu), (tumour_sd, parenchyma_sd) in sds.items():
            assert tumour_sd == pytest.approx(np.hypot(tumour_hu, phantom.NOISE_HU), rel=0.2)
            assert parenchyma_sd == pytest.approx(np.hypot(parenchyma_hu, phantom.NOISE_HU), rel=0.2)


def test_prone_and_supine_renderings_prepare_to_the_same_masks(drawn, tmp_path):
    pid = "CRLM-CT-1002"
    prepared = []
    for prone in (False, True):
        root = tmp_path / str(prone)
        phantom.write_patient(root, pid, phantom.render(pid, *latents(drawn, pid), seed=5, prone=prone), seed=5)
        files = tcia_reader.find_series(tcia_reader.PatientFolder(pid, root / writer.COLLECTION / pid))
        ct = tcia_reader.read_ct(files.ct_dir)
        case = prepare.prepare_case(pid, ct, tcia_reader.read_seg(files.seg_file, ct), prepare.PrepareOptions())
        prepared.append(case)
    supine, prone = prepared
    assert supine.origin == pytest.approx(prone.origin)
    for node, mask in supine.masks.items():
        np.testing.assert_array_equal(mask, prone.masks[node], err_msg=node)


def test_default_path_generates_reads_and_caches(tmp_path):
    cohort = datasets.load("crlm-synthetic:n=10,seed=2", tmp_path)
    truth = cohort.truth   # the latent anatomy and true risks of the scenario it was loaded with
    assert len(cohort.images) == 10 and not cohort.excluded
    geometry = cohort.artefacts["geometry"]
    assert list(geometry.columns) == geometry_columns()
    np.testing.assert_array_equal(geometry["n_tumours"], truth.loc[geometry.index, "n_tumours"])
    ratio = geometry["liver_volume_ml"] / truth.loc[geometry.index, "liver_volume_ml"]
    assert ratio.between(0.85, 1.2).all()
    assert (geometry["tumour_present"] == 1).all()
    # a tree written before a scenario existed gets that scenario's outcomes on first use, images untouched
    spec = datasets.parse_spec("crlm-synthetic:n=10,seed=2,scenario=mixed-half")
    spec.truth_file(tmp_path).unlink()
    spec.clinical_file(tmp_path).unlink()
    images = sorted(p.stat().st_mtime_ns for p in spec.root(tmp_path).rglob("*.dcm"))
    half = datasets.load(spec, tmp_path)
    assert sorted(p.stat().st_mtime_ns for p in spec.root(tmp_path).rglob("*.dcm")) == images
    assert half.truth["true_risk_dfs"].corr(truth["true_risk_dfs"], method="spearman") > 0.9
