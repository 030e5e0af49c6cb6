"""In-memory prepared cases and imaging cohorts for the feature tests (no DICOM, no rendering)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.cohort import Cohort
from benchmark.data.imaging.prepared import Grid, PreparedCase

SHAPE = (22, 26, 32)
SPACING = (4.0, 4.0, 4.0)   # the default prepared grid, which radiomics.yaml keeps


def sphere(radius_mm: float, centre_mm, shape=SHAPE, spacing=SPACING) -> np.ndarray:
    grid = np.indices(shape).astype(float) * np.asarray(spacing)[:, None, None, None]
    return np.sum((grid - np.asarray(centre_mm)[:, None, None, None]) ** 2, axis=0) <= radius_mm**2


def fake_case(patient_id: str = "P1", seed: int = 0, tumour_radius: float = 14.0, empty: tuple = ()) -> PreparedCase:
    """A liver ellipsoid with a remnant half, two straight vessels and one spherical tumour; `empty` nodes blank."""
    rng = np.random.default_rng(seed)
    z, y, x = (np.indices(SHAPE).astype(float) + 0.5) * np.asarray(SPACING)[:, None, None, None]
    centre = np.asarray(SHAPE) * np.asarray(SPACING) / 2
    liver = ((z - centre[0]) / 40) ** 2 + ((y - centre[1]) / 48) ** 2 + ((x - centre[2]) / 60) ** 2 <= 1
    masks = {
        "liver": liver,
        "remnant": liver & (x > centre[2] + 12),
        "portal": liver & ((y - centre[1]) ** 2 + (z - centre[0]) ** 2 <= 36),
        "hepatic": liver & ((y - centre[1] - 20) ** 2 + (x - centre[2]) ** 2 <= 36),
        "tumour": sphere(tumour_radius, (centre[0], centre[1], centre[2] - 28)),
    }
    for node in empty:
        masks[node] = np.zeros(SHAPE, bool)
    volume = rng.normal(-100, 15, SHAPE).astype(np.float32)
    volume[masks["liver"]] += 160
    volume[masks["tumour"]] -= 90
    volume[masks["portal"] | masks["hepatic"]] += 90
    return PreparedCase(patient_id, volume, SPACING, (0.0, 0.0, 0.0), masks, [masks["tumour"]])


def with_texture_grid(coarse: PreparedCase, fine_mm: float = 2.0) -> PreparedCase:
    """`coarse` with a texture grid at half its spacing: each voxel as 2 x 2 x 2, and a tumour (radius 10 mm)
    smaller than the coarse grid's, so what is computed on the texture grid differs from the coarse grid's."""
    index = tuple(np.indices(tuple(2 * n for n in coarse.volume.shape)) // 2)
    masks = {name: mask[index] for name, mask in coarse.masks.items()}
    centre = np.asarray(coarse.volume.shape) * np.asarray(coarse.spacing) / 2 - np.array([0.0, 0.0, 28.0])
    masks["tumour"] = sphere(10.0, centre, shape=masks["liver"].shape, spacing=(fine_mm,) * 3)
    return replace(coarse, texture=Grid(coarse.volume[index], (fine_mm,) * 3, coarse.origin, masks))


def imaging_cohort(directory: Path, n: int = 4, **case_options) -> Cohort:
    """A Cohort whose `images` point at prepared npz files written under `directory`."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    ids = [f"P{i:02d}" for i in range(n)]
    images = {}
    for i, pid in enumerate(ids):
        path = Path(directory) / f"{pid}.npz"
        fake_case(pid, seed=i, tumour_radius=8.0 + 2.0 * i, **case_options).save(path)
        images[pid] = path
    clinical = pd.DataFrame({"age": np.arange(n, dtype=float)}, index=pd.Index(ids, name="Patient-ID"))
    outcome = pd.DataFrame({"time": np.arange(1, n + 1, dtype=float), "event": np.ones(n, int)}, index=clinical.index)
    return Cohort("fake-imaging", clinical, {"dfs": outcome}, {"preoperative": ["age"]}, images=images)
