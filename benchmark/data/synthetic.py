"""The embedded default: a synthetic CRLM cohort drawn to resemble the real MSKCC cohort.

A draw (`draw_patients`) takes its clinical covariates from a copula fitted on the real table, with
the real missingness (each patient copies the missing-value pattern of a random real patient), and
its anatomy from benchmark.data.anatomy; both are calibrated on the real data by
benchmark.data.calibration. The hazard is an illness-death model with three proportional-hazards
transitions (recurrence, death without recurrence, death after recurrence): the clinical linear
predictors are the real fits' coefficients on the standardised covariates, scaled by CLINICAL_SCALE
and CLINICAL_SCALE_POST for recurrence and post-recurrence death (CLINICAL_SCALE_ALONE in the `clinical`
scenario, where nothing else carries the hazard).

The CT carries texture apart from the anatomy: each patient's tumours and liver parenchyma have a
heterogeneous enhancement of their own amplitude (the texture latents, drawn from a stream of their own),
which the renderer adds to the HU. A hazard scenario (benchmark.data.scenarios) adds an image term: the
scenario's image score, standardised on a reference draw (REFERENCE_DRAW), times IMAGE_STRENGTH (recurrence)
and IMAGE_STRENGTH_POST (death after recurrence). The default's image term is a sum of log hazard ratios:
burden (largest lesion, lesion count) and texture at their published sizes, with each draw's coefficients
drawn from the published intervals (`Coefficients`), and the spatial and distribution terms, which have no
published size, scaled to fill the rest of IMAGE_STRENGTH. These two strengths are set from the published
anchors, not from any method's results: on a large draw of the default scenario at the central coefficients
the true risk ranks DFS with C = 0.714 and OS with C = 0.755, what CT + clinical models reported on this
cohort. Outcomes
(`assign_outcomes`) are drawn by inverting each transition's survival, censored by the real
follow-up distribution; the scenarios of one draw share its patients, anatomy and clinical
covariates, and their outcomes the same random numbers (common random numbers), so differences
between scenarios are differences of hazard. `true_survival` integrates the model for the oracle.

The anatomy is saved as three CSV tables (patients, tumours, vessels) so that the imaging module
renders CTs from exactly the geometry that drove the hazard. Times are months.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data import clinical
from benchmark.data.anatomy import draw_anatomy
from benchmark.data.calibration import DEATH_COLUMNS, DRAWN_COLUMNS, Calibration, calibration, design
from benchmark.data.scenarios import DEFAULT_SCENARIO, RESCALED, SCENARIOS

#: The image term's strength (log hazard ratio per reference sd of the scenario's image score).
IMAGE_STRENGTH = 0.90
IMAGE_STRENGTH_POST = 0.70
#: The clinical coefficients' scale: the ridge fit's direction, scaled so that clinical Cox-PH
#: scores on the default scenario what it scores on the real table (5 x 5 CV C-index).
CLINICAL_SCALE = 0.20
CLINICAL_SCALE_POST = 0.20
#: The scale of the `clinical` scenario, whose hazard is the clinical one alone, for both transitions: set so
#: that clinical Cox-PH scores there what it scores on the real table. On 40 development draws (cohort seeds
#: 300-339, n = 197, 5 x 5 CV; seeds no table draws) Cox-PH reaches DFS 0.599 and OS 0.618 (real: 0.596, 0.618);
#: at 0.20 it reached about 0.52 and 0.55.
CLINICAL_SCALE_ALONE = 0.85
#: The default scenario's image term, in log hazard ratios of recurrence: the terms with published sizes at those
#: sizes, with coefficients drawn per draw from their published intervals (`Coefficients`).
#: Burden: largest lesion and lesion count. The largest diameter's log-HR per log cm is the real MSKCC table's own:
#: a Cox fit of DFS on log(max_tumor_size) and multiple_metastases (197 patients) gives 0.429, 95 % CI
#: 0.176-0.682 (HR 1.54 per e-fold, 1.19-1.98), drawn normal (se 0.129) within that interval. The count's, against
#: a single lesion, from Wang et al. (World J Surg Oncol 2022, doi:10.1186/s12957-022-02700-4; 1,095 resected
#: patients; 3- and 5-year OS 64.1 / 58.1 / 50.9 % and 54.0 / 41.7 / 32.0 % for 1 / 2-4 / >= 5 lesions), as the
#: proportional-hazards ratios those rates imply, log S(t) / log S1(t), at 3 and at 5 years: HR 1.22-1.42 for
#: 2-4 lesions and 1.52-1.85 for five or more, drawn uniformly on the log scale within each. (The tumour burden
#: score of Sasaki et al. combines the same two quantities.)
BURDEN_SIZE_LOG_HR = (0.429, 0.129, (0.176, 0.682))        # (mean, se, 95 % interval) per log cm
BURDEN_COUNT_LOG_HR = {"two_to_four": (np.log(1.22), np.log(1.42)), "five_or_more": (np.log(1.52), np.log(1.85))}
#: Texture: log-HR per sd of the texture score. Beckers et al. (Eur J Radiol 2018;102:15-21, 70 CRLM patients)
#: report HR 1.90 (p = 0.07, multivariable) for overall survival by the metastases-to-liver entropy ratio, read
#: here as above against below the median (1.6 sd apart): log(1.90) / 1.6 = 0.40 per sd, se 0.22 (from the p
#: value), drawn normal within its 95 % interval, floored at 0 (a p of 0.07 does not fix the sign, the direction
#: does: Beckers' and the radiomics studies' texture goes with shorter survival).
TEXTURE_LOG_HR = (0.40, 0.22, (0.0, 0.84))
#: Spatial and distribution terms have no published per-sd size: they share one scale, set so that the default's
#: image term has sd IMAGE_STRENGTH on the reference draw (central coefficients), which keeps the oracle at the
#: published anchors; the distribution term at half the spatial one's weight.
UNPUBLISHED_WEIGHTS = pd.Series({"spatial": 1.0, "distribution": 0.5})
#: The distribution score: the worst lesion, its size times its closeness to a vessel (a large lesion on a
#: major vessel: the margin that fails), plus how far apart the lesions lie (scattered disease), plus the log
#: count of lesion pairs closer than anatomy.CLUSTER_DISTANCE_MM (clustered disease; anatomy.draw_anatomy
#: measures all three). No per-patient sum or mean of the morphometry table is any of them: they are a maximum
#: over lesions of a product, a mean over lesion pairs and a count of pairs. The clustering weight is the one at
#: which the morphometry and radiomics tables explain less than 0.9 of the scenario (docs/synthetic.md).
DISTRIBUTION_DISPERSION_WEIGHT, DISPERSION_SCALE_MM = 0.5, 20.0
DISTRIBUTION_CLUSTERING_WEIGHT = 2.0
#: Texture latents (HU sd of the heterogeneous enhancement rendered into the CT, benchmark.data.imaging.phantom):
#: log-normal (median, sd of the log) for the tumours and for the liver parenchyma, each drawn apart from the
#: anatomy and the clinical covariates, so no volume, distance or clinical column can stand in for them.
TUMOUR_TEXTURE_HU = (18.0, 0.5)
PARENCHYMA_TEXTURE_HU = (8.0, 0.5)
#: The texture score: the tumours' heterogeneity relative to the liver's (Beckers et al. 2018: a higher
#: metastases-to-liver entropy ratio with extensive disease and shorter survival), plus that of the parenchyma
#: the remnant is made of (radiomics of the residual parenchyma carried recurrence prediction after CRLM
#: resection in an externally validated cohort of 66 + 47 patients; Simpson et al., J Am Coll Surg 2015: its
#: texture differed in patients with post-operative liver insufficiency). Weights on the logs of the latents.
TEXTURE_WEIGHTS = {"tumour_texture_hu": 1.0, "parenchyma_texture_hu": 0.5}
ORACLE_HORIZON_MONTHS = 36.0
REFERENCE_DRAW = (4000, 20240617)   # (patients, seed) of the draw that standardises the image scores
#: Bumped whenever a change to the generator (this module, anatomy, calibration) changes the drawn
#: cohort, so cached trees are redrawn.
GENERATOR_VERSION = 8


@dataclass(frozen=True)
class SyntheticCohort:
    """The drawn cohort: the clinical table plus the three latent anatomy tables."""

    clinical: pd.DataFrame   # TCIA columns, indexed by Patient-ID (outcomes once assigned)
    patients: pd.DataFrame   # one row per patient: anatomy, image scores, clinical log hazards, truth
    tumours: pd.DataFrame    # one row per tumour
    vessels: pd.DataFrame    # one row per vessel centreline segment
    coefficients: Coefficients | None = None   # the draw's published coefficients (once drawn)


def patient_ids(n: int) -> list[str]:
    """TCIA-style ids CRLM-CT-1001.. skipping 1024, which is absent from the real release."""
    numbers = [k for k in range(1001, 1001 + n + 1) if k != 1024][:n]
    return [f"CRLM-CT-{k}" for k in numbers]


def _draw_covariates(rng: np.random.Generator, n: int, cal: Calibration) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(latent, observed) clinical covariates: the observed table has the real missingness."""
    latent = cal.copula.sample(n, rng)
    patterns = cal.missing_patterns.iloc[rng.integers(len(cal.missing_patterns), size=n)].reset_index(drop=True)
    return latent, latent.mask(patterns)


@dataclass(frozen=True)
class Coefficients:
    """The published coefficients of the default's image term, for one draw (log hazard ratios of recurrence)."""

    size_per_log_cm: float    # largest lesion diameter, per log cm
    two_to_four: float        # 2-4 lesions against one
    five_or_more: float       # five or more against one
    texture_per_sd: float     # per reference sd of the texture score

    @classmethod
    def central(cls) -> Coefficients:
        """The published point estimates (the middle of each interval on the log scale)."""
        return cls(BURDEN_SIZE_LOG_HR[0], *(float(np.mean(BURDEN_COUNT_LOG_HR[k])) for k in BURDEN_COUNT_LOG_HR),
                   TEXTURE_LOG_HR[0])

    @classmethod
    def draw(cls, seed: int) -> Coefficients:
        """A draw's coefficients, from a stream of their own: each within its published 95 % interval."""
        rng = np.random.default_rng([seed, 3])

        def within(mean, se, interval):
            return float(np.clip(rng.normal(mean, se), *interval))
        return cls(within(*BURDEN_SIZE_LOG_HR),
                   *(float(rng.uniform(*BURDEN_COUNT_LOG_HR[k])) for k in BURDEN_COUNT_LOG_HR),
                   within(*TEXTURE_LOG_HR))


def _raw_image_scores(anatomy: pd.DataFrame, coefficients: Coefficients) -> pd.DataFrame:
    """Unstandardised image scores per scenario: what the CT shows that the hazard may use (burden in log-HR)."""
    n = anatomy["n_tumours"]
    burden = (coefficients.size_per_log_cm * np.log(anatomy["max_diameter_mm"] / 10)
              + coefficients.two_to_four * n.between(2, 4) + coefficients.five_or_more * (n >= 5))
    spatial = (np.log1p(anatomy["vessel_contact"]) + 1.5 * anatomy["lobe_spread"]
               - 3.0 * anatomy["remnant_fraction"])
    texture = sum(weight * np.log(anatomy[column]) for column, weight in TEXTURE_WEIGHTS.items())
    distribution = (np.log(0.05 + anatomy["worst_lesion_vessel"])
                    + DISTRIBUTION_DISPERSION_WEIGHT * np.log1p(anatomy["lesion_dispersion_mm"] / DISPERSION_SCALE_MM)
                    + DISTRIBUTION_CLUSTERING_WEIGHT * np.log1p(anatomy["close_lesion_pairs"]))
    return pd.DataFrame({"burden": burden, "spatial": spatial, "texture": texture, "distribution": distribution},
                        index=anatomy.index)


@dataclass(frozen=True)
class _Reference:
    mean: pd.Series              # raw scores on the reference draw, central coefficients
    sd: pd.Series
    unpublished_scale: float     # log-HR per unit of the UNPUBLISHED_WEIGHTS combination


@lru_cache(maxsize=1)
def _score_reference() -> _Reference:
    """The raw scores' mean and sd on the reference draw, and the scale of the unpublished terms that gives the
    default's image term sd IMAGE_STRENGTH there (the positive root of var(published + s * unpublished))."""
    n, seed = REFERENCE_DRAW
    scores = _raw_image_scores(_draw(n, seed).patients, Coefficients.central())
    mean, sd = scores.mean(), scores.std()
    published = _published_log_hazard(scores, mean, sd, Coefficients.central())
    unpublished = ((scores - mean) / sd)[UNPUBLISHED_WEIGHTS.index] @ UNPUBLISHED_WEIGHTS
    a, b, c = unpublished.var(), 2 * published.cov(unpublished), published.var() - IMAGE_STRENGTH ** 2
    if c >= 0:
        raise ValueError("the published terms alone exceed IMAGE_STRENGTH: no room for the unpublished ones")
    return _Reference(mean, sd, float((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)))


def _published_log_hazard(scores: pd.DataFrame, mean: pd.Series, sd: pd.Series,
                          coefficients: Coefficients) -> pd.Series:
    """Burden (already in log-HR, centred on the reference) plus texture at its published log-HR per sd."""
    return (scores["burden"] - mean["burden"]
            + coefficients.texture_per_sd * (scores["texture"] - mean["texture"]) / sd["texture"])


def image_scores(anatomy: pd.DataFrame, coefficients: Coefficients) -> pd.DataFrame:
    """The image term of each scenario in reference sd units (clinical and null: zero; a rescaled scenario
    reads its base scenario's). The default's is its log hazard in units of IMAGE_STRENGTH, so that the
    recurrence hazard carries the published log-HRs as they are."""
    ref = _score_reference()
    raw = _raw_image_scores(anatomy, coefficients)
    standard = (raw - ref.mean) / ref.sd
    mixed = (_published_log_hazard(raw, ref.mean, ref.sd, coefficients)
             + ref.unpublished_scale * standard[UNPUBLISHED_WEIGHTS.index] @ UNPUBLISHED_WEIGHTS)
    return pd.DataFrame({"clinical": 0.0, "burden": standard["burden"], "spatial": standard["spatial"],
                         "texture": standard["texture"], "distribution": standard["distribution"],
                         "mixed": mixed / IMAGE_STRENGTH, "null": 0.0},
                        index=anatomy.index)


def _draw_texture(seed: int, n: int) -> pd.DataFrame:
    """The texture latents of a draw, from a stream of their own (the anatomy's draws stay as they were)."""
    rng = np.random.default_rng([seed, 2])
    return pd.DataFrame({column: median * np.exp(rng.normal(0.0, sd, n))
                         for column, (median, sd) in (("tumour_texture_hu", TUMOUR_TEXTURE_HU),
                                                      ("parenchyma_texture_hu", PARENCHYMA_TEXTURE_HU))})


def _draw(n_patients: int, seed: int) -> SyntheticCohort:
    """Patients, anatomy and clinical covariates of one draw (no outcomes, no scenario)."""
    cal = calibration()
    rng = np.random.default_rng(seed)
    ids = patient_ids(n_patients)
    latent, observed = _draw_covariates(rng, n_patients, cal)
    drawn = [draw_anatomy(rng, pid, latent.iloc[k], cal) for k, pid in enumerate(ids)]
    anatomy = pd.DataFrame([patient for patient, _, _ in drawn]).set_index("patient_id")
    anatomy[["tumour_texture_hu", "parenchyma_texture_hu"]] = _draw_texture(seed, n_patients).to_numpy()
    tumours = pd.DataFrame([t for _, ts, _ in drawn for t in ts])
    vessels = pd.DataFrame([v for _, _, vs in drawn for v in vs])
    filled = latent.fillna(cal.fill)
    x = design(filled, DRAWN_COLUMNS, cal.centre, cal.spread)
    anatomy["clinical_lp_recurrence"] = CLINICAL_SCALE * (x @ cal.recurrence.beta)
    anatomy["clinical_lp_death"] = design(filled, DEATH_COLUMNS, cal.centre, cal.spread) @ cal.death.beta
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


def draw_patients(n_patients: int = 197, seed: int = 0, coefficients: Coefficients | None = None) -> SyntheticCohort:
    """One draw: n patients with anatomy, clinical covariates and every scenario's image score, under the
    draw's own coefficients unless `coefficients` are given (e.g. Coefficients.central())."""
    drawn = _draw(n_patients, seed)
    coefficients = coefficients or Coefficients.draw(seed)
    patients = drawn.patients.join(image_scores(drawn.patients, coefficients).add_prefix("image_score_"))
    return replace(drawn, patients=patients, coefficients=coefficients)


def scenario_log_hazards(patients: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The true linear predictors of the three transitions under a scenario."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r} ({', '.join(SCENARIOS)})")
    if scenario == "null":
        zeros = np.zeros(len(patients))
        return pd.DataFrame({"true_lp_recurrence": zeros, "true_lp_death": zeros, "true_lp_post": zeros},
                            index=patients.index)
    scenario, factor = RESCALED.get(scenario, (scenario, 1.0))
    image = factor * patients[f"image_score_{scenario}"]
    alone = scenario == "clinical"
    recurrence = CLINICAL_SCALE_ALONE / CLINICAL_SCALE if alone else 1.0
    post = CLINICAL_SCALE_ALONE / CLINICAL_SCALE_POST if alone else 1.0
    return pd.DataFrame({
        "true_lp_recurrence": recurrence * patients["clinical_lp_recurrence"] + IMAGE_STRENGTH * image,
        "true_lp_death": patients["clinical_lp_death"],
        "true_lp_post": post * patients["clinical_lp_post"] + IMAGE_STRENGTH_POST * image,
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
    return SyntheticCohort(table.reindex(columns=clinical.COLUMNS[1:]), patients, drawn.tumours, drawn.vessels,
                           drawn.coefficients)


def generate(n_patients: int = 197, seed: int = 0, scenario: str = DEFAULT_SCENARIO) -> SyntheticCohort:
    """Draw a cohort of `n_patients` under `scenario` (see the module docstring)."""
    return assign_outcomes(draw_patients(n_patients, seed), scenario, seed)


def write_latents(cohort: SyntheticCohort, directory: Path) -> None:
    """Save the latent anatomy (the artefact the CT renderer reads) as three CSV tables, and the draw's
    coefficients as JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    if cohort.coefficients is not None:
        (directory / "coefficients.json").write_text(json.dumps(asdict(cohort.coefficients), indent=1) + "\n")
    cohort.patients.to_csv(directory / "patients.csv")
    cohort.tumours.to_csv(directory / "tumours.csv", index=False)
    cohort.vessels.to_csv(directory / "vessels.csv", index=False)

