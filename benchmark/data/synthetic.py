"""The embedded default: a synthetic CRLM cohort calibrated on the real MSKCC cohort.

What comes from the real data (the shipped release table of 197 patients and the segmentation
volumes of 50 of them, `benchmark.data.real.mskcc_crlm`), fitted when a cohort is first drawn:
  - the clinical columns: a Gaussian copula over the real marginals and rank correlations
    (benchmark.data.copula), in the real units, with the real missingness: each synthetic patient
    takes the missing-value pattern of a random real patient (CEA, Fong score and its strata are
    missing together, as in the 29 real rows);
  - the anatomy: liver volume log-normal as measured, the tumour count given multiple_metastases as
    measured (shifted negative binomial by moments), the largest tumour's equivalent-sphere diameter
    from max_tumor_size with the measured log-ratio and spread of the single-lesion patients, so
    the true burden relates to max_tumor_size as in the real data; smaller satellites; bilobar
    disease as the clinical column says; CT slice spacing and z coverage from the real mix;
  - the clinical part of the hazard: an illness-death model whose three transitions (recurrence,
    death without recurrence, death after recurrence) are ridge-penalised Weibull
    proportional-hazards regressions fitted on the real table (benchmark.data.weibull), the ridge
    chosen by cross-validated likelihood; the share of recurrences that count for liver DFS and
    the follow-up (censoring) distribution, the reverse Kaplan-Meier of the real OS.

Hazard scenarios (SCENARIOS) add an image term to the recurrence and post-recurrence hazards:
  clinical  none: the calibrated clinical hazard alone;
  burden    total tumour volume and tumour count;
  spatial   per-lesion relations: each tumour's proximity to the portal and hepatic veins (summed
            over lesions), lesions spread over both lobes, a small future liver remnant;
  mixed     burden and spatial together (the default);
  null      no term at all, and no clinical one either: outcomes independent of every input.
Each image score is standardised on a reference draw and multiplied by IMAGE_STRENGTH (recurrence)
and IMAGE_STRENGTH_POST (death after recurrence). These two numbers are set from the published
anchors, not from any method's results: on a large draw of the default scenario the true risk
ranks DFS with C = 0.714 and OS with C = 0.755, what CT + clinical models reported on this cohort
(a test holds both within 0.02). The scenarios of one draw share its patients, anatomy and
clinical covariates, and their outcomes share the same random numbers (common random numbers),
so differences between scenarios are differences of hazard.

Coordinates are millimetres in the liver frame (origin at the liver centre, x towards the
patient's left as in DICOM LPS, y posterior, z superior). The anatomy is saved as three CSV
tables (patients, tumours, vessels) so that the imaging module renders CTs from exactly the
geometry that drove the hazard. Times are months.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import clinical
from benchmark.data.copula import GaussianCopula
from benchmark.data.hazards import Transition

SCENARIOS = ("mixed", "clinical", "burden", "spatial", "null")
DEFAULT_SCENARIO = "mixed"
#: The image term's strength (log hazard ratio per reference sd of the scenario's image score).
IMAGE_STRENGTH = 0.90
IMAGE_STRENGTH_POST = 0.70
#: The clinical coefficients' scale: the ridge fit's direction, scaled so that clinical Cox-PH
#: scores on the default scenario what it scores on the real table (5 x 5 CV C-index).
CLINICAL_SCALE = 0.20
CLINICAL_SCALE_POST = 0.20
#: The default scenario's image score: burden and spatial scores (each in reference sd) weighted so.
MIXED_WEIGHTS = pd.Series({"burden": 0.25, "spatial": 1.0})
ORACLE_HORIZON_MONTHS = 36.0
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
REFERENCE_DRAW = (4000, 20240617)   # (patients, seed) of the draw that standardises the image scores
#: Bumped whenever a change to this module changes the drawn cohort, so cached trees are redrawn.
GENERATOR_VERSION = 4

#: Drawn by the copula; the derived columns (strata, flags) follow from them as in the real table.
DRAWN_COLUMNS = ["age", "sex", "major_comorbidity", "body_mass_index", "node_positive_primary",
                 "synchronous_crlm", "multiple_metastases", "clinrisk_score", "carcinoembryonic_antigen",
                 "max_tumor_size", "bilobar_disease", "extrahep_disease", "chemo_before_liver_resection",
                 "preoperative_pve", "steatosis_yesno", "presence_sinusoidal_dilata", "NASH_score",
                 "total_response_percent", "necrosis_percent", "fibrosis_percent", "mucin_percent"]
#: Death without recurrence: 7 real events, too few for more than the two obvious covariates.
DEATH_COLUMNS = ["age", "major_comorbidity"]
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

    clinical: pd.DataFrame   # TCIA columns, indexed by Patient-ID (outcomes once assigned)
    patients: pd.DataFrame   # one row per patient: anatomy, image scores, clinical log hazards, truth
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


@dataclass(frozen=True)
class Calibration:
    """Everything the generator takes from the real cohort (see the module docstring)."""

    copula: GaussianCopula
    missing_patterns: pd.DataFrame       # the real rows' missing-value masks over DRAWN_COLUMNS
    centre: pd.Series                    # real mean of each column (standardising the hazard's design)
    spread: pd.Series                    # real sd
    fill: pd.Series                      # real median, for the real missing values when fitting
    recurrence: Transition
    death: Transition
    post_recurrence: Transition
    liver_share: float                   # recurrences that count for liver DFS
    follow_up: tuple[np.ndarray, np.ndarray]   # reverse Kaplan-Meier of OS: (months, P(followed beyond))
    liver_log_ml: tuple[float, float]    # mean, sd of log liver volume
    count_negbin: dict[int, tuple[float, float]]   # multiple_metastases -> (r, p) of count - 1
    diameter_log_ratio: tuple[float, float]        # log(equivalent diameter / max_tumor_size), mean, sd
    coverage_mm: tuple[float, float]     # CT z coverage, mean, sd


def _design(table: pd.DataFrame, columns: list[str], cal_centre: pd.Series, cal_spread: pd.Series) -> np.ndarray:
    return ((table[columns] - cal_centre[columns]) / cal_spread[columns]).to_numpy(float)


def _negative_binomial_by_moments(counts: np.ndarray) -> tuple[float, float]:
    """(r, p) of numpy's negative binomial with the mean and variance of `counts` (over-dispersed)."""
    mean, variance = counts.mean(), max(counts.var(), counts.mean() * 1.05)
    r = mean**2 / (variance - mean)
    return float(r), float(r / (r + mean))


def _reverse_kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sksurv.nonparametric import kaplan_meier_estimator
    months, followed = kaplan_meier_estimator(event == 0, time)
    return months, followed


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    """Fit the generator on the shipped real data (once per process; deterministic)."""
    from benchmark.datasets import mskcc  # imported here: the dataset plug-ins import this module
    real = mskcc.read_clinical()
    volumes = mskcc.read_segmentation_volumes().join(real[["max_tumor_size", "multiple_metastases"]])
    drawn = real[DRAWN_COLUMNS]
    centre, spread, fill = drawn.mean(), drawn.std().replace(0, 1.0), drawn.median()
    filled = drawn.fillna(fill)
    x = _design(filled, DRAWN_COLUMNS, centre, spread)
    recurred = real["progression_or_recurrence"].to_numpy(int)
    dfs_time = real["months_to_DFS_progression"].to_numpy(float)
    died_first = real["vital_status_DFS"].to_numpy(int) * (1 - recurred)
    after = recurred == 1
    post_time = np.maximum(real["overall_survival_months"].to_numpy(float) - dfs_time, 0.1)[after]
    single = volumes[volumes["n_tumour_segments"] == 1]
    equivalent_mm = (6 * single["tumour_ml"] * 1000 / np.pi) ** (1 / 3)
    log_ratio = np.log(equivalent_mm / (10 * single["max_tumor_size"]))
    counts = {flag: _negative_binomial_by_moments(group["n_tumour_segments"].to_numpy(float) - 1)
              for flag, group in volumes.groupby("multiple_metastases")}
    coverage = volumes["n_slices"] * volumes["slice_mm"]
    return Calibration(
        copula=GaussianCopula.fit(drawn), missing_patterns=drawn.isna().reset_index(drop=True),
        centre=centre, spread=spread, fill=fill,
        recurrence=Transition.fit(x, dfs_time, recurred),
        death=Transition.fit(_design(filled, DEATH_COLUMNS, centre, spread), dfs_time, died_first),
        post_recurrence=Transition.fit(x[after], post_time, real["vital_status"].to_numpy(int)[after]),
        liver_share=float(real["progression_or_recurrence_liveronly"].sum() / recurred.sum()),
        follow_up=_reverse_kaplan_meier(real["overall_survival_months"].to_numpy(float),
                                        real["vital_status"].to_numpy(int)),
        liver_log_ml=(float(np.log(volumes["liver_ml"]).mean()), float(np.log(volumes["liver_ml"]).std())),
        count_negbin={int(flag): value for flag, value in counts.items()},
        diameter_log_ratio=(float(log_ratio.mean()), float(log_ratio.std())),
        coverage_mm=(float(coverage.mean()), float(coverage.std())),
    )


def _draw_covariates(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(latent, observed) clinical covariates: the observed table has the real missingness."""
    latent = cal.copula.sample(n, rng)
    patterns = cal.missing_patterns.iloc[rng.integers(len(cal.missing_patterns), size=n)].reset_index(drop=True)
    return latent, latent.mask(patterns)


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


def _draw_anatomy(rng: np.random.Generator, pid: str, covariates: pd.Series,
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
        "bilobar": bilobar,
        "lobe_spread": min(lobes.count("left"), lobes.count("right")) / n_tumours,
        "ct_slice_mm": float(rng.choice(list(SLICE_MIX), p=SLICE_PROBABILITIES)),
        "ct_coverage_mm": float(np.clip(rng.normal(*cal.coverage_mm), 170, 300)),
    }
    return patient, tumours, vessels


def _raw_image_scores(anatomy: pd.DataFrame) -> pd.DataFrame:
    """Unstandardised image scores per scenario: what the CT shows that the hazard may use."""
    burden = 0.6 * np.log(anatomy["total_tumour_volume_ml"]) + 0.4 * 2.5 * np.log(anatomy["n_tumours"])
    spatial = (np.log1p(anatomy["vessel_contact"]) + 1.5 * anatomy["lobe_spread"]
               - 3.0 * anatomy["remnant_fraction"])
    return pd.DataFrame({"burden": burden, "spatial": spatial}, index=anatomy.index)


@lru_cache(maxsize=1)
def _score_reference() -> tuple[pd.Series, pd.Series, float]:
    """Mean and sd of the raw scores, and the sd of their MIXED_WEIGHTS combination, on the reference draw."""
    n, seed = REFERENCE_DRAW
    scores = _raw_image_scores(_draw(n, seed).patients)
    standard = (scores - scores.mean()) / scores.std()
    return scores.mean(), scores.std(), float((standard @ MIXED_WEIGHTS).std())


def image_scores(anatomy: pd.DataFrame) -> pd.DataFrame:
    """The image term of each scenario in reference sd units (clinical and null: zero)."""
    mean, sd, mixed_sd = _score_reference()
    standard = (_raw_image_scores(anatomy) - mean) / sd
    return pd.DataFrame({"clinical": 0.0, "burden": standard["burden"], "spatial": standard["spatial"],
                         "mixed": standard @ MIXED_WEIGHTS / mixed_sd, "null": 0.0}, index=anatomy.index)


def _draw(n_patients: int, seed: int) -> SyntheticCohort:
    """Patients, anatomy and clinical covariates of one draw (no outcomes, no scenario)."""
    cal = calibration()
    rng = np.random.default_rng(seed)
    ids = patient_ids(n_patients)
    latent, observed = _draw_covariates(rng, n_patients, cal)
    drawn = [_draw_anatomy(rng, pid, latent.iloc[k], cal) for k, pid in enumerate(ids)]
    anatomy = pd.DataFrame([patient for patient, _, _ in drawn]).set_index("patient_id")
    tumours = pd.DataFrame([t for _, ts, _ in drawn for t in ts])
    vessels = pd.DataFrame([v for _, _, vs in drawn for v in vs])
    filled = latent.fillna(cal.fill)
    x = _design(filled, DRAWN_COLUMNS, cal.centre, cal.spread)
    anatomy["clinical_lp_recurrence"] = CLINICAL_SCALE * (x @ cal.recurrence.beta)
    anatomy["clinical_lp_death"] = _design(filled, DEATH_COLUMNS, cal.centre, cal.spread) @ cal.death.beta
    anatomy["clinical_lp_post"] = CLINICAL_SCALE_POST * (x @ cal.post_recurrence.beta)
    observed.index = pd.Index(ids, name=clinical.ID_COLUMN)
    return SyntheticCohort(_with_derived_columns(observed), anatomy, tumours, vessels)


def _with_derived_columns(table: pd.DataFrame) -> pd.DataFrame:
    """The columns the real table derives from others, derived the same way (checked on it)."""
    table = table.copy()
    table["De-identify Scout Name"] = [f"Scout-{pid[-4:]}" for pid in table.index]
    table["clinrisk_stratified"] = (table["clinrisk_score"] >= 3).astype(float).where(table["clinrisk_score"].notna())
    table["NASH_yesno"] = (table["NASH_score"] >= 1).astype(int)
    table["NASH_greater_4"] = (table["NASH_score"] >= 4).astype(int)
    table["fibrosis_greater_40_percent"] = (table["fibrosis_percent"] >= 0.4).astype(float).where(
        table["fibrosis_percent"].notna())
    return table


def draw_patients(n_patients: int = 197, seed: int = 0) -> SyntheticCohort:
    """One draw: n patients with anatomy, clinical covariates and every scenario's image score."""
    drawn = _draw(n_patients, seed)
    patients = drawn.patients.join(image_scores(drawn.patients).add_prefix("image_score_"))
    return replace(drawn, patients=patients)


def scenario_log_hazards(patients: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The true linear predictors of the three transitions under a scenario."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} ({', '.join(SCENARIOS)})")
    if scenario == "null":
        zeros = np.zeros(len(patients))
        return pd.DataFrame({"true_lp_recurrence": zeros, "true_lp_death": zeros, "true_lp_post": zeros},
                            index=patients.index)
    image = patients[f"image_score_{scenario}"]
    return pd.DataFrame({
        "true_lp_recurrence": patients["clinical_lp_recurrence"] + IMAGE_STRENGTH * image,
        "true_lp_death": patients["clinical_lp_death"],
        "true_lp_post": patients["clinical_lp_post"] + IMAGE_STRENGTH_POST * image,
    }, index=patients.index)


def true_survival(truth: pd.DataFrame, months: np.ndarray) -> dict[str, np.ndarray]:
    """True survival curves (n, len(months)) per endpoint, by numerical integration of the model."""
    cal = calibration()
    grid = np.linspace(0, max(float(np.max(months)), 1.0), 600)
    cum_rec = cal.recurrence.cumulative_hazard(grid, truth["true_lp_recurrence"].to_numpy())
    s_rec = np.exp(-cum_rec)
    s_death = np.exp(-cal.death.cumulative_hazard(grid, truth["true_lp_death"].to_numpy()))
    f_rec = np.gradient(1 - s_rec, grid, axis=1) * s_death   # recurrence (first) at u, alive until then
    post_eta = truth["true_lp_post"].to_numpy()
    # P(recurred at u and alive after t): the recurrence density convolved with post-recurrence survival.
    step = grid[1] - grid[0]
    s_after_rec = np.zeros_like(s_rec)
    for j in range(1, len(grid)):
        s_post = np.exp(-cal.post_recurrence.cumulative_hazard(grid[j] - grid[: j + 1], post_eta))
        s_after_rec[:, j] = np.sum(f_rec[:, : j + 1] * s_post, axis=1) * step
    curves = {
        "os": s_death * s_rec + s_after_rec,
        "dfs": s_death * s_rec,
        "liver_dfs": s_death * np.exp(-cal.liver_share * cum_rec),
    }
    return {name: np.stack([np.interp(months, grid, row) for row in curve]) for name, curve in curves.items()}


def _follow_up(rng: np.random.Generator, n: int, cal: Calibration) -> np.ndarray:
    """Censoring times drawn from the real follow-up distribution (inverse of its reverse KM)."""
    months, followed = cal.follow_up
    u = rng.random(n)
    beyond = np.searchsorted(-followed, -u, side="left")   # first time P(followed beyond) drops below u
    return np.where(beyond < len(months), months[np.minimum(beyond, len(months) - 1)], months[-1])


def _draw_outcomes(rng: np.random.Generator, truth: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    cal = calibration()
    n = len(truth)
    t_rec = cal.recurrence.inverse(rng.random(n), truth["true_lp_recurrence"].to_numpy())
    t_death = cal.death.inverse(rng.random(n), truth["true_lp_death"].to_numpy())
    t_post = cal.post_recurrence.inverse(rng.random(n), truth["true_lp_post"].to_numpy())
    liver_only = rng.random(n) < cal.liver_share
    censor = _follow_up(rng, n, cal)
    t_os = np.where(t_rec < t_death, t_rec + t_post, t_death)
    recurred = (t_rec < t_death) & (t_rec <= censor)
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


def assign_outcomes(drawn: SyntheticCohort, scenario: str = DEFAULT_SCENARIO, seed: int = 0) -> SyntheticCohort:
    """Outcomes of a draw under a scenario; the same random numbers for every scenario of the seed."""
    truth = scenario_log_hazards(drawn.patients, scenario)
    rng = np.random.default_rng([seed, 1])
    table = drawn.clinical.join(_draw_outcomes(rng, truth, drawn.clinical))
    table["relevant_notes"] = ""
    curves = true_survival(truth, np.array([0.0, ORACLE_HORIZON_MONTHS]))
    for endpoint, curve in curves.items():
        truth[f"true_risk_{endpoint}"] = 1 - curve[:, 1]
    patients = drawn.patients.join(truth)
    patients.index.name = "patient_id"
    return SyntheticCohort(table.reindex(columns=clinical.COLUMNS[1:]), patients, drawn.tumours, drawn.vessels)


def generate(n_patients: int = 197, seed: int = 0, scenario: str = DEFAULT_SCENARIO) -> SyntheticCohort:
    """Draw a cohort of `n_patients` under `scenario` (see the module docstring)."""
    return assign_outcomes(draw_patients(n_patients, seed), scenario, seed)


def write_latents(cohort: SyntheticCohort, directory: Path) -> None:
    """Save the latent anatomy (the artefact the CT renderer reads) as three CSV tables."""
    directory.mkdir(parents=True, exist_ok=True)
    cohort.patients.to_csv(directory / "patients.csv")
    cohort.tumours.to_csv(directory / "tumours.csv", index=False)
    cohort.vessels.to_csv(directory / "vessels.csv", index=False)

