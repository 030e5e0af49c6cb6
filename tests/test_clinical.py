"""The clinical reader: TCIA codings, both file formats, and bad cells named by patient and column."""
import numpy as np
import pandas as pd
import pytest

from benchmark.data import clinical
from benchmark.data.clinical import ClinicalTableError, parse_clinical_frame, read_clinical_table


def raw_table(drawn_cohort, n=5) -> pd.DataFrame:
    frame = drawn_cohort.clinical.iloc[:n].reset_index()
    return frame.astype(object)


def test_xlsx_round_trip_keeps_values_and_missing(tmp_path, drawn_cohort):
    path = tmp_path / clinical.CLINICAL_FILENAME
    clinical.write_clinical_xlsx(drawn_cohort.clinical, path)
    sheets = pd.ExcelFile(path).sheet_names
    assert sheets == [clinical.SHEET_NAME]
    raw = pd.read_excel(path, dtype=object)
    assert list(raw.columns) == clinical.COLUMNS
    assert (raw["clinrisk_score"] == -999).sum() == drawn_cohort.clinical["clinrisk_score"].isna().sum() > 0
    table = read_clinical_table(path)
    numeric = [c for c in clinical.COLUMNS[1:] if c not in clinical.TEXT_COLUMNS]
    pd.testing.assert_frame_equal(table[numeric], drawn_cohort.clinical[numeric].astype(float),
                                  check_names=False, atol=1e-9)


def test_csv_export_with_string_codes_and_percent_strings(tmp_path, drawn_cohort):
    raw = raw_table(drawn_cohort)
    raw.loc[0, "age"] = "-999"
    raw.loc[1, "total_response_percent"] = "90%"
    raw.loc[2, "necrosis_percent"] = " 15 % "
    path = tmp_path / "clinical.csv"
    raw.to_csv(path, index=False)
    table = read_clinical_table(path)
    assert np.isnan(table["age"].iloc[0])
    assert table["total_response_percent"].iloc[1] == pytest.approx(0.90)
    assert table["necrosis_percent"].iloc[2] == pytest.approx(0.15)


def test_older_release_without_extra_columns_is_read_by_name(drawn_cohort):
    raw = raw_table(drawn_cohort).drop(columns=["mucin_percent", "NASH_greater_4", "relevant_notes"])
    raw = raw[list(reversed(raw.columns))]  # order does not matter: columns are selected by name
    table = parse_clinical_frame(raw, "old.xlsx")
    assert "mucin_percent" not in table.columns
    assert table.loc[raw["Patient-ID"].iloc[0], "age"] == raw["age"].iloc[0]


def test_bad_cells_are_all_reported_by_patient_and_column(drawn_cohort):
    raw = raw_table(drawn_cohort)
    raw.loc[1, "body_mass_index"] = "obese"
    raw.loc[3, "sex"] = 7
    with pytest.raises(ClinicalTableError) as error:
        parse_clinical_frame(raw, "bad.xlsx")
    message = str(error.value)
    assert "bad.xlsx" in message and "2 bad cell(s)" in message
    assert f"{raw.loc[1, 'Patient-ID']} / body_mass_index: 'obese' (not a number)" in message
    assert f"{raw.loc[3, 'Patient-ID']} / sex: 7" in message


def test_missing_column_and_missing_outcome_are_named(drawn_cohort):
    with pytest.raises(ClinicalTableError, match="missing column.*carcinoembryonic_antigen"):
        parse_clinical_frame(raw_table(drawn_cohort).drop(columns="carcinoembryonic_antigen"), "x.csv")
    raw = raw_table(drawn_cohort)
    raw.loc[2, "overall_survival_months"] = -999
    with pytest.raises(ClinicalTableError, match=f"{raw.loc[2, 'Patient-ID']} / overall_survival_months"):
        parse_clinical_frame(raw, "x.csv")


def test_duplicated_patient_and_unreadable_file(tmp_path, drawn_cohort):
    raw = raw_table(drawn_cohort)
    raw.loc[1, "Patient-ID"] = raw.loc[0, "Patient-ID"]
    with pytest.raises(ClinicalTableError, match="duplicated"):
        parse_clinical_frame(raw, "dup.csv")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ClinicalTableError, match="broken.xlsx: cannot be read"):
        read_clinical_table(broken)


def test_default_feature_set_has_no_pathology():
    assert not set(clinical.FEATURE_SETS["preoperative"]) & set(clinical.PATHOLOGY_FEATURES)
    assert set(clinical.PATHOLOGY_FEATURES) <= set(clinical.FEATURE_SETS["postoperative"])
    outcome_columns = {c for pair in clinical.ENDPOINTS.values() for c in pair}
    assert not outcome_columns & set(clinical.FEATURE_SETS["postoperative"])
