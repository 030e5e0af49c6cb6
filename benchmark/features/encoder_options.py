"""The CT encoder's configuration: set from `run`'s flags, carried with every cell.

Kept apart from the encoder itself (benchmark.features.deep_features, which needs torch) so that the
run configuration, the command line and remote workers can hold it without loading a network.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from benchmark.files import file_digest

DEFAULT_WIDTH = 256
INPUT_SIZE = 32            # voxels per side on CPU (0.2-0.7 s per patient, 64: 1.3-2.2 s; perf.texture_grid); GPUs: 64+
POOL_SCALES = (1, 2, 4)
SEED = 0
#: Bumped whenever what the encoder is shown changes, so cached features are recomputed (2: the cubes are cut
#: from the texture grid when the case has one).
CODE_VERSION = 2
RANDOM_INIT_NOTE = "random-init encoder"


@dataclass(frozen=True)
class EncoderOptions:
    """Everything the encoder features depend on; picklable, so every worker builds the same encoder.

    weights: a MedicalNet-format checkpoint (``resnet_18.pth``); None: a seeded random encoder, and
    every table that uses it says "random-init encoder". Nothing is ever downloaded.
    """

    width: int = DEFAULT_WIDTH
    weights: str | None = None
    input_size: int = INPUT_SIZE
    seed: int = SEED

    def __post_init__(self):
        if self.width < 1 or self.input_size < 1:
            raise ValueError(f"encoder width and input size must be >= 1 (got {self.width}, {self.input_size})")
        if self.weights and not Path(self.weights).is_file():
            raise FileNotFoundError(f"encoder weights {self.weights}: no such checkpoint file")

    def salt(self) -> str:
        """The cache key of features made with these options (the checkpoint by content)."""
        weights = file_digest(Path(self.weights)) if self.weights else "random"
        return f"deep-{version('torch')}-code{CODE_VERSION}-w{self.width}-s{self.input_size}-seed{self.seed}-{weights}"

    def notes(self) -> list[str]:
        source = f"MedicalNet weights {Path(self.weights).name}" if self.weights else RANDOM_INIT_NOTE
        return [source, f"3D ResNet-18, pools {POOL_SCALES}, width {self.width}, input {self.input_size}^3"]
