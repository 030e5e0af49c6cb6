"""The latent anatomy of a synthetic patient: liver, portal and hepatic vessels, tumours.

Coordinates are millimetres in the liver frame (origin at the liver centre, x towards the patient's
left as in DICOM LPS, y posterior, z superior). The liver is an ellipsoid of the drawn volume, the
vessels canonical centrelines jittered per patient, the future remnant the part of the liver beyond
a plane; the tumours are spheres placed in one lobe, or both when the disease is bilobar, the largest
sized from max_tumor_size, the satellites smaller. Each tumour's gap to the nearest vessel of each
kind feeds the spatial image score; the distribution score reads the lesions one by one (the worst
lesion's size against its gap to a vessel) and among themselves (how far apart they lie).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from benchmark.data.calibration import Calibration

MAX_TUMOURS = 35
#: The smallest tumour drawn: 7.5 mm across, 0.22 ml (the real smallest total volume is 0.24 ml).
MIN_DIAMETER_MM = 7.5
#: Satellites are this fraction (uniform) of the largest tumour's diameter.
SATELLITE_FRACTION = (0.25, 0.85)
#: Future-remnant fraction of the liver volume: Beta with mean 0.61 (982 / 1607 ml, the real mean),
#: smaller where the portal vein was embolised before surgery.
REMNANT_BETA, REMNANT_BETA_PVE = (9.5, 6.0), (5.0, 6.0)
#: Real CT slice spacings (mm): the 50 measured scans plus the nine 7.5 mm scans they leave out.
SLICE_MIX = {1.5: 25, 2.5: 1, 5.0: 24, 7.5: 9}
SLICE_PROBABILITIES = np.array(list(SLICE_MIX.values())) / sum(SLICE_MIX.values())
#: The distribution score's scales (mm): a lesion's diameter per unit of weight, and the gap to a vessel over
#: which its weight falls by e.
WORST_LESION_DIAMETER_MM, WORST_LESION_GAP_MM = 20.0, 5.0
#: Two lesions whose centres lie closer than this (mm) count as one cluster's pair (clustered disease).
CLUSTER_DISTANCE_MM = 30.0
#: Canonical vessel centrelines in unit-ellipsoid coordinates: (name, start, end, radius in mm).
PORTAL_SEGMENTS = [
    ("trunk", (0.05, 0.10, -0.75), (0.0, 0.10, -0.25), 6.0),
    ("right", (0.0, 0.10, -0.25), (-0.60, 0.05, -0.05), 4.5),
    ("right_anterior", (-0.30, 0.08, -0.15), (-0.55, -0.35, 0.10), 3.0),
    ("left", (0.0, 0.10, -0.25), (0.55, 0.0, 0.0), 4.0),
]
HEPATIC_SEGMENTS = [
    ("right", (-0.70, 0.15, -0.05), (0.0, 0.55, 0.70), 4.5),
    ("middle", (-0.10, -0.35, -0.10), (0.0, 0.55, 0.70), 4.0),
    ("left", (0.60, 0.05, 0.05), (0.0, 0.55, 0.70), 3.5),
]


def _segment_distance(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point (n, 3) to the segment start-end."""
    direction = end - start
    t = np.clip(((points - start) @ direction) / (direction @ direction), 0.0, 1.0)
    return np.linalg.norm(points - (start + t[:, None] * direction), axis=1)


def _remnant_plane(semi_x: float, fraction: float) -> float:
    """x position of the plane leaving `fraction` of the ellipsoid's volume on the +x (left) side.

    The volume of an ellipsoid cap beyond x = h*a is (2 - 3h + h^3) / 4 of the whole.
    """
    grid = np.linspace(-1, 1, 4001)
    cap = (2 - 3 * grid + grid**3) / 4
    return float(np.interp(fraction, cap[::-1], grid[::-1]) * semi_x)


def _lobe_positions(rng, n_tumours: int, bilobar: bool) -> list[int]:
    """-1 (right lobe) or +1 (left) per tumour: one lobe, or both when the disease is bilobar."""
    dominant = -1 if rng.random() < 0.7 else 1
    sides = [dominant] * n_tumours
    if bilobar and n_tumours > 1:
        others = rng.random(n_tumours - 1) < 0.35
        sides = [dominant] + [-dominant if flip else dominant for flip in others]
        if -dominant not in sides:
            sides[1] = -dominant
    return sides


def _tumour_diameters(rng, cal: Calibration, max_size_cm: float, n_tumours: int) -> np.ndarray:
    mean, sd = cal.diameter_log_ratio
    largest = max(10 * max_size_cm, MIN_DIAMETER_MM) * np.exp(rng.normal(mean, sd))
    satellites = largest * rng.uniform(*SATELLITE_FRACTION, n_tumours - 1)
    return np.clip(np.concatenate([[largest], satellites]), MIN_DIAMETER_MM, 150.0)


def draw_anatomy(rng: np.random.Generator, pid: str, covariates: pd.Series,
                  cal: Calibration) -> tuple[dict, list[dict], list[dict]]:
    volume_ml = float(np.exp(rng.normal(*cal.liver_log_ml)))
    shape = np.array([1.0, 0.75, 0.65]) * rng.uniform(0.92, 1.08, 3)
    scale = (volume_ml * 1000 / (4 / 3 * np.pi * np.prod(shape))) ** (1 / 3)
    axes = shape * scale
    beta = REMNANT_BETA_PVE if covariates["preoperative_pve"] == 1 else REMNANT_BETA
    remnant_fraction = float(np.clip(rng.beta(*beta), 0.2, 0.8))
    plane_x = _remnant_plane(axes[0], remnant_fraction)

    vessels = []
    for vessel, segments in (("portal", PORTAL_SEGMENTS), ("hepatic", HEPATIC_SEGMENTS)):
        for name, start, end, radius in segments:
            start = (np.array(start) + rng.normal(0, 0.03, 3)) * axes
            end = (np.array(end) + rng.normal(0, 0.03, 3)) * axes
            vessels.append({"patient_id": pid, "vessel": vessel, "segment": name,
                            "x0": start[0], "y0": start[1], "z0": start[2],
                            "x1": end[0], "y1": end[1], "z1": end[2], "radius_mm": radius})

    r, p = cal.count_negbin[int(covariates["multiple_metastases"])]
    n_tumours = int(min(MAX_TUMOURS, 1 + rng.negative_binomial(r, p)))
    bilobar = bool(covariates["bilobar_disease"] == 1)
    diameters = _tumour_diameters(rng, cal, covariates["max_tumor_size"], n_tumours)
    tumours = []
    for index, (side, diameter) in enumerate(zip(_lobe_positions(rng, n_tumours, bilobar), diameters), start=1):
        radius = diameter / 2
        for _ in range(100):  # rejection sampling inside the shrunken ellipsoid, on the chosen side
            u = rng.uniform(-1, 1, 3)
            if u @ u <= 1 and np.sign(u[0]) == side:
                break
        centre = u * np.clip(axes - radius, 0.3 * axes, None) * 0.85
        if bilobar and n_tumours == 1:   # one bilobar tumour straddles the lobes
            centre[0] = rng.uniform(-0.5, 0.5) * radius
        tumours.append({"patient_id": pid, "tumour_index": index,
                        "x": centre[0], "y": centre[1], "z": centre[2], "radius_mm": radius,
                        "lobe": "right" if centre[0] < 0 else "left",
                        "in_remnant": bool(centre[0] > plane_x)})
    centres = np.array([[t["x"], t["y"], t["z"]] for t in tumours])
    radii = np.array([t["radius_mm"] for t in tumours])
    for vessel in ("portal", "hepatic"):
        gaps = np.min([
            _segment_distance(centres, np.array([s["x0"], s["y0"], s["z0"]]),
                              np.array([s["x1"], s["y1"], s["z1"]])) - s["radius_mm"]
            for s in vessels if s["vessel"] == vessel], axis=0) - radii
        for tumour, gap in zip(tumours, gaps):
            tumour[f"dist_{vessel}_mm"] = float(max(gap, 0.0))

    nearest_gap = np.minimum([t["dist_portal_mm"] for t in tumours], [t["dist_hepatic_mm"] for t in tumours])
    worst = np.max(2 * radii / WORST_LESION_DIAMETER_MM * np.exp(-nearest_gap / WORST_LESION_GAP_MM))
    pairs = np.triu_indices(n_tumours, 1)
    apart = np.linalg.norm(centres[:, None] - centres[None], axis=2)[pairs]
    lobes = [t["lobe"] for t in tumours]
    proximity = [np.exp(-t["dist_portal_mm"] / 10) + np.exp(-t["dist_hepatic_mm"] / 10) for t in tumours]
    patient = {
        "patient_id": pid, "semi_axis_x_mm": axes[0], "semi_axis_y_mm": axes[1],
        "semi_axis_z_mm": axes[2], "liver_volume_ml": volume_ml,
        "remnant_fraction": remnant_fraction, "remnant_plane_x_mm": plane_x,
        "n_tumours": n_tumours,
        "total_tumour_volume_ml": float(np.sum(4 / 3 * np.pi * radii**3) / 1000),
        "max_diameter_mm": float(2 * radii.max()),
        "min_dist_portal_mm": min(t["dist_portal_mm"] for t in tumours),
        "min_dist_hepatic_mm": min(t["dist_hepatic_mm"] for t in tumours),
        "vessel_contact": float(np.sum(proximity)),
        "worst_lesion_vessel": float(worst),
        "lesion_dispersion_mm": float(apart.mean()) if len(apart) else 0.0,
        "close_lesion_pairs": int(np.sum(apart < CLUSTER_DISTANCE_MM)),
        "bilobar": bilobar,
        "lobe_spread": min(lobes.count("left"), lobes.count("right")) / n_tumours,
        "ct_slice_mm": float(rng.choice(list(SLICE_MIX), p=SLICE_PROBABILITIES)),
        "ct_coverage_mm": float(np.clip(rng.normal(*cal.coverage_mm), 170, 300)),
    }
    return patient, tumours, vessels
