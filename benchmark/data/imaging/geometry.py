"""The geometry row of a prepared case (columns: `benchmark.data.imaging.prepared.geometry_columns`).

Computed on the prepared grid (axis-aligned, patient LPS coordinates), so it describes exactly
the masks the features and graphs see. Distances are between voxel centres: two masks "touch"
when a voxel of one is among the 26 neighbours of (or is) a voxel of the other, and then their
minimum distance is 0; otherwise it is the smallest centre-to-centre distance between them.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from benchmark.data.imaging.prepared import NODE_NAMES, NODE_PAIRS, PreparedCase

_NEIGHBOURS = np.ones((3, 3, 3), dtype=bool)


def voxel_centres_mm(mask: np.ndarray, spacing, origin) -> np.ndarray:
    """(n, 3) patient (x, y, z) positions of the mask's voxels; `spacing` is (z, y, x)."""
    zyx = np.argwhere(mask).astype(float) * np.asarray(spacing, float)
    return zyx[:, ::-1] + np.asarray(origin, float)


def geometry_row(case: PreparedCase) -> dict[str, float]:
    """Volumes, centroids and pairwise distances / contacts of the five node masks."""
    voxel_ml = float(np.prod(case.spacing)) / 1000.0
    row: dict[str, float] = {}
    centroids = {}
    for node in NODE_NAMES:
        mask = case.masks[node]
        count = int(mask.sum())
        centroids[node] = voxel_centres_mm(mask, case.spacing, case.origin).mean(axis=0) if count else None
        row[f"{node}_present"] = float(count > 0)
        row[f"{node}_volume_ml"] = count * voxel_ml
        for axis, value in zip("xyz", centroids[node] if count else (np.nan,) * 3):
            row[f"{node}_centroid_{axis}_mm"] = float(value)
    distance_to = {}
    for a, b in NODE_PAIRS:
        mask_a, mask_b = case.masks[a], case.masks[b]
        if not (mask_a.any() and mask_b.any()):
            contact, distance, between = 0.0, np.nan, np.nan
        else:
            between = float(np.linalg.norm(centroids[a] - centroids[b]))
            contact = float((ndimage.binary_dilation(mask_a, _NEIGHBOURS) & mask_b).any())
            if contact:
                distance = 0.0
            else:
                if a not in distance_to:
                    distance_to[a] = ndimage.distance_transform_edt(~mask_a, sampling=case.spacing)
                distance = float(distance_to[a][mask_b].min())
        row[f"mindist_{a}_{b}_mm"] = distance
        row[f"contact_{a}_{b}"] = contact
        row[f"centroid_dist_{a}_{b}_mm"] = between
    row["n_tumours"] = float(len(case.tumours))
    return row
