"""CT encoder features per graph node: a frozen 3D ResNet-18 with multi-scale pooling.

The backbone has the MedicalNet layout (conv1, bn1, layer1..4 of BasicBlocks; layer3 and layer4
dilated instead of strided, so a 64^3 input still leaves an 8^3 map), so a MedicalNet checkpoint
(`resnet_18.pth`, ``{"state_dict": {"module.conv1.weight": ...}}``) loads as is. Its 512-channel
map is average-pooled to 1^3, 2^3 and 4^3 cells, concatenated (512 x 73) and projected to
`width` features by a seeded random projection (MedicalNet has no such head; a fixed random
projection keeps distances, Johnson-Lindenstrauss, without training on the cohort).

Inputs per node: the mask's bounding cube (in mm, so shapes keep their aspect), HU clipped to a
liver window, standardised over the mask, zero outside it, resized to `input_size`^3. The
ct_global node is the same cube around the whole liver without masking: the CT context. The cubes
are cut from the case's texture grid, as radiomics is: isotropic 2 mm (`prepare.TEXTURE_SPACING_MM`) when
the CT was finer than that, else the CT's own voxels. On the 4 mm grid a 10 mm lesion is a dozen voxels, and
the 32^3 input would only interpolate them (`python -m perf.texture_grid` prints both grids' cost).

Configuration: an EncoderOptions (benchmark.features.encoder_options), from `run`'s --encoder-*
flags: the checkpoint (else a seeded random encoder, and the table's notes say "random-init
encoder"), the output width per node (256 on CPU; the paper profile: 4096) and the input cube side
(32 on CPU; 64 or more on a GPU). Nothing is ever downloaded.

The features are extracted in one process whose torch threads use every core: a batched 3D
convolution already uses them all, and worker processes would only split them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.imaging.prepared import Grid, PreparedCase
from benchmark.features import artefacts
from benchmark.features.encoder_options import INPUT_SIZE, POOL_SCALES, SEED, EncoderOptions
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.features.node_features import CaseFeatures, build_table, mask_problem, node_masks

HU_WINDOW = (-160.0, 240.0)  # liver window (W 400, L 40)
BATCH_PATIENTS = 8


def conv3x3x3(inplanes: int, planes: int, stride: int = 1, dilation: int = 1) -> nn.Conv3d:
    return nn.Conv3d(inplanes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3x3 convolutions with a residual; MedicalNet's block (same parameter names)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1, shortcut: str = "A"):
        super().__init__()
        self.conv1 = conv3x3x3(inplanes, planes, stride, dilation)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm3d(planes)
        self.stride, self.planes = stride, planes
        resize = stride != 1 or inplanes != planes
        # Shortcut "B": 1x1x1 convolution + BN; "A": parameter-free (subsample, zero-pad channels).
        self.downsample = (nn.Sequential(nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False),
                                         nn.BatchNorm3d(planes)) if resize and shortcut == "B" else None)
        self.pad_shortcut = resize and shortcut == "A"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        elif self.pad_shortcut:
            residual = x[:, :, ::self.stride, ::self.stride, ::self.stride]
            residual = F.pad(residual, (0, 0, 0, 0, 0, 0, 0, self.planes - x.shape[1]))
        else:
            residual = x
        return self.relu(out + residual)


class ResNet18Backbone(nn.Module):
    """MedicalNet's 3D ResNet-18 without its segmentation head: (n, 1, D, H, W) -> (n, 512, D/8, H/8, W/8)."""

    def __init__(self, shortcut: str = "A"):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        inplanes, layers = 64, []
        for planes, stride, dilation in ((64, 1, 1), (128, 2, 1), (256, 1, 2), (512, 1, 4)):
            layers.append(nn.Sequential(BasicBlock(inplanes, planes, stride, dilation, shortcut),
                                        BasicBlock(planes, planes, 1, dilation, shortcut)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class MultiScaleEncoder(nn.Module):
    """Backbone -> average pools at POOL_SCALES, concatenated -> linear projection: (n, 1, S, S, S) -> (n, width)."""

    def __init__(self, width: int, shortcut: str = "A", scales: Sequence[int] = POOL_SCALES):
        super().__init__()
        self.backbone = ResNet18Backbone(shortcut)
        self.scales = tuple(scales)
        self.projection = nn.Linear(512 * sum(s**3 for s in self.scales), width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone(x)
        pooled = [F.adaptive_avg_pool3d(fmap, scale).flatten(1) for scale in self.scales]
        return self.projection(torch.cat(pooled, dim=1))


def seeded_init(model: MultiScaleEncoder, seed: int = SEED) -> None:
    """MedicalNet's initialisation (Kaiming, fan-out) and a JL-scaled projection, from a fixed seed."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    nn.init.normal_(model.projection.weight, std=model.projection.in_features ** -0.5, generator=generator)


def medicalnet_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The backbone's tensors from a MedicalNet checkpoint ("module." prefix and conv_seg head removed)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read encoder checkpoint {path}: {error}") from error
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a MedicalNet checkpoint (expected a state_dict)")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if not key.startswith("conv_seg.")}


def build_encoder(width: int, weights: Path | None = None, seed: int = SEED) -> MultiScaleEncoder:
    """A frozen encoder in eval mode: MedicalNet weights when given, else seeded random ones."""
    state = medicalnet_state_dict(weights) if weights else None
    shortcut = "B" if state and any(".downsample." in key for key in state) else "A"
    model = MultiScaleEncoder(width, shortcut)
    seeded_init(model, seed)
    if state is not None:
        missing, unexpected = model.backbone.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{weights}: not a MedicalNet ResNet-18 checkpoint (missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]})")
    model.requires_grad_(False)
    # channels-last is 2.3x faster for 3D convolutions on CPU (oneDNN); the values are the same.
    return model.to(device(), memory_format=torch.channels_last_3d).eval()


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def node_input(case: PreparedCase | Grid, mask: np.ndarray, masked: bool, size: int = INPUT_SIZE) -> np.ndarray:
    """The (size, size, size) encoder input around a mask of `case`'s grid: its bounding cube in mm, windowed,
    standardised."""
    spacing = np.asarray(case.spacing, dtype=float)
    where = np.argwhere(mask)
    low, high = where.min(0), where.max(0) + 1
    centre = (low + high) / 2
    half = np.max((high - low) * spacing) / 2 / spacing          # half side of the cube, voxels per axis
    start = np.floor(centre - half).astype(int)
    stop = np.maximum(np.ceil(centre + half).astype(int), start + 1)
    pad = [(max(0, -a), max(0, b - n)) for a, b, n in zip(start, stop, mask.shape)]
    window = tuple(slice(max(0, a), min(b, n)) for a, b, n in zip(start, stop, mask.shape))
    hu = np.pad(np.clip(case.volume[window], *HU_WINDOW), pad, constant_values=HU_WINDOW[0])
    inside = np.pad(mask[window], pad) if masked else np.ones(hu.shape, bool)
    values = hu[inside]
    crop = np.where(inside, (hu - values.mean()) / (values.std() + 1e-6), 0.0).astype(np.float32)
    tensor = torch.from_numpy(crop)[None, None]
    return F.interpolate(tensor, size=(size,) * 3, mode="trilinear", align_corners=False)[0, 0].numpy()


@dataclass(frozen=True)
class Encoder:
    """The feature extractor of `build_table`: picklable, builds (once per process) the encoder of its options."""

    options: EncoderOptions = EncoderOptions()

    def __call__(self, cases: Sequence[PreparedCase]) -> list[CaseFeatures]:
        """Features of a batch of cases, one forward pass over all their valid nodes."""
        width, size = self.options.width, self.options.input_size
        encoder = cached_encoder(width, self.options.weights, self.options.seed)
        inputs, slots, results = [], [], []
        for case in cases:
            grid = case.texture or case
            masks = node_masks(grid)
            reasons = {}
            for node in NODE_COLUMNS:
                reason = mask_problem(masks[node])
                if reason:
                    reasons[node] = reason
                else:
                    inputs.append(node_input(grid, masks[node], masked=node != "ct_global", size=size))
                    slots.append((len(results), node))
            names = [f"f{i:04d}" for i in range(width)]
            results.append(CaseFeatures(names, dict.fromkeys(NODE_COLUMNS), reasons,
                                        {n: bool(masks[n].any()) for n in NODE_COLUMNS}))
        if inputs:
            batch = torch.from_numpy(np.stack(inputs))[:, None].to(device(), memory_format=torch.channels_last_3d)
            with torch.no_grad():
                features = encoder(batch).cpu().numpy()
            for (index, node), row in zip(slots, features):
                results[index].values[node] = row.astype(float).tolist()
        return results


@lru_cache(maxsize=2)
def cached_encoder(width: int, weights: str | None, seed: int) -> MultiScaleEncoder:
    return build_encoder(width, Path(weights) if weights else None, seed)


def deep_table(cohort, cache_dir: Path, options: EncoderOptions | None = None) -> FeatureTable:
    """Encoder FeatureTable of every patient of an imaging cohort, one process (see module doc)."""
    options = options or EncoderOptions()
    return build_table(cohort, Path(cache_dir) / "deep", options.salt(), Encoder(options), "deep",
                       batch_size=BATCH_PATIENTS, notes=options.notes())


@artefacts.provider("deep")
def _provide(cohort, cache_dir: Path, inputs: dict, context: artefacts.BuildContext) -> FeatureTable:
    return deep_table(cohort, cache_dir, context.encoder)
