"""The TCIA CRLM clinical table: schema, codings, feature sets and a strict reader.

The reader is the single place where raw spreadsheet cells become numbers, so every
oddity of the real file (-999 as number or string, percentages stored as fractions in the
xlsx but written "90%" by a CSV export, an older 28-column release, the xlsx sheet or its
CSV export) is handled here, and every bad cell is reported by patient and column instead
of being coerced silently.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ID_COLUMN = "Patient-ID"
SHEET_NAME = "TCIA_n=197"
CLINICAL_FILENAME = "Colorectal-Liver-Metastases-Clinical-data-April-2023.xlsx"
MISSING_CODE = -999

#: The 36 columns of the April-2023 release, in order.
COLUMNS = [
    "Patient-ID", "De-identify Scout Name", "age", "sex", "major_comorbidity",
    "body_mass_index", "node_positive_primary", "synchronous_crlm", "multiple_metastases",
    "clinrisk_score", "clinrisk_stratified", "carcinoembryonic_antigen", "max_tumor_size",
    "bilobar_disease", "extrahep_disease", "chemo_before_liver_resection", "preoperative_pve",
    "steatosis_yesno", "presence_sinusoidal_dilata", "NASH_score", "NASH_yesno", "NASH_greater_4",
    "total_response_percent", "necrosis_percent", "fibrosis_percent",
    "fibrosis_greater_40_percent", "mucin_percent", "overall_survival_months", "vital_status",
    "progression_or_recurrence", "months_to_DFS_progression", "vital_status_DFS",
    "progression_or_recurrence_liveronly", "months_to_liver_DFS_progression",
    "vital_status_liver_DFS", "relevant_notes",
]
TEXT_COLUMNS = ["Patient-ID", "De-identify Scout Name", "relevant_notes"]
PERCENT_COLUMNS = ["total_response_percent", "necrosis_percent", "fibrosis_percent", "mucin_percent"]
BINARY_COLUMNS = [
    "major_comorbidity", "node_positive_primary", "synchronous_crlm", "multiple_metastases",
    "clinrisk_stratified", "bilobar_disease", "extrahep_disease", "chemo_before_liver_resection",
    "preoperative_pve", "steatosis_yesno", "presence_sinusoidal_dilata", "NASH_yesno",
    "NASH_greater_4", "fibrosis_greater_40_percent", "vital_status", "progression_or_recurrence",
    "vital_status_DFS", "progression_or_recurrence_liveronly", "vital_status_liver_DFS",
]
#: Allowed value ranges; a value outside is reported as a bad cell. The percentage columns hold
#: fractions (0.9 for 90 %), as the release xlsx stores them.
RANGES = {
    "age": (0, 120), "sex": (1, 2), "body_mass_index": (10, 80), "clinrisk_score": (0, 5),
    "carcinoembryonic_antigen": (0, 1e6), "max_tumor_size": (0, 50), "NASH_score": (0, 8),
    "overall_survival_months": (0, 400), "months_to_DFS_progression": (0, 400),
    "months_to_liver_DFS_progression": (0, 400),
    **{c: (0, 1) for c in PERCENT_COLUMNS}, **{c: (0, 1) for c in BINARY_COLUMNS},
}

#: Endpoint name -> (time column in months, event column with 1 = event).
ENDPOINTS = {
    "os": ("overall_survival_months", "vital_status"),
    "dfs": ("months_to_DFS_progression", "vital_status_DFS"),
    "liver_dfs": ("months_to_liver_DFS_progression", "vital_status_liver_DFS"),
}

#: Known before liver resection: the default feature set.
PREOPERATIVE_FEATURES = [
    "age", "sex", "major_comorbidity", "body_mass_index", "node_positive_primary",
    "synchronous_crlm", "multiple_metastases", "clinrisk_score", "clinrisk_stratified",
    "carcinoembryonic_antigen", "max_tumor_size", "bilobar_disease", "extrahep_disease",
    "chemo_before_liver_resection", "preoperative_pve",
]
#: Read off the resected specimen: leakage for a pre-operative prognosis, opt-in only.
PATHOLOGY_FEATURES = [
    "steatosis_yesno", "presence_sinusoidal_dilata", "NASH_score", "NASH_yesno", "NASH_greater_4",
    "total_response_percent", "necrosis_percent", "fibrosis_percent",
    "fibrosis_greater_40_percent", "mucin_percent",
]
FEATURE_SETS = {
    "preoperative": PREOPERATIVE_FEATURES,
    "postoperative": PREOPERATIVE_FEATURES + PATHOLOGY_FEATURES,
}
REQUIRED_COLUMNS = [ID_COLUMN, *PREOPERATIVE_FEATURES, *(c for pair in ENDPOINTS.values() for c in pair)]


class ClinicalTableError(ValueError):
    """A clinical file that cannot be read as the TCIA table; the message names file, patient, column."""


@dataclass(frozen=True)
class BadCell:
    patient_id: str
    column: str
    value: object
    reason: str

    def __str__(self) -> str:
        return f"{self.patient_id} / {self.column}: {self.value!r} ({self.reason})"


def _parse_cell(value: object, column: str) -> tuple[float, str | None]:
    """One raw cell -> (number or NaN, reason if the cell is bad).

    A percentage written as text ("90%", what a CSV export of the xlsx shows) is the fraction the
    xlsx stores (0.9), so both files give the same numbers.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan, None
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() in {"na", "nan", "n/a"}:
            return np.nan, None
        scale = 1.0
        if column in PERCENT_COLUMNS and text.endswith("%"):
            text, scale = text[:-1].strip(), 0.01
        try:
            number = float(text) * scale
        except ValueError:
            return np.nan, "not a number"
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
    else:
        return np.nan, f"unexpected type {type(value).__name__}"
    if number == MISSING_CODE:
        return np.nan, None
    low, high = RANGES.get(column, (-np.inf, np.inf))
    if not low <= number <= high:
        return np.nan, f"outside [{low:g}, {high:g}]"
    return number, None


def parse_clinical_frame(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate and convert a raw clinical frame; raises ClinicalTableError listing every bad cell."""
    raw = raw.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ClinicalTableError(f"{source}: missing column(s) {', '.join(missing)}")
    ids = raw[ID_COLUMN].astype(str).str.strip()
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise ClinicalTableError(f"{source}: duplicated {ID_COLUMN} {', '.join(duplicated)}")
    numeric_columns = [c for c in COLUMNS if c in raw.columns and c not in TEXT_COLUMNS]
    parsed = pd.DataFrame(index=pd.Index(ids, name=ID_COLUMN))
    bad: list[BadCell] = []
    for column in numeric_columns:
        values = []
        for pid, cell in zip(ids, raw[column]):
            number, reason = _parse_cell(cell, column)
            if reason:
                bad.append(BadCell(pid, column, cell, reason))
            values.append(number)
        parsed[column] = np.asarray(values, dtype=float)
    for column in ENDPOINTS.values():
        for name in column:
            for pid in parsed.index[parsed[name].isna()]:
                bad.append(BadCell(pid, name, raw.loc[ids == pid, name].iloc[0], "outcome missing"))
    if bad:
        listing = "\n  ".join(str(cell) for cell in bad[:50])
        more = f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else ""
        raise ClinicalTableError(f"{source}: {len(bad)} bad cell(s):\n  {listing}{more}")
    for column in ("De-identify Scout Name", "relevant_notes"):
        if column in raw.columns:
            parsed[column] = raw[column].astype("string").to_numpy()
    return parsed


def read_clinical_table(path: str | Path) -> pd.DataFrame:
    """Read the TCIA clinical xlsx (sheet ``TCIA_n=197``, or the first sheet; other sheets, such as the
    ``CRLM (n=168)`` a later re-save added, are ignored) or its CSV export."""
    path = Path(path)
    if not path.is_file():
        raise ClinicalTableError(f"{path}: clinical file not found")
    try:
        if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
            with pd.ExcelFile(path) as book:
                sheet = SHEET_NAME if SHEET_NAME in book.sheet_names else book.sheet_names[0]
                raw = pd.read_excel(book, sheet_name=sheet, dtype=object)
        else:
            raw = pd.read_csv(path, dtype=object, keep_default_na=False)
    except Exception as error:  # a truncated or non-tabular file
        raise ClinicalTableError(f"{path}: cannot be read as a table ({error})") from error
    return parse_clinical_frame(raw, str(path))


def write_clinical_xlsx(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table in the TCIA release format: all 36 columns, NaN coded -999."""
    out = table.reset_index().reindex(columns=COLUMNS)
    for column in COLUMNS:
        if column not in TEXT_COLUMNS:
            out[column] = out[column].astype(object).where(out[column].notna(), MISSING_CODE)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        out.to_excel(writer, sheet_name=SHEET_NAME, index=False)
