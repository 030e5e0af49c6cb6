"""The prepared form of one patient's imaging: what features and graphs are computed from.

Produced by `benchmark.prepare` from a TCIA-format tree (real or synthetic) and cached as one
compressed ``.npz`` per patient, plus one geometry row per patient (and the morphometry row and
per-lesion rows measured before resampling, `benchmark.data.imaging.morphometry`, kept in the npz).
Consumers (radiomics, the CT encoder, the graph builder) read only this, never DICOM.

Geometry columns (all in mm / ml, patient coordinates):
  per node n in NODE_NAMES:  {n}_present (0/1), {n}_volume_ml, {n}_centroid_{x,y,z}_mm
  per unordered node pair (a, b), a before b in NODE_NAMES order:
      mindist_{a}_{b}_mm     minimum surface-to-surface distance (0 when they touch or overlap;
                             NaN when either mask is empty)
      contact_{a}_{b}        1 when the masks touch or overlap, else 0
      centroid_dist_{a}_{b}_mm
  n_tumours                  number of Tumor_i segments
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

#: The five anatomical graph nodes; "tumour" is the union of every Tumor_i segment.
NODE_NAMES = ("liver", "remnant", "hepatic", "portal", "tumour")
#: SEG segment labels per node (both spellings of the remnant occur in the real data).
SEGMENT_LABELS = {
    "liver": ("Liver",),
    "remnant": ("Liver Remnant", "Liver_Remnant"),
    "hepatic": ("Hepatic",),
    "portal": ("Portal",),
}
TUMOUR_PREFIX = "Tumor_"
NODE_PAIRS = tuple(combinations(NODE_NAMES, 2))


def geometry_columns() -> list[str]:
    columns = []
    for node in NODE_NAMES:
        columns += [f"{node}_present", f"{node}_volume_ml", *(f"{node}_centroid_{a}_mm" for a in "xyz")]
    for a, b in NODE_PAIRS:
        columns += [f"mindist_{a}_{b}_mm", f"contact_{a}_{b}", f"centroid_dist_{a}_{b}_mm"]
    return [*columns, "n_tumours"]


@dataclass
class Grid:
    """A CT and its node masks on one axis-aligned grid: the texture grid radiomics reads (the PreparedCase
    itself has the same four fields for its own grid). volume: float32 (z, y, x) HU; spacing: (z, y, x) mm;
    origin: (x, y, z) patient position of voxel (0, 0, 0); masks: NODE_NAMES -> bool (z, y, x)."""

    volume: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    masks: dict[str, np.ndarray]


@dataclass
class PreparedCase:
    """One patient after resampling and cropping to the liver bounding box (with margin).

    volume: float32 (z, y, x) in HU (not windowed; consumers window as they need).
    spacing: (z, y, x) voxel size in mm. origin: (x, y, z) patient position of voxel (0, 0, 0).
    masks: NODE_NAMES -> bool (z, y, x); an absent segment is an all-False mask, not a missing key.
    tumours: one bool (z, y, x) mask per Tumor_i, in SEG order (tumours may overlap).
    ct_spacing: (z, y, x) mm of the CT it was prepared from (z from the slice positions), so a thick-slice
    acquisition stays recognisable after resampling; None when not known.
    morphometry: the SEG's morphometry row on its native grid (`morphometry.MORPHOMETRY_COLUMNS`), which
    the resampled masks can no longer give; lesions: its per-lesion rows (`morphometry.LESION_COLUMNS`).
    texture: the same CT and masks on the finer, isotropic texture grid (None when the CT is no finer than it).
    """

    patient_id: str
    volume: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    masks: dict[str, np.ndarray]
    tumours: list[np.ndarray] = field(default_factory=list)
    ct_spacing: tuple[float, float, float] | None = None
    morphometry: dict[str, float] = field(default_factory=dict)
    lesions: list[dict[str, float]] = field(default_factory=list)
    texture: Grid | None = None

    def save(self, path: Path) -> None:
        arrays = {"volume": self.volume.astype(np.float32), "spacing": np.asarray(self.spacing, float),
                  "origin": np.asarray(self.origin, float)}
        arrays.update({f"mask_{name}": np.packbits(self.masks[name]) for name in NODE_NAMES})
        arrays.update({f"tumour_{i}": np.packbits(mask) for i, mask in enumerate(self.tumours)})
        if self.ct_spacing is not None:
            arrays["ct_spacing"] = np.asarray(self.ct_spacing, float)
        if self.texture is not None:
            arrays.update({"texture_volume": self.texture.volume.astype(np.float32),
                           "texture_spacing": np.asarray(self.texture.spacing, float),
                           "texture_origin": np.asarray(self.texture.origin, float)})
            arrays.update({f"texture_mask_{name}": np.packbits(self.texture.masks[name]) for name in NODE_NAMES})
        np.savez_compressed(path, patient_id=np.array(self.patient_id),
                            morphometry=np.array(json.dumps(self.morphometry)),
                            lesions=np.array(json.dumps(self.lesions)), **arrays)

    @classmethod
    def load(cls, path: Path) -> "PreparedCase":
        with np.load(path) as data:
            volume = data["volume"]

            def unpack(key, like):
                return np.unpackbits(data[key], count=like.size).reshape(like.shape).astype(bool)

            def stored(key, empty):
                return json.loads(str(data[key])) if key in data.files else empty

            texture = None
            if "texture_volume" in data.files:
                fine = data["texture_volume"]
                texture = Grid(fine, tuple(data["texture_spacing"]), tuple(data["texture_origin"]),
                               {name: unpack(f"texture_mask_{name}", fine) for name in NODE_NAMES})
            tumour_keys = sorted((k for k in data.files if k.startswith("tumour_")), key=lambda k: int(k[7:]))
            return cls(str(data["patient_id"]), volume, tuple(data["spacing"]), tuple(data["origin"]),
                       {name: unpack(f"mask_{name}", volume) for name in NODE_NAMES},
                       [unpack(k, volume) for k in tumour_keys],
                       tuple(data["ct_spacing"]) if "ct_spacing" in data.files else None,
                       stored("morphometry", {}), stored("lesions", []), texture)
