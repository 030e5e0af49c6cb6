"""Calibration checks: does the default synthetic draw look like the real MSKCC cohort?

Results on `crlm-synthetic` speak for the disease only as far as its cohort resembles the real one,
so this module sets the default draw (``synthetic.generate(197, seed=0)``, the clinical table the
default cohort holds) beside the shipped real table, one row per check: clinical marginals
(two-sample Kolmogorov–Smirnov), CEA missingness, event rates and Kaplan–Meier medians, univariate
Harrell C-indices, the anatomy against the 50 real segmentations, and the clinical Cox model's
cross-validated C-index read from the main tables of the results root. Each check has a tolerance sized by the
sampling noise of cohorts of these sizes (`TOLERANCES`). `benchmark.reporting.calibration_report` writes
the table and its figures.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, spearmanr
from sksurv.nonparametric import kaplan_meier_estimator

from benchmark.data import clinical, synthetic
from benchmark.data import mskcc as real_tables
from benchmark.datasets import DEFAULT_DATASET, mskcc
from benchmark.scoring.metrics import harrell_c

#: The largest gap each check allows; the table and its test read these same numbers. Each is about
#: two standard errors of the statistic at these sizes, stricter where said (bootstrap of the real
#: table; the generator is fitted to the real sample, so a well calibrated draw differs from it by
#: about its own noise):
TOLERANCES = {
    # two-sample KS at n = m = 197: critical values 0.137 (p = 0.05) and 0.164 (p = 0.01)
    "marginal_ks": 0.15,
    # CEA missing in 29 of 197 real patients: SE 0.026
    "missing_fraction": 0.05,
    # event rates 0.54-0.70: SE 0.031-0.034
    "event_rate": 0.07,
    # KM median, relative: SE 10 % (OS), 14 % (liver DFS), 18 % (DFS: the strictest of the three)
    "km_median": 0.25,
    # univariate Harrell C of one column: SE 0.021-0.033
    "univariate_c": 0.07,
    # mean liver volume of the 50 segmented patients: relative SE 4 %
    "liver_volume_mean": 0.10,
    # medians and sd of n = 50, relative SE 18-22 %: about 1.5 SE, a strict check (and the tumour
    # count median, an integer, has to match exactly)
    "anatomy_relative": 0.30,
    # extremes of 50 patients (tumour count max, tumour volume min), |log2 ratio|: the synthetic's
    # extreme over random 50-patient subsets spans about a factor of 2 either side of its median
    "anatomy_extreme": 1.0,
    # Spearman(tumour volume, max_tumor_size) = 0.92 on the 50 real patients: SE 0.03
    "spearman": 0.10,
    # 5x5 CV Cox C, the calibration target itself: the generator's clinical scale is set so that the
    # expected value over draws matches the real one (tests/test_synthetic.py holds it within 0.03 over
    # six draws); one draw varies about it with SE ~0.03, so this row may miss by chance alone
    "cox_c": 0.03,
}
#: Row kinds in table order, with their headings.
KINDS = {"marginal": "Clinical marginals", "missingness": "Missingness", "outcome": "Outcomes",
         "univariate_c": "Univariate C-index", "anatomy": "Anatomy (real: 50 segmentations)",
         "cox_c": "Clinical Cox-PH C-index (5x5 CV, pre-operative)"}
#: How each statistic is computed, as the Markdown table names it (every one an absolute value).
MEASURES = {"ks": "KS", "difference": "Δ", "relative": "Δ/real", "log2_ratio": "log2 ratio"}
DRAW_SIZE, DRAW_SEED = 197, 0
MARGINAL_COLUMNS = clinical.FEATURE_SETS["preoperative"] + clinical.PATHOLOGY_FEATURES
MAIN_COLUMNS = ["max_tumor_size", "carcinoembryonic_antigen", "clinrisk_score", "node_positive_primary",
                "multiple_metastases", "bilobar_disease", "age"]
MISSINGNESS_COLUMNS = ["carcinoembryonic_antigen"]
C_ENDPOINTS = ("os", "dfs")
ANATOMY_CHECKS = ["liver_volume_mean", "liver_volume_sd", "tumour_count_median", "tumour_count_max",
                  "tumour_volume_median", "tumour_volume_min", "spearman_volume_size"]
N_SUBSETS = 200


def check_row(kind: str, check: str, quantity: str, real: float, synthetic_value: float, statistic: float,
              measure: str, tolerance_key: str, note: str = "", real_missing: float = np.nan,
              synthetic_missing: float = np.nan) -> dict:
    """One table row; `within` is NA where the statistic is unavailable (the reason in `note`), so a
    check that could not be made is never counted as failed."""
    limit = TOLERANCES[tolerance_key]
    within = pd.NA if np.isnan(statistic) else bool(statistic <= limit)
    return {"kind": kind, "check": check, "quantity": quantity, "real": real, "synthetic": synthetic_value,
            "statistic": statistic, "measure": measure, "tolerance": limit, "within": within,
            "real_missing": real_missing, "synthetic_missing": synthetic_missing, "note": note}


def relative_difference(real: float, synthetic_value: float) -> float:
    """|synthetic − real| / |real|; infinite when only one side exists (a median one curve never reaches)."""
    if np.isnan(real) or np.isnan(synthetic_value):
        return 0.0 if np.isnan(real) and np.isnan(synthetic_value) else np.inf
    return abs(synthetic_value - real) / abs(real)


def is_binary(values: pd.Series) -> bool:
    """Two values (sex, coded 1/2, included): summarised by the mean, a share, since a median hides it."""
    return values.dropna().nunique() <= 2


def ks_statistic(real: pd.Series, synthetic_values: pd.Series) -> float:
    return float(ks_2samp(real.dropna(), synthetic_values.dropna()).statistic)


def marginal_rows(real: pd.DataFrame, synthetic_table: pd.DataFrame) -> list[dict]:
    """Each pre-operative and pathology column: mean (binary) or median, missing fractions and KS."""
    rows = []
    for column in MARGINAL_COLUMNS:
        summary = "mean" if is_binary(real[column]) else "median"
        rows.append(check_row(
            "marginal", f"marginal/{column}", f"{column} ({summary})", getattr(real[column], summary)(),
            getattr(synthetic_table[column], summary)(), ks_statistic(real[column], synthetic_table[column]),
            "ks", "marginal_ks", real_missing=real[column].isna().mean(),
            synthetic_missing=synthetic_table[column].isna().mean()))
    return rows


def missingness_rows(real: pd.DataFrame, synthetic_table: pd.DataFrame) -> list[dict]:
    rows = []
    for column in MISSINGNESS_COLUMNS:
        fractions = real[column].isna().mean(), synthetic_table[column].isna().mean()
        rows.append(check_row("missingness", f"missingness/{column}", f"{column} missing (fraction of rows)",
                              *fractions, abs(fractions[1] - fractions[0]), "difference", "missing_fraction"))
    return rows


def kaplan_meier(table: pd.DataFrame, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
    time, event = clinical.ENDPOINTS[endpoint]
    return kaplan_meier_estimator(table[event].astype(bool).to_numpy(), table[time].to_numpy())


def km_median(table: pd.DataFrame, endpoint: str) -> float:
    """First time the Kaplan–Meier survival is at or below 0.5 (months); NaN if it never gets there."""
    times, survival = kaplan_meier(table, endpoint)
    reached = survival <= 0.5
    return float(times[reached][0]) if reached.any() else np.nan


def outcome_rows(real: pd.DataFrame, synthetic_table: pd.DataFrame) -> list[dict]:
    rows = []
    for endpoint, (_, event) in clinical.ENDPOINTS.items():
        rates = real[event].mean(), synthetic_table[event].mean()
        rows.append(check_row("outcome", f"outcome/{endpoint}/event_rate", f"{endpoint} event rate", *rates,
                              abs(rates[1] - rates[0]), "difference", "event_rate"))
        medians = km_median(real, endpoint), km_median(synthetic_table, endpoint)
        never = [side for side, value in zip(("real", "synthetic"), medians) if np.isnan(value)]
        rows.append(check_row("outcome", f"outcome/{endpoint}/km_median", f"{endpoint} KM median (months)",
                              *medians, relative_difference(*medians), "relative", "km_median",
                              note=f"{' and '.join(never)} survival never falls to 0.5" if never else ""))
    return rows


def column_c(table: pd.DataFrame, column: str, endpoint: str) -> float:
    """Harrell's C of the column's value as the risk score, patients lacking the value left out."""
    time, event = clinical.ENDPOINTS[endpoint]
    known = table[table[column].notna()]
    return harrell_c(known[event].astype(bool).to_numpy(), known[time].to_numpy(), known[column].to_numpy())

def univariate_rows(real: pd.DataFrame, synthetic_table: pd.DataFrame) -> list[dict]:
    rows = []
    for endpoint in C_ENDPOINTS:
        for column in MAIN_COLUMNS:
            values = column_c(real, column, endpoint), column_c(synthetic_table, column, endpoint)
            rows.append(check_row("univariate_c", f"univariate_c/{endpoint}/{column}", f"C {column} ({endpoint})",
                                  *values, abs(values[1] - values[0]), "difference", "univariate_c"))
    return rows


def real_anatomy(volumes: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """The segmented patients' liver volume, tumour count and volume, with their clinical max size."""
    frame = volumes.rename(columns={"liver_ml": "liver_volume_ml", "n_tumour_segments": "n_tumours",
                                    "tumour_ml": "total_tumour_volume_ml"})
    return frame.join(real["max_tumor_size"], how="inner")


def synthetic_anatomy(patients: pd.DataFrame, synthetic_table: pd.DataFrame) -> pd.DataFrame:
    return patients.join(synthetic_table["max_tumor_size"], how="inner")


def subset_extreme(values: pd.Series, size: int, extreme: str) -> float:
    """Median of the max or min over random `size`-patient subsets: an extreme grows with the sample,
    so the synthetic one is taken at the real sample's size."""
    rng = np.random.default_rng(0)
    size = min(size, len(values))
    return float(np.median([getattr(rng.choice(values.to_numpy(), size, replace=False), extreme)()
                            for _ in range(N_SUBSETS)]))


def anatomy_rows(real: pd.DataFrame, drawn: pd.DataFrame) -> list[dict]:
    """`real` and `drawn` from `real_anatomy` and `synthetic_anatomy`; ANATOMY_CHECKS in order."""
    def relative(check, quantity, column, summary, tolerance_key):
        values = getattr(real[column], summary)(), getattr(drawn[column], summary)()
        return check_row("anatomy", f"anatomy/{check}", quantity, *values, relative_difference(*values),
                         "relative", tolerance_key)

    def extreme(check, quantity, column, summary):
        values = getattr(real[column], summary)(), subset_extreme(drawn[column], len(real), summary)
        return check_row("anatomy", f"anatomy/{check}", quantity, *values, abs(np.log2(values[1] / values[0])),
                         "log2_ratio", "anatomy_extreme",
                         note=f"synthetic: median {summary} over {N_SUBSETS} random {len(real)}-patient subsets")

    def spearman(table):
        return float(spearmanr(table["total_tumour_volume_ml"], table["max_tumor_size"]).statistic)

    correlations = spearman(real), spearman(drawn)
    return [
        relative("liver_volume_mean", "liver volume mean (ml)", "liver_volume_ml", "mean", "liver_volume_mean"),
        relative("liver_volume_sd", "liver volume sd (ml)", "liver_volume_ml", "std", "anatomy_relative"),
        relative("tumour_count_median", "tumour count median", "n_tumours", "median", "anatomy_relative"),
        extreme("tumour_count_max", "tumour count max", "n_tumours", "max"),
        relative("tumour_volume_median", "total tumour volume median (ml)", "total_tumour_volume_ml", "median",
                 "anatomy_relative"),
        extreme("tumour_volume_min", "total tumour volume min (ml)", "total_tumour_volume_ml", "min"),
        check_row("anatomy", "anatomy/spearman_volume_size", "Spearman(total tumour volume, max_tumor_size)",
                  *correlations, abs(correlations[1] - correlations[0]), "difference", "spearman"),
    ]


def committed_cox_c(root: Path, dataset: str, endpoint: str) -> float:
    """The coxph Harrell C of a committed 5x5 CV pre-operative main table; NaN when it is not there."""
    path = Path(root) / "tables" / f"{dataset}__{endpoint}__cv__preoperative__main.csv"
    if not path.is_file():
        return np.nan
    table = pd.read_csv(path)
    values = table.loc[table["method"] == "coxph", "cindex_harrell_mean"]
    return float(values.iloc[0]) if len(values) else np.nan


def cox_rows(root: Path) -> list[dict]:
    rows = []
    for endpoint in C_ENDPOINTS:
        names = {"real": mskcc.NAME, "synthetic": DEFAULT_DATASET}
        values = {side: committed_cox_c(root, name, endpoint) for side, name in names.items()}
        note = "; ".join(f"not run: python -m benchmark run -d {names[side]} --endpoint {endpoint} -m coxph"
                         for side, value in values.items() if np.isnan(value))
        rows.append(check_row("cox_c", f"cox_c/{endpoint}", f"Cox-PH C ({endpoint})", values["real"],
                              values["synthetic"], abs(values["synthetic"] - values["real"]), "difference",
                              "cox_c", note=note))
    return rows


@cache
def default_inputs() -> tuple[pd.DataFrame, synthetic.SyntheticCohort, pd.DataFrame]:
    """The shipped real clinical table, the default draw (the one the default `crlm-synthetic` cohort
    is made of) and the real segmentation volumes; loaded once, so the table and figures share them."""
    return (real_tables.read_clinical(), synthetic.generate(DRAW_SIZE, seed=DRAW_SEED),
            real_tables.read_segmentation_volumes())


def calibration_table(root: Path, draw: synthetic.SyntheticCohort | None = None) -> pd.DataFrame:
    """Every check, rows grouped by kind; the Cox rows read the main tables under `root`.

    draw: the synthetic cohort set beside the real one (default: the default draw).
    """
    real, default_draw, volumes = default_inputs()
    draw = default_draw if draw is None else draw
    rows = (marginal_rows(real, draw.clinical) + missingness_rows(real, draw.clinical)
            + outcome_rows(real, draw.clinical) + univariate_rows(real, draw.clinical)
            + anatomy_rows(real_anatomy(volumes, real), synthetic_anatomy(draw.patients, draw.clinical))
            + cox_rows(root))
    table = pd.DataFrame(rows)
    table["within"] = table["within"].astype("boolean")
    return table


def within_text(table: pd.DataFrame) -> str:
    """'N of M checks within tolerance', with the unavailable ones counted apart."""
    available = table["within"].notna()
    text = f"{int(table['within'].sum())} of {int(available.sum())} calibration checks within tolerance"
    return text + (f" ({int((~available).sum())} not available)" if not available.all() else "")
