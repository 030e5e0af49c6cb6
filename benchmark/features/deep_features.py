"""CT encoder features per graph node: a frozen 3D ResNet-18 with multi-scale pooling.

The backbone has the MedicalNet layout (conv1, bn1, layer1..4 of BasicBlocks; layer3 and layer4
dilated instead of strided, so a 64^3 input still leaves an 8^3 map), so a MedicalNet checkpoint
(`resnet_18.pth`, ``{"state_dict": {"module.conv1.weight": ...}}``) loads as is. Its 512-channel
map is average-pooled to 1^3, 2^3 and 4^3 cells, concatenated (512 x 73) and projected to
`width` features by a seeded random projection (MedicalNet has no such head; a fixed random
projection keeps distances, Johnson-Lindenstrauss, without training on the cohort).

Inputs per node: the mask's bounding cube (in mm, so shapes keep their aspect), HU clipped to a
liver window, standardised over the mask, zero outside it, resized to `input_size`^3. The
ct_global node is the same cube around the whole liver without masking: the CT context.

Configuration from the environment (the run CLI sets these from its flags):
  STG_BENCH_ENCODER_WEIGHTS  path of a MedicalNet-format checkpoint; unset: a seeded random
                             encoder, and the table's notes say "random-init encoder".
  STG_BENCH_ENCODER_WIDTH    output width per node (default 256 for CPU; the paper profile: 4096).
  STG_BENCH_ENCODER_INPUT    input cube side in voxels (default 32 for CPU; 64 or more on a GPU).
Nothing is ever downloaded.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.imaging.prepared import PreparedCase
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.features.node_features import CaseFeatures, build_table, file_digest, mask_problem, node_masks

WEIGHTS_ENV = "STG_BENCH_ENCODER_WEIGHTS"
WIDTH_ENV = "STG_BENCH_ENCODER_WIDTH"
INPUT_ENV = "STG_BENCH_ENCODER_INPUT"
DEFAULT_WIDTH = 256
INPUT_SIZE = 32            # voxels per side on CPU (about 0.07 s per node on 2 cores); GPUs: 64 or more
POOL_SCALES = (1, 2, 4)
HU_WINDOW = (-160.0, 240.0)  # liver window (W 400, L 40)
SEED = 0
RANDOM_INIT_NOTE = "random-init encoder"
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


def node_input(case: PreparedCase, mask: np.ndarray, masked: bool, size: int = INPUT_SIZE) -> np.ndarray:
    """The (size, size, size) encoder input around a mask: its bounding cube in mm, windowed, standardised."""
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
class EncoderConfig:
    """Everything the features depend on; picklable, so parallel workers rebuild the same encoder."""

    width: int = DEFAULT_WIDTH
    weights: str | None = None
    input_size: int = INPUT_SIZE
    seed: int = SEED

    @classmethod
    def from_env(cls) -> "EncoderConfig":
        weights = os.environ.get(WEIGHTS_ENV) or None
        if weights and not Path(weights).is_file():
            raise FileNotFoundError(f"{WEIGHTS_ENV}={weights}: no such checkpoint file")
        return cls(_positive_int(WIDTH_ENV, DEFAULT_WIDTH), weights, _positive_int(INPUT_ENV, INPUT_SIZE))

    def salt(self) -> str:
        weights = file_digest(Path(self.weights)) if self.weights else "random"
        return f"deep-{torch.__version__}-w{self.width}-s{self.input_size}-seed{self.seed}-{weights}"

    def notes(self) -> list[str]:
        source = f"MedicalNet weights {Path(self.weights).name}" if self.weights else RANDOM_INIT_NOTE
        return [source, f"3D ResNet-18, pools {POOL_SCALES}, width {self.width}, input {self.input_size}^3"]

    def __call__(self, cases: Sequence[PreparedCase]) -> list[CaseFeatures]:
        """Features of a batch of cases, one forward pass over all their valid nodes."""
        encoder = cached_encoder(self.width, self.weights, self.seed)
        inputs, slots, results = [], [], []
        for case in cases:
            masks = node_masks(case)
            reasons = {}
            for node in NODE_COLUMNS:
                reason = mask_problem(masks[node])
                if reason:
                    reasons[node] = reason
                else:
                    inputs.append(node_input(case, masks[node], masked=node != "ct_global", size=self.input_size))
                    slots.append((len(results), node))
            names = [f"f{i:04d}" for i in range(self.width)]
            results.append(CaseFeatures(names, dict.fromkeys(NODE_COLUMNS), reasons,
                                        {n: bool(masks[n].any()) for n in NODE_COLUMNS}))
        if inputs:
            batch = torch.from_numpy(np.stack(inputs))[:, None].to(device(), memory_format=torch.channels_last_3d)
            with torch.no_grad():
                features = encoder(batch).cpu().numpy()
            for (index, node), row in zip(slots, features):
                results[index].values[node] = row.astype(float).tolist()
        return results


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text!r}: expected a positive integer")
    return int(text)


@lru_cache(maxsize=2)
def cached_encoder(width: int, weights: str | None, seed: int) -> MultiScaleEncoder:
    return build_encoder(width, Path(weights) if weights else None, seed)


def _share_cores() -> None:
    """Parallel workers split the cores instead of each starting one torch thread per core."""
    torch.set_num_threads(1)


def deep_table(cohort, cache_dir: Path, n_jobs: int = 1) -> FeatureTable:
    """The artefact provider: encoder FeatureTable of every patient of an imaging cohort."""
    config = EncoderConfig.from_env()
    return build_table(cohort, Path(cache_dir) / "deep", config.salt(), config, "deep", n_jobs=n_jobs,
                       batch_size=BATCH_PATIENTS, notes=config.notes(),
                       worker_setup=_share_cores if n_jobs > 1 else None)
