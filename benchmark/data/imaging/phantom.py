"""Render each synthetic patient's portal-venous CT and SEG from the latent anatomy.

The latents (benchmark.data.synthetic) are in mm in the liver frame (origin at the liver centre, LPS
axes): a liver ellipsoid, the future-liver-remnant plane x = remnant_plane_x_mm (the remnant is
the +x side), portal / hepatic vessel centreline segments with radii, and ball tumours. Here the
liver is placed in the right upper abdomen of an elliptical body, and every voxel centre is
classified:

  outside the scanner's circular field of view   -3024 HU (padding, as in the real scans)
  air / fat / soft tissue / spine                -1000 / -100 / 45 / 450 HU
  liver parenchyma                                110 HU
  portal / hepatic vessels (contrast)             190 / 170 HU
  tumours (hypodense)                             45 HU
plus a heterogeneous enhancement inside the liver: a smooth Gaussian field (correlation at the 6-8 mm scale,
Gaussian kernel sd TEXTURE_SCALE_MM) scaled to the patient's texture latents, tumour_texture_hu inside the
tumours and parenchyma_texture_hu in the parenchyma (vessels keep their contrast), plus Gaussian noise
(sd 12 HU). On the small grid the field is near the voxel scale; at size real it is a texture of several
voxels that a 4 mm resampling blurs away. The SEG holds the TCIA segments in TCIA order: Liver (including
tumours), Liver Remnant (some patients spelled Liver_Remnant, as in the real release), Hepatic,
Portal (both clipped to the liver ellipsoid), Tumor_1..N.

Sizes: "small" (default, CPU): 64 x 64 pixels of 4-6 mm, 5 mm slices around the liver.
"real": 512 x 512 pixels of 0.5-0.75 mm, each patient's slice spacing and z coverage as drawn from
the real scans' mix (1.5 / 2.5 / 5 / 7.5 mm, about 220 mm; the latents' ct_slice_mm and
ct_coverage_mm). Vessels thinner than the voxel grid are widened to half a voxel diagonal so they
stay connected; a tumour smaller than one voxel still marks the voxel nearest its centre.
CRLM-CT-1074 is scanned prone, as in the real cohort.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import ndimage

from benchmark.data.imaging import writer
from benchmark.progress import bar

SIZES = {"small": (64, 5.0), "real": (512, None)}  # name -> (pixels per side, slice spacing mm or drawn)
PRONE_PATIENTS = {"CRLM-CT-1074"}
LIVER_Z_MM = -150.0
NOISE_HU = 12.0
#: The texture field's Gaussian kernel sd (mm): a full width at half maximum of 7 mm.
TEXTURE_SCALE_MM = 3.0
HU = {"air": -1000.0, "fat": -100.0, "soft": 45.0, "bone": 450.0, "liver": 110.0, "portal": 190.0,
      "hepatic": 170.0, "tumour": 45.0}


@dataclass
class Phantom:
    """A rendered patient: HU (z, y, x), its grid, and the SEG segments (label -> bool (z, y, x))."""

    hu: np.ndarray
    geometry: writer.CTGeometry
    segments: dict[str, np.ndarray]


def _capsule_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    direction = end - start
    t = np.clip(((points - start) @ direction) / (direction @ direction), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * direction), axis=1)


def _layout(patient: pd.Series, tumours: pd.DataFrame, size: str, prone: bool):
    """The liver centre in patient space, the body's semi-axes and the CT grid."""
    axes = patient[["semi_axis_x_mm", "semi_axis_y_mm", "semi_axis_z_mm"]].to_numpy(float)
    centres, radii = tumours[["x", "y", "z"]].to_numpy(float), tumours["radius_mm"].to_numpy(float)
    lo = np.minimum(-axes, (centres - radii[:, None]).min(axis=0, initial=np.inf))
    hi = np.maximum(axes, (centres + radii[:, None]).max(axis=0, initial=-np.inf))
    centre = np.array([-0.35 * axes[0], 0.0, LIVER_Z_MM])
    extent = np.abs(centre[:2] + np.stack([lo[:2], hi[:2]])).max(axis=0)  # farthest structure from the body axis
    body = extent + [25.0, 45.0]  # room for the abdominal wall and, behind the liver, the spine
    pixels, slice_mm = SIZES[size]
    half = float(body.max() + 10)
    pixel = 2 * half / pixels
    z_lo, z_hi = centre[2] + lo[2] - 15, centre[2] + hi[2] + 15
    if slice_mm is None:   # a real scan's spacing, and its coverage where that is longer than the liver
        slice_mm = float(patient["ct_slice_mm"])
        margin = max(0.0, float(patient["ct_coverage_mm"]) - (z_hi - z_lo)) / 2
        z_lo, z_hi = z_lo - margin, z_hi + margin
    n_slices = int(np.ceil((z_hi - z_lo) / slice_mm)) + 1
    corner = half - pixel / 2
    if prone:  # patient face down: image rows and columns run the other way
        geometry = writer.CTGeometry((corner, corner, z_lo), (slice_mm, pixel, pixel), (-1.0, 0.0, 0.0),
                                     (0.0, -1.0, 0.0))
    else:
        geometry = writer.CTGeometry((-corner, -corner, z_lo), (slice_mm, pixel, pixel))
    return centre, body, geometry, (n_slices, pixels, pixels)


def render(patient_id: str, patient: pd.Series, tumours: pd.DataFrame, vessels: pd.DataFrame,
           size: str = "small", seed: int = 0, prone: bool | None = None) -> Phantom:
    """Render one patient from its latent rows (patients row, its tumours and vessel segments);
    `prone` defaults to whether the patient is in PRONE_PATIENTS."""
    rng = np.random.default_rng([seed, int(patient_id.rsplit("-", 1)[-1])])
    prone = patient_id in PRONE_PATIENTS if prone is None else prone
    centre, body, geometry, shape = _layout(patient, tumours, size, prone)
    axes = patient[["semi_axis_x_mm", "semi_axis_y_mm", "semi_axis_z_mm"]].to_numpy(float)
    plane_x = float(patient["remnant_plane_x_mm"])
    widen = 0.5 * float(np.linalg.norm(geometry.spacing))
    vessel_rows = {kind: [(r[["x0", "y0", "z0"]].to_numpy(float), r[["x1", "y1", "z1"]].to_numpy(float),
                           max(float(r["radius_mm"]), widen)) for _, r in vessels[vessels["vessel"] == kind].iterrows()]
                   for kind in ("portal", "hepatic")}
    balls = [(t[["x", "y", "z"]].to_numpy(float), float(t["radius_mm"]))
             for _, t in tumours.sort_values("tumour_index").iterrows()]

    n_slices, rows, columns = shape
    jj, ii = np.mgrid[:rows, :columns]
    in_plane = (np.asarray(geometry.origin) + np.multiply.outer(ii.ravel() * geometry.spacing[2], geometry.row)
                + np.multiply.outer(jj.ravel() * geometry.spacing[1], geometry.column))
    fov = np.linalg.norm(in_plane[:, :2], axis=1) <= geometry.spacing[1] * rows / 2
    body_r = np.sum((in_plane[:, :2] / body) ** 2, axis=1)
    inner_r = np.sum((in_plane[:, :2] / (body - 12)) ** 2, axis=1)
    spine = np.linalg.norm(in_plane[:, :2] - [0.0, body[1] - 35], axis=1) <= 14
    background = np.where(fov, HU["air"], writer.PADDING_HU)
    background = np.where(body_r <= 1, HU["fat"], background)
    background = np.where(inner_r <= 1, HU["soft"], background)
    background = np.where(spine, HU["bone"], background)

    hu = np.empty(shape, dtype=np.float32)
    ellipsoid = np.zeros(shape, dtype=bool)
    remnant_side = np.zeros(shape, dtype=bool)
    vessel_masks = {kind: np.zeros(shape, dtype=bool) for kind in vessel_rows}
    tumour_masks = [np.zeros(shape, dtype=bool) for _ in balls]
    for k in range(n_slices):
        points = in_plane + k * geometry.spacing[0] * geometry.normal - centre  # liver frame, (rows*cols, 3)
        liver_k = np.sum((points / axes) ** 2, axis=1) <= 1
        ellipsoid[k] = liver_k.reshape(rows, columns)
        remnant_side[k] = (points[:, 0] > plane_x).reshape(rows, columns)
        values = np.where(liver_k, HU["liver"], background)
        for kind, segments in vessel_rows.items():
            inside = np.logical_or.reduce([_capsule_distance(points, a, b) <= r for a, b, r in segments]) & liver_k
            vessel_masks[kind][k] = inside.reshape(rows, columns)
            values = np.where(inside, HU[kind], values)
        for mask, (position, radius) in zip(tumour_masks, balls):
            inside = np.linalg.norm(points - position, axis=1) <= radius
            mask[k] = inside.reshape(rows, columns)
        hu[k] = values.reshape(rows, columns)
    for mask, (position, _) in zip(tumour_masks, balls):
        if not mask.any():  # smaller than a voxel: keep the voxel nearest its centre
            offset = position + centre - np.asarray(geometry.origin)
            index = np.array([offset @ geometry.normal, offset @ np.asarray(geometry.column),
                              offset @ np.asarray(geometry.row)]) / np.asarray(geometry.spacing)
            mask[tuple(np.clip(np.round(index).astype(int), 0, np.array(shape) - 1))] = True
    tumour_union = np.logical_or.reduce(tumour_masks) if tumour_masks else np.zeros(shape, dtype=bool)
    hu[tumour_union] = HU["tumour"]
    parenchyma = ellipsoid & ~tumour_union & ~np.logical_or.reduce(list(vessel_masks.values()))
    hu += texture_field(patient_id, seed, geometry.spacing, shape) * np.where(
        tumour_union, float(patient["tumour_texture_hu"]),
        np.where(parenchyma, float(patient["parenchyma_texture_hu"]), 0.0)).astype(np.float32)
    hu += rng.normal(0.0, NOISE_HU, shape).astype(np.float32)
    hu[hu < writer.PADDING_HU + 500] = writer.PADDING_HU  # keep the padding exact under noise

    liver = ellipsoid | tumour_union
    remnant_label = "Liver_Remnant" if rng.random() < 0.3 else "Liver Remnant"
    segments = {"Liver": liver, remnant_label: liver & remnant_side, "Hepatic": vessel_masks["hepatic"],
                "Portal": vessel_masks["portal"]}
    segments.update({f"Tumor_{i + 1}": mask for i, mask in enumerate(tumour_masks)})
    return Phantom(hu, geometry, segments)


def texture_field(patient_id: str, seed: int, spacing, shape) -> np.ndarray:
    """A stationary Gaussian field of unit sd on the CT grid (z, y, x), smooth at TEXTURE_SCALE_MM in every
    direction whatever the voxel size: white noise filtered by a Gaussian kernel, divided by the sd the
    filter leaves (the sum of its squared weights), so its amplitude does not depend on the grid. From a
    stream of its own, so the CT's noise is as it was without it."""
    rng = np.random.default_rng([seed, int(patient_id.rsplit("-", 1)[-1]), 1])
    sigma = TEXTURE_SCALE_MM / np.asarray(spacing, dtype=float)
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    impulse = np.zeros([2 * int(np.ceil(4 * s)) + 1 for s in sigma], dtype=np.float64)
    impulse[tuple(n // 2 for n in impulse.shape)] = 1.0
    kernel = ndimage.gaussian_filter(impulse, sigma, mode="constant")
    return field / np.float32(np.sqrt(np.sum(kernel**2)))


def write_patient(root: Path, patient_id: str, phantom: Phantom, seed: int) -> None:
    series = writer.write_ct(root, phantom.hu, phantom.geometry, patient_id, seed)
    writer.write_seg(root, series.datasets, phantom.segments, seed)


def _render_and_write(root: Path, patient_id: str, patient, tumours, vessels, size: str, seed: int) -> None:
    write_patient(root, patient_id, render(patient_id, patient, tumours, vessels, size, seed), seed)


def write_synthetic_tree(drawn, root, size: str = "small", seed: int = 0, n_jobs: int = 1) -> None:
    """Render the synthetic CTs and SEGs under `root` in the NBIA layout (one CT + one SEG each)."""
    if size not in SIZES:
        raise ValueError(f"image size {size!r}: choose from {', '.join(SIZES)}")
    tumours = dict(tuple(drawn.tumours.groupby("patient_id")))
    vessels = dict(tuple(drawn.vessels.groupby("patient_id")))
    jobs = [delayed(_render_and_write)(Path(root), pid, row, tumours[pid], vessels[pid], size, seed)
            for pid, row in drawn.patients.iterrows()]
    written = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
    for _ in bar(written, total=len(jobs), desc="render synthetic CT + SEG", unit="patient"):
        pass
