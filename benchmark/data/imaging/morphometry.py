"""The morphometry row: what the segmentation shows, measured on its native grid before any resampling.

The prepared grid (4 mm by default) is coarse for lesions: one smaller than a voxel can vanish and
volumes and distances come out in steps of the voxel. Here every quantity is counted on the SEG as
it lies on its CT slices (`tcia_reader.read_seg`), with the CT's (z, y, x) voxel size (z from the
slice positions), so anisotropic voxels weigh correctly in volumes and in distances (distance
transforms with ``sampling=``). Direction cosines are orthonormal, so index-space distances scaled
by the spacing are patient-space distances.

Columns (MORPHOMETRY_COLUMNS; ml and mm), NaN where the SEG cannot show the quantity:
  liver_volume_ml           the Liver segment (NaN without one)
  remnant_volume_ml         the Liver Remnant segment (NaN without one)
  remnant_fraction          remnant / liver volume (NaN without either, or with an empty liver)
  tumour_volume_ml          the union of the Tumor_i segments (0 without lesions)
  n_tumours                 Tumor_i segments with at least one voxel (a lesion)
  lesion_volume_{max,mean,min}_ml   summaries of the per-lesion volumes (NaN without lesions)
  lesion_{portal,hepatic}_min_mm    the smallest lesion-to-vessel distance: 0 when a lesion overlaps or
                            touches the vessel (26-neighbours), else the smallest distance between voxel
                            centres of the two (NaN without lesions or without voxels of that vessel)
  n_tumours_near_vessel     lesions within NEAR_VESSEL_MM of the portal or the hepatic vessels (NaN without
                            voxels of either vessel)
  n_tumours_in_remnant      lesions with more than half of their voxels in the remnant (NaN without a
                            remnant segment); whether a lesion lies beyond the resection plane in some other
                            way is not in the SEG and is not guessed

The per-lesion rows (LESION_COLUMNS), one per Tumor_i segment with at least one voxel, in SEG order; the
summaries above are read off them:
  segment                   the lesion's position among the SEG's Tumor_i segments (0-based, as in
                            PreparedCase.tumours)
  volume_ml
  centroid_{z,y,x}_mm       the mean voxel position along the CT grid's axes from its first voxel (index times
                            spacing): differences between lesions are patient-space distances, the values are
                            not patient coordinates
  {portal,hepatic}_mm       distance to the vessel as above (0 when touching; NaN without voxels of that vessel)
  in_remnant                1 with more than half of its voxels in the remnant, else 0 (NaN without a remnant
                            segment)
  lobe_side                 +1 or -1: which side of the sagittal plane through the Liver segment's centroid the
                            lesion's centroid lies on, along the grid's x axis (+1 towards the patient's left in
                            an axial CT of standard orientation); NaN without a liver segment. A stand-in for the
                            lobe: a SEG without Couinaud labels cannot show Cantlie's line itself
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import ndimage

from benchmark.data.imaging.tcia_reader import SegMasks

#: A lesion this close to a vessel (mm) counts as near it.
NEAR_VESSEL_MM = 5.0
VESSELS = ("portal", "hepatic")
MORPHOMETRY_COLUMNS = [
    "liver_volume_ml", "remnant_volume_ml", "remnant_fraction", "tumour_volume_ml", "n_tumours",
    "lesion_volume_max_ml", "lesion_volume_mean_ml", "lesion_volume_min_ml",
    *(f"lesion_{vessel}_min_mm" for vessel in VESSELS), "n_tumours_near_vessel", "n_tumours_in_remnant",
]
LESION_COLUMNS = ["segment", "volume_ml", "centroid_z_mm", "centroid_y_mm", "centroid_x_mm",
                  *(f"{vessel}_mm" for vessel in VESSELS), "in_remnant", "lobe_side"]
_NEIGHBOURS = np.ones((3, 3, 3), dtype=bool)
Box = tuple[slice, slice, slice]


class Lesion(NamedTuple):
    """One Tumor_i segment cut to its bounding box: a real CT is some 10^7 voxels, a lesion far fewer."""

    box: Box
    mask: np.ndarray


def bounding_box(mask: np.ndarray) -> Box | None:
    """The smallest (z, y, x) box holding the mask's voxels, None when it has none (one pass over the volume)."""
    planes = np.flatnonzero(mask.any(axis=(1, 2)))
    if not planes.size:
        return None
    slab = mask[planes[0]:planes[-1] + 1]
    rows, columns = np.flatnonzero(slab.any(axis=(0, 2))), np.flatnonzero(slab.any(axis=(0, 1)))
    return tuple(slice(int(axis[0]), int(axis[-1]) + 1) for axis in (planes, rows, columns))


def _enclosing(boxes) -> Box:
    return tuple(slice(min(b[k].start for b in boxes), max(b[k].stop for b in boxes)) for k in range(3))


def _within(box: Box, frame: Box) -> Box:
    """`box` in the coordinates of the array cut out by `frame`, which holds it."""
    return tuple(slice(b.start - f.start, b.stop - f.start) for b, f in zip(box, frame))


def lesion_distances(lesions: list[Lesion], vessel: np.ndarray, vessel_box: Box, spacing) -> np.ndarray:
    """Each lesion's distance (mm) to the vessel mask, 0 when touching. The distance transform runs on
    the box holding the vessel and the lesions only: every vessel voxel lies inside it, so it is exact."""
    frame = _enclosing([vessel_box, *(lesion.box for lesion in lesions)])
    inside = vessel[frame]
    distance = ndimage.distance_transform_edt(~inside, sampling=spacing)
    touching = ndimage.binary_dilation(inside, _NEIGHBOURS)
    out = []
    for box, mask in lesions:
        at = _within(box, frame)
        out.append(0.0 if touching[at][mask].any() else float(distance[at][mask].min()))
    return np.array(out)


class Morphometry(NamedTuple):
    """One patient's morphometry: the summary row and the per-lesion rows it summarises."""

    row: dict[str, float]             # MORPHOMETRY_COLUMNS
    lesions: list[dict[str, float]]   # one LESION_COLUMNS dict per lesion, in SEG order


def lesion_rows(seg: SegMasks, lesions: list[Lesion], segments: list[int], spacing) -> pd.DataFrame:
    """The LESION_COLUMNS of these lesions (found in `seg.tumours` at positions `segments`)."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    table = pd.DataFrame({"segment": segments, "volume_ml": [lesion.mask.sum() * voxel_ml for lesion in lesions]},
                         columns=LESION_COLUMNS, dtype=float)
    centroids = [(np.argwhere(mask).mean(axis=0) + [axis.start for axis in box]) * spacing for box, mask in lesions]
    table[["centroid_z_mm", "centroid_y_mm", "centroid_x_mm"]] = np.reshape(centroids, (-1, 3))
    for vessel in VESSELS:
        mask = seg.nodes[vessel]
        box = bounding_box(mask) if mask is not None else None
        if box is not None and lesions:
            table[f"{vessel}_mm"] = lesion_distances(lesions, mask, box, spacing)
    remnant = seg.nodes["remnant"]
    if remnant is not None:
        table["in_remnant"] = [float(remnant[box][mask].mean() > 0.5) for box, mask in lesions]
    liver = seg.nodes["liver"]
    if liver is not None and lesions:
        profile = liver.sum(axis=(0, 1), dtype=np.int64)          # liver voxels per x index
        if profile.any():
            midplane = float(profile @ np.arange(len(profile)) / profile.sum()) * spacing[2]
            table["lobe_side"] = np.where(table["centroid_x_mm"] >= midplane, 1.0, -1.0)
    return table


def measure(seg: SegMasks, spacing) -> Morphometry:
    """The morphometry of one patient's SEG on its native grid of (z, y, x) `spacing` mm."""
    voxel_ml = float(np.prod(spacing)) / 1000.0

    def volume(mask) -> float:
        return np.nan if mask is None else float(mask.sum()) * voxel_ml

    found = {k: Lesion(box, mask[box]) for k, mask in enumerate(seg.tumours)
             if (box := bounding_box(mask)) is not None}   # segment -> lesion
    lesions = list(found.values())
    table = lesion_rows(seg, lesions, list(found), spacing)
    liver, remnant = volume(seg.nodes["liver"]), volume(seg.nodes["remnant"])
    sizes = table["volume_ml"]
    row = {"liver_volume_ml": liver, "remnant_volume_ml": remnant,
           "remnant_fraction": remnant / liver if liver > 0 else np.nan, "tumour_volume_ml": 0.0,
           "n_tumours": len(lesions), "lesion_volume_max_ml": sizes.max(), "lesion_volume_mean_ml": sizes.mean(),
           "lesion_volume_min_ml": sizes.min()}
    if lesions:   # lesions may overlap: their union, within the box holding them all
        frame = _enclosing([lesion.box for lesion in lesions])
        union = np.zeros([s.stop - s.start for s in frame], dtype=bool)
        for box, mask in lesions:
            union[_within(box, frame)] |= mask
        row["tumour_volume_ml"] = volume(union)
    imaged = [vessel for vessel in VESSELS if seg.nodes[vessel] is not None and seg.nodes[vessel].any()]
    for vessel in VESSELS:
        row[f"lesion_{vessel}_min_mm"] = table[f"{vessel}_mm"].min()
    nearest = table[[f"{vessel}_mm" for vessel in imaged]].min(axis=1)
    row["n_tumours_near_vessel"] = (nearest <= NEAR_VESSEL_MM).sum() if imaged else np.nan
    row["n_tumours_in_remnant"] = np.nan if seg.nodes["remnant"] is None else table["in_remnant"].sum()
    return Morphometry({column: float(row[column]) for column in MORPHOMETRY_COLUMNS},
                       table.to_dict("records"))
