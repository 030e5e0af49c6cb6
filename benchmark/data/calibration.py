"""What the synthetic generator takes from the real MSKCC cohort, fitted once per process.

From the shipped release table of 197 patients and the segmentation volumes of 50 of them
(benchmark.data.mskcc):
  - the clinical columns: a Gaussian copula over the real marginals and rank correlations
    (benchmark.data.copula), with the real rows' missing-value patterns to copy;
  - the hazards of an illness-death model, three proportional-hazards transitions (recurrence, death
    without recurrence, death after recurrence) fitted on the standardised real covariates
    (benchmark.data.hazards: ridge-penalised Cox coefficients, Breslow baseline); the share of
    recurrences that count for liver DFS; the follow-up (censoring) distribution, the reverse
    Kaplan-Meier of the real OS;
  - the anatomy's distributions: log liver volume, the tumour count given multiple_metastases
    (shifted negative binomial by moments), the log-ratio of the largest tumour's equivalent-sphere
    diameter to max_tumor_size in the single-lesion patients, the CT z coverage.
The check of a drawn cohort against the real one is benchmark.reporting.calibration.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from benchmark.data import mskcc
from benchmark.data.copula import GaussianCopula
from benchmark.data.hazards import Transition

#: Drawn by the copula; the derived columns (strata, flags) follow from them as in the real table.
DRAWN_COLUMNS = ["age", "sex", "major_comorbidity", "body_mass_index", "node_positive_primary",
                 "synchronous_crlm", "multiple_metastases", "clinrisk_score", "carcinoembryonic_antigen",
                 "max_tumor_size", "bilobar_disease", "extrahep_disease", "chemo_before_liver_resection",
                 "preoperative_pve", "steatosis_yesno", "presence_sinusoidal_dilata", "NASH_score",
                 "total_response_percent", "necrosis_percent", "fibrosis_percent", "mucin_percent"]
#: Death without recurrence: 7 real events, too few for more than the two obvious covariates.
DEATH_COLUMNS = ["age", "major_comorbidity"]


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


def design(table: pd.DataFrame, columns: list[str], cal_centre: pd.Series, cal_spread: pd.Series) -> np.ndarray:
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
    real = mskcc.read_clinical()
    volumes = mskcc.read_segmentation_volumes().join(real[["max_tumor_size", "multiple_metastases"]])
    drawn = real[DRAWN_COLUMNS]
    centre, spread, fill = drawn.mean(), drawn.std().replace(0, 1.0), drawn.median()
    filled = drawn.fillna(fill)
    x = design(filled, DRAWN_COLUMNS, centre, spread)
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
        death=Transition.fit(design(filled, DEATH_COLUMNS, centre, spread), dfs_time, died_first),
        post_recurrence=Transition.fit(x[after], post_time, real["vital_status"].to_numpy(int)[after]),
        liver_share=float(real["progression_or_recurrence_liveronly"].sum() / recurred.sum()),
        follow_up=_reverse_kaplan_meier(real["overall_survival_months"].to_numpy(float),
                                        real["vital_status"].to_numpy(int)),
        liver_log_ml=(float(np.log(volumes["liver_ml"]).mean()), float(np.log(volumes["liver_ml"]).std())),
        count_negbin={int(flag): value for flag, value in counts.items()},
        diameter_log_ratio=(float(log_ratio.mean()), float(log_ratio.std())),
        coverage_mm=(float(coverage.mean()), float(coverage.std())),
    )
