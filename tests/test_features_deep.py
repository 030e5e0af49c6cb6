"""CT encoder node features: shapes, determinism, MedicalNet checkpoints, table notes and caching."""
import numpy as np
import pytest
import torch
from feature_fakes import fake_case, imaging_cohort, with_texture_grid

from benchmark.data.imaging.prepared import PreparedCase
from benchmark.features import artefacts, deep_features
from benchmark.features.deep_features import Encoder, MultiScaleEncoder, build_encoder
from benchmark.features.encoder_options import EncoderOptions
from benchmark.features.feature_table import NODE_COLUMNS

SMALL = Encoder(EncoderOptions(width=16, input_size=16))


def test_encoder_output_shape_and_pooling_width():
    encoder = build_encoder(width=24)
    fmap = encoder.backbone(torch.zeros(2, 1, 32, 32, 32))
    assert fmap.shape == (2, 512, 4, 4, 4)              # stride 8, layer3/4 dilated
    assert encoder.projection.in_features == 512 * (1 + 8 + 64)
    assert encoder(torch.randn(3, 1, 16, 16, 16)).shape == (3, 24)
    assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training


def test_seeded_encoder_is_deterministic_and_seed_matters():
    x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    first, second = build_encoder(8, seed=0), build_encoder(8, seed=0)
    for key, value in first.state_dict().items():   # a seeded initialisation: the same numbers on any CPU
        assert torch.equal(second.state_dict()[key], value), key
    with torch.no_grad():
        a, b = first(x), second(x)
        c = build_encoder(8, seed=1)(x)
    # the outputs are sums of floats whose order the convolution's threads may choose
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_medicalnet_checkpoint_round_trip(tmp_path, shortcut):
    """A checkpoint in MedicalNet's format (DataParallel prefix, segmentation head) loads exactly."""
    source = MultiScaleEncoder(8, shortcut).backbone
    torch.nn.init.normal_(source.conv1.weight, generator=torch.Generator().manual_seed(7))
    state = {f"module.{key}": value for key, value in source.state_dict().items()}
    state["module.conv_seg.0.weight"] = torch.zeros(32, 512, 3, 3, 3)
    path = tmp_path / "resnet_18.pth"
    torch.save({"ecpoch": 10, "state_dict": state}, path)

    loaded = build_encoder(8, path)
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.backbone.state_dict()[key].cpu(), value), key
    assert (loaded.backbone.layer2[0].downsample is not None) == (shortcut == "B")


def test_foreign_checkpoint_is_refused_by_name(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(ValueError, match="other.pth: not a MedicalNet ResNet-18"):
        build_encoder(8, path)


def test_case_features_nan_for_empty_node_and_context_differs_from_liver():
    [features] = SMALL([fake_case(empty=("portal",))])
    assert features.values["portal"] is None and features.reasons["portal"] == "empty mask"
    assert all(len(features.values[node]) == 16 for node in NODE_COLUMNS if node != "portal")
    assert not np.allclose(features.values["liver"], features.values["ct_global"])
    [again] = SMALL([fake_case(empty=("portal",))])
    assert again.values == features.values


def test_a_case_with_a_texture_grid_is_encoded_from_it():
    """The cubes come from the texture grid when there is one: the features are those of a case on that grid."""
    coarse = fake_case()
    case = with_texture_grid(coarse)
    grid = case.texture
    on_grid = PreparedCase(case.patient_id, grid.volume, grid.spacing, grid.origin, grid.masks, [grid.masks["tumour"]])
    [textured], [fine], [plain] = SMALL([case]), SMALL([on_grid]), SMALL([coarse])
    for node in NODE_COLUMNS:
        np.testing.assert_allclose(textured.values[node], fine.values[node], rtol=1e-5, atol=1e-6)
    assert not np.allclose(textured.values["tumour"], plain.values["tumour"], rtol=1e-3, atol=1e-4)


def test_table_says_random_init_and_caches(tmp_path, monkeypatch):
    options = EncoderOptions(width=12, input_size=16)
    cohort = imaging_cohort(tmp_path / "cases", n=3)
    table = deep_features.deep_table(cohort, tmp_path / "cache", options)
    assert "random-init encoder" in table.notes
    assert table.values.shape == (3, 12 * len(NODE_COLUMNS))
    assert np.isfinite(table.values.to_numpy()).all()

    monkeypatch.setattr(deep_features, "cached_encoder", lambda *_: pytest.fail("encoder ran on a warm cache"))
    assert deep_features.deep_table(cohort, tmp_path / "cache", options).values.equals(table.values)
    with pytest.raises(BaseException, match="encoder ran on a warm cache"):   # another width, another cache key
        deep_features.deep_table(cohort, tmp_path / "cache", EncoderOptions(width=10, input_size=16))


def test_bad_configuration_is_named(tmp_path):
    with pytest.raises(ValueError, match="must be >= 1"):
        EncoderOptions(width=0)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        EncoderOptions(weights=str(tmp_path / "missing.pth"))


def test_provider_is_registered_and_refuses_a_cohort_without_images(tmp_path, clinical_cohort):
    assert artefacts.PROVIDERS["deep"].build is deep_features._provide
    with pytest.raises(artefacts.ArtefactError, match="need CT images"):
        deep_features.deep_table(clinical_cohort, tmp_path)
