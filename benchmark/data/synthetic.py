"""The embedded default: a synthetic CRLM cohort drawn from a stated generative model.

Per patient a latent anatomy (liver ellipsoid, future-liver-remnant plane, portal and hepatic
vessel centrelines, tumours with sizes and positions) is drawn first. The clinical columns are
read off that anatomy (max_tumor_size as a noisy one-axis measurement, multiple_metastases,
bilobar_disease, CEA, Fong score, ...)
and the event times come from a known hazard of anatomical and clinical terms, so the true risk
of each patient is known and tables can show the oracle C-index, the ceiling no model can pass.

Coordinates are millimetres in the liver frame (origin at the liver centre, x towards the
patient's left as in DICOM LPS, y posterior, z superior). The anatomy is saved as three CSV
tables (patients, tumours, vessels) so that the imaging module renders CTs from exactly the
geometry that drove the hazard.

Hazard model (times in months):
  lp   = sum_k beta_k * term_k                         (LINEAR_PREDICTOR below, centred terms)
  recurrence  T_r ~ Weibull(shape 1.1, scale RECURRENCE_SCALE * exp(-lp / 1.1))
  death without recurrence T_d ~ Weibull(shape 1.3, scale depending on age and comorbidity)
  survival after recurrence T_p ~ Weibull(shape 1.2, scale POST_RECURRENCE_SCALE * exp(-0.5 lp / 1.2))
  OS = min(T_d, T_r + T_p); DFS = min(T_r, T_d); liver DFS counts liver-only recurrences and deaths.
  Censoring: end of study after uniform(FOLLOW_UP_MIN, FOLLOW_UP_MAX) months, plus rare loss to follow-up.
The constants were calibrated once so that a large draw matches the real cohort's statistics
(median OS about 77 months, DFS events about 67 %, median DFS time about 23 months); a test checks it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import clinical

FOLLOW_UP_MIN, FOLLOW_UP_MAX = 12.0, 132.0
RECURRENCE_SCALE = 42.0
POST_RECURRENCE_SCALE = 85.0
DEATH_SCALE = 320.0
LIVER_ONLY_RECURRENCE = 0.5
ORACLE_HORIZON_MONTHS = 36.0
MAX_TUMOURS = 35
#: The clinical max_tumor_size is a reported one-axis measurement, not the true largest diameter:
#: log-normal error of this sd (about 25 %, the inter-observer spread of 1-D lesion measurements).
MAX_SIZE_MEASUREMENT_SD = 0.25
#: Bumped whenever a change to this module changes the drawn cohort, so cached trees are redrawn.
GENERATOR_VERSION = 3

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


@dataclass(frozen=True)
class SyntheticCohort:
    """The drawn cohort: the clinical table plus the three latent anatomy tables."""

    clinical: pd.DataFrame   # TCIA columns, indexed by Patient-ID
    patients: pd.DataFrame   # one row per patient: liver geometry, tumour burden, true risks
    tumours: pd.DataFrame    # one row per tumour
    vessels: pd.DataFrame    # one row per vessel centreline segment


def patient_ids(n: int) -> list[str]:
    """TCIA-style ids CRLM-CT-1001.. skipping 1024, which is absent from the real release."""
    numbers = [k for k in range(1001, 1001 + n + 1) if k != 1024][:n]
    return [f"CRLM-CT-{k}" for k in numbers]


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


def _draw_anatomy(rng: np.random.Generator, pid: str) -> tuple[dict, list[dict], list[dict]]:
    volume_ml = float(np.clip(rng.lognormal(np.log(1600), 0.2), 900, 3000))
    shape = np.array([1.0, 0.75, 0.65]) * rng.uniform(0.92, 1.08, 3)
    scale = (volume_ml * 1000 / (4 / 3 * np.pi * np.prod(shape))) ** (1 / 3)
    axes = shape * scale
    remnant_fraction = float(np.clip(rng.beta(4, 5), 0.2, 0.75))
    plane_x = _remnant_plane(axes[0], remnant_fraction)

    vessels = []
    for vessel, segments in (("portal", PORTAL_SEGMENTS), ("hepatic", HEPATIC_SEGMENTS)):
        for name, start, end, radius in segments:
            start = (np.array(start) + rng.normal(0, 0.03, 3)) * axes
            end = (np.array(end) + rng.normal(0, 0.03, 3)) * axes
            vessels.append({"patient_id": pid, "vessel": vessel, "segment": name,
                            "x0": start[0], "y0": start[1], "z0": start[2],
                            "x1": end[0], "y1": end[1], "z1": end[2], "radius_mm": radius})

    n_tumours = int(min(MAX_TUMOURS, 1 + rng.negative_binomial(0.6, 0.28)))
    # Tumours cluster in one lobe: most share the dominant side, some spill over (bilobar disease).
    dominant = -1 if rng.random() < 0.7 else 1
    spill = rng.beta(1, 5)
    tumours = []
    for index in range(1, n_tumours + 1):
        diameter = float(np.clip(rng.lognormal(np.log(22), 0.55), 5, 150))
        radius = diameter / 2
        side = dominant if rng.random() > spill else -dominant
        for _ in range(100):  # rejection sampling inside the shrunken ellipsoid, on the chosen side
            u = rng.uniform(-1, 1, 3)
            if u @ u <= 1 and np.sign(u[0]) == side:
                break
        centre = u * np.clip(axes - radius, 0.3 * axes, None) * 0.85
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

    lobes = [t["lobe"] for t in tumours]
    patient = {
        "patient_id": pid, "semi_axis_x_mm": axes[0], "semi_axis_y_mm": axes[1],
        "semi_axis_z_mm": axes[2], "liver_volume_ml": volume_ml,
        "remnant_fraction": remnant_fraction, "remnant_plane_x_mm": plane_x,
        "n_tumours": n_tumours,
        "total_tumour_volume_ml": float(np.sum(4 / 3 * np.pi * radii**3) / 1000),
        "max_diameter_mm": float(2 * radii.max()),
        "min_dist_portal_mm": min(t["dist_portal_mm"] for t in tumours),
        "min_dist_hepatic_mm": min(t["dist_hepatic_mm"] for t in tumours),
        "bilobar": len(set(lobes)) > 1,
        "lobe_spread": min(lobes.count("left"), lobes.count("right")) / n_tumours,
    }
    return patient, tumours, vessels


def _draw_clinical(rng: np.random.Generator, anatomy: pd.DataFrame) -> pd.DataFrame:
    n = len(anatomy)
    burden = np.log(anatomy["total_tumour_volume_ml"].to_numpy())
    table = pd.DataFrame(index=pd.Index(anatomy["patient_id"], name=clinical.ID_COLUMN))
    table["De-identify Scout Name"] = [f"Scout-{pid[-4:]}" for pid in table.index]
    table["age"] = np.clip(rng.normal(62, 11, n), 30, 88).round()
    table["sex"] = np.where(rng.random(n) < 0.57, 1, 2)
    table["major_comorbidity"] = (rng.random(n) < 0.35).astype(int)
    table["body_mass_index"] = np.clip(rng.normal(27.5, 5, n), 16, 50).round(1)
    table["node_positive_primary"] = (rng.random(n) < 0.6).astype(int)
    table["synchronous_crlm"] = (rng.random(n) < 0.5).astype(int)
    table["multiple_metastases"] = (anatomy["n_tumours"].to_numpy() > 1).astype(int)
    cea = np.exp(1.8 + 0.55 * burden + rng.normal(0, 1.3, n))
    table["carcinoembryonic_antigen"] = np.clip(cea, 0.5, 20000).round(1)
    measured = anatomy["max_diameter_mm"].to_numpy() * np.exp(rng.normal(0, MAX_SIZE_MEASUREMENT_SD, n))
    table["max_tumor_size"] = (measured / 10).round(1)
    score = (table["node_positive_primary"] + table["synchronous_crlm"] + table["multiple_metastases"]
             + (table["carcinoembryonic_antigen"] > 200) + (table["max_tumor_size"] > 5)).astype(float)
    table["clinrisk_score"] = score
    table["clinrisk_stratified"] = (score >= 3).astype(float)
    table["bilobar_disease"] = anatomy["bilobar"].to_numpy().astype(int)
    table["extrahep_disease"] = (rng.random(n) < 0.12).astype(int)
    chemo_p = 1 / (1 + np.exp(-(0.3 + 0.5 * (burden - burden.mean()))))
    table["chemo_before_liver_resection"] = (rng.random(n) < chemo_p).astype(int)
    pve_p = np.where(anatomy["remnant_fraction"].to_numpy() < 0.3, 0.6, 0.05)
    table["preoperative_pve"] = (rng.random(n) < pve_p).astype(int)
    # Pathology of the resected specimen (post-operative, opt-in features).
    chemo = table["chemo_before_liver_resection"].to_numpy() == 1
    response = np.where(chemo, rng.beta(2, 2.5, n) * 100, 0.0)
    table["steatosis_yesno"] = (rng.random(n) < np.where(chemo, 0.45, 0.25)).astype(int)
    table["presence_sinusoidal_dilata"] = (rng.random(n) < np.where(chemo, 0.4, 0.1)).astype(int)
    table["NASH_score"] = rng.integers(0, 6, n).astype(float)
    table["NASH_yesno"] = (table["NASH_score"] >= 3).astype(int)
    table["NASH_greater_4"] = (table["NASH_score"] > 4).astype(int)
    # Whole percentages, stored as fractions like the release xlsx (0.35 for 35 %).
    table["total_response_percent"] = response.round() / 100
    table["necrosis_percent"] = np.clip(100 - response - rng.uniform(0, 30, n), 0, 100).round() / 100
    table["fibrosis_percent"] = np.clip(response * rng.uniform(0.5, 1.0, n), 0, 100).round() / 100
    table["fibrosis_greater_40_percent"] = (table["fibrosis_percent"] > 0.4).astype(int)
    table["mucin_percent"] = np.where(rng.random(n) < 0.15, rng.uniform(1, 60, n), 0).round() / 100
    return table


def linear_predictor(anatomy: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """The true log relative hazard of recurrence: anatomy drives most of it, clinic the rest."""
    def z(values):
        values = np.asarray(values, dtype=float)
        return (values - values.mean()) / (values.std() + 1e-12)

    vessel_proximity = np.exp(-anatomy["min_dist_portal_mm"].to_numpy() / 10) + np.exp(
        -anatomy["min_dist_hepatic_mm"].to_numpy() / 10)
    terms = {
        "log_tumour_volume": (0.55, z(np.log(anatomy["total_tumour_volume_ml"]))),
        "log_tumour_count": (0.45, z(np.log(anatomy["n_tumours"]))),
        "vessel_proximity": (0.40, z(vessel_proximity)),
        "small_remnant": (0.30, z(-anatomy["remnant_fraction"])),
        "bilobar": (0.20, z(anatomy["bilobar"].astype(float))),
        "node_positive_primary": (0.25, z(table["node_positive_primary"])),
        "log_cea": (0.20, z(np.log(table["carcinoembryonic_antigen"]))),
        "extrahep_disease": (0.25, z(table["extrahep_disease"])),
        "pathologic_response": (-0.25, z(table["total_response_percent"])),
    }
    return np.sum([beta * values for beta, values in terms.values()], axis=0)


def _weibull(rng, shape: float, scale: np.ndarray) -> np.ndarray:
    return scale * rng.weibull(shape, len(scale))


def _death_scale(table: pd.DataFrame) -> np.ndarray:
    return DEATH_SCALE * np.exp(-(0.04 * (table["age"].to_numpy() - 62)
                                  + 0.4 * table["major_comorbidity"].to_numpy()) / 1.3)


def true_survival(lp: np.ndarray, table: pd.DataFrame, months: np.ndarray) -> dict[str, np.ndarray]:
    """True survival curves (n, len(months)) per endpoint, by numerical integration of the model."""
    grid = np.linspace(0, months.max(), 600)
    rec_scale = RECURRENCE_SCALE * np.exp(-lp / 1.1)
    post_scale = POST_RECURRENCE_SCALE * np.exp(-0.5 * lp / 1.2)
    cum_rec = (grid[None, :] / rec_scale[:, None]) ** 1.1
    s_rec = np.exp(-cum_rec)
    s_death = np.exp(-(grid[None, :] / _death_scale(table)[:, None]) ** 1.3)
    f_rec = np.gradient(1 - s_rec, grid, axis=1)
    # P(recurred at u and alive after u + p): convolution of the recurrence density with post survival.
    step = grid[1] - grid[0]
    s_after_rec = np.zeros_like(s_rec)
    for j in range(1, len(grid)):
        lag = grid[j] - grid[: j + 1]
        s_post = np.exp(-(lag[None, :] / post_scale[:, None]) ** 1.2)
        s_after_rec[:, j] = np.sum(f_rec[:, : j + 1] * s_post, axis=1) * step
    curves = {
        "os": s_death * (s_rec + s_after_rec),
        "dfs": s_death * s_rec,
        "liver_dfs": s_death * np.exp(-LIVER_ONLY_RECURRENCE * cum_rec),
    }
    return {name: np.stack([np.interp(months, grid, row) for row in curve]) for name, curve in curves.items()}


def _draw_outcomes(rng: np.random.Generator, lp: np.ndarray, table: pd.DataFrame) -> pd.DataFrame:
    n = len(lp)
    t_rec = _weibull(rng, 1.1, RECURRENCE_SCALE * np.exp(-lp / 1.1))
    t_death = _weibull(rng, 1.3, _death_scale(table))
    t_post = _weibull(rng, 1.2, POST_RECURRENCE_SCALE * np.exp(-0.5 * lp / 1.2))
    censor = np.minimum(rng.uniform(FOLLOW_UP_MIN, FOLLOW_UP_MAX, n), rng.exponential(600, n))
    t_os = np.minimum(t_death, np.where(t_rec < t_death, t_rec + t_post, np.inf))
    recurred = (t_rec < t_death) & (t_rec <= censor)
    liver_only = rng.random(n) < LIVER_ONLY_RECURRENCE
    out = pd.DataFrame(index=table.index)
    out["overall_survival_months"] = np.minimum(t_os, censor)
    out["vital_status"] = (t_os <= censor).astype(int)
    out["progression_or_recurrence"] = recurred.astype(int)
    out["months_to_DFS_progression"] = np.minimum(np.minimum(t_rec, t_death), censor)
    out["vital_status_DFS"] = (np.minimum(t_rec, t_death) <= censor).astype(int)
    liver_recurrence = recurred & liver_only
    out["progression_or_recurrence_liveronly"] = liver_recurrence.astype(int)
    out["months_to_liver_DFS_progression"] = np.where(
        liver_recurrence, t_rec, np.where(recurred, out["overall_survival_months"], out["months_to_DFS_progression"]))
    out["vital_status_liver_DFS"] = np.where(
        liver_recurrence, 1, np.where(recurred, out["vital_status"], out["vital_status_DFS"]))
    time_columns = ["overall_survival_months", "months_to_DFS_progression", "months_to_liver_DFS_progression"]
    out[time_columns] = np.maximum(out[time_columns].round(1), 0.1)
    return out


def generate(n_patients: int = 197, seed: int = 0, missing_fong: int | None = None) -> SyntheticCohort:
    """Draw a cohort. `missing_fong` patients lose their CEA and Fong score (real: 29 of 197)."""
    rng = np.random.default_rng(seed)
    ids = patient_ids(n_patients)
    drawn = [_draw_anatomy(rng, pid) for pid in ids]
    anatomy = pd.DataFrame([patient for patient, _, _ in drawn])
    tumours = pd.DataFrame([t for _, ts, _ in drawn for t in ts])
    vessels = pd.DataFrame([v for _, _, vs in drawn for v in vs])
    table = _draw_clinical(rng, anatomy)
    lp = linear_predictor(anatomy, table)
    table = table.join(_draw_outcomes(rng, lp, table))
    table["relevant_notes"] = ""
    curves = true_survival(lp, table, np.array([0.0, ORACLE_HORIZON_MONTHS]))
    anatomy["true_log_hazard"] = lp
    for endpoint, curve in curves.items():
        anatomy[f"true_risk_{endpoint}"] = 1 - curve[:, 1]
    n_missing = round(n_patients * 29 / 197) if missing_fong is None else missing_fong
    lacking = rng.choice(n_patients, size=n_missing, replace=False)
    for column in ("carcinoembryonic_antigen", "clinrisk_score", "clinrisk_stratified"):
        table.iloc[lacking, table.columns.get_loc(column)] = np.nan
    return SyntheticCohort(table.reindex(columns=clinical.COLUMNS[1:]), anatomy.set_index("patient_id"),
                           tumours, vessels)


def write_latents(cohort: SyntheticCohort, directory: Path) -> None:
    """Save the latent anatomy (the artefact the CT renderer reads) as three CSV tables."""
    directory.mkdir(parents=True, exist_ok=True)
    cohort.patients.to_csv(directory / "patients.csv")
    cohort.tumours.to_csv(directory / "tumours.csv", index=False)
    cohort.vessels.to_csv(directory / "vessels.csv", index=False)


def read_latents(directory: Path) -> SyntheticCohort:
    patients = pd.read_csv(directory / "patients.csv", index_col="patient_id")
    return SyntheticCohort(pd.DataFrame(), patients, pd.read_csv(directory / "tumours.csv"),
                           pd.read_csv(directory / "vessels.csv"))
