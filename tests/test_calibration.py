"""Calibration checks: every kind of check present, each tolerance held by the generator (one test per
check, so a failing one names itself), KS exactly 0 against the real table itself, the Cox rows read
from the main tables, the C-index the cells use, and the writers."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmark.data import clinical, synthetic
from benchmark.reporting import calibration, calibration_report, tables
from benchmark.scoring import metrics

#: Every check that needs no run results (all but the Cox rows), as the table names them.
HELD_CHECKS = (
    [f"marginal/{column}" for column in calibration.MARGINAL_COLUMNS]
    + [f"missingness/{column}" for column in calibration.MISSINGNESS_COLUMNS]
    + [f"outcome/{endpoint}/{what}" for endpoint in clinical.ENDPOINTS for what in ("event_rate", "km_median")]
    + [f"univariate_c/{endpoint}/{column}" for endpoint in calibration.C_ENDPOINTS
       for column in calibration.MAIN_COLUMNS]
    + [f"anatomy/{check}" for check in calibration.ANATOMY_CHECKS]
)


#: The tolerances hold the generator, not one draw's luck: they are checked on a draw this large (seed 0),
#: whose own sampling noise is small beside the real table's. The report shows the default draw of 197,
#: where a check can miss by chance alone (about 1 in 20 at two standard errors).
GENERATOR_DRAW = 2000


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A large draw's table, on a results root without tables (the Cox rows are then n/a)."""
    return calibration.calibration_table(tmp_path_factory.mktemp("results"),
                                         draw=synthetic.generate(GENERATOR_DRAW, seed=0))


def test_the_table_has_every_kind_of_row_in_order(table):
    assert list(dict.fromkeys(table["kind"])) == list(calibration.KINDS)
    assert table["check"].is_unique
    assert set(table.loc[table["kind"] != "cox_c", "check"]) == set(HELD_CHECKS)
    assert set(table["tolerance"]) <= set(calibration.TOLERANCES.values())


@pytest.mark.parametrize("check", HELD_CHECKS)
def test_the_generator_is_within_tolerance(table, check):
    row = table.set_index("check").loc[check]
    assert row["within"], (f"{row['quantity']}: real {row['real']:.4g}, synthetic {row['synthetic']:.4g}, "
                           f"{calibration.MEASURES[row['measure']]} {row['statistic']:.3f} > {row['tolerance']}")


def test_every_statistic_is_zero_when_the_synthetic_table_is_the_real_one(tmp_path):
    real, draw, _ = calibration.default_inputs()
    same = calibration.calibration_table(tmp_path, draw=SimpleNamespace(clinical=real, patients=draw.patients))
    clinical_rows = same[same["kind"].isin(["marginal", "missingness", "outcome", "univariate_c"])]
    assert len(clinical_rows) == len([c for c in HELD_CHECKS if not c.startswith("anatomy/")])
    assert (clinical_rows["statistic"] == 0).all() and clinical_rows["within"].all()
    assert (clinical_rows["real"].to_numpy() == clinical_rows["synthetic"].to_numpy()).all()
    shifted = real.assign(age=real["age"] + 5)
    ks = {row["check"]: row["statistic"] for row in calibration.marginal_rows(real, shifted)}
    assert ks.pop("marginal/age") > calibration.TOLERANCES["marginal_ks"]
    assert set(ks.values()) == {0.0}


def test_univariate_c_is_the_cells_harrell_c_on_the_patients_with_the_value():
    time, event = clinical.ENDPOINTS["os"]
    table = pd.DataFrame({time: [5.0, 10.0, 20.0, 30.0], event: [1, 1, 0, 1], "age": [70.0, np.nan, 50.0, 40.0]})
    # pairs (5, 20), (5, 30) concordant: the earlier event has the higher value; the NaN patient left out
    assert calibration.column_c(table, "age", "os") == 1.0
    assert calibration.column_c(table, "age", "os") == metrics.harrell_c(
        np.array([True, False, True]), np.array([5.0, 20.0, 30.0]), np.array([70.0, 50.0, 40.0]))


def test_cox_rows_read_the_main_tables_and_say_what_to_run_when_absent(tmp_path):
    main = tmp_path / "tables" / "mskcc-crlm__os__cv__preoperative__main.csv"
    main.parent.mkdir()
    pd.DataFrame({"method": ["coxnet", "coxph"], "cindex_harrell_mean": [0.6, 0.62]}).to_csv(main, index=False)
    main.with_name("crlm-synthetic__os__cv__preoperative__main.csv").write_text(
        "method,cindex_harrell_mean\ncoxph,0.64\n")
    rows = pd.DataFrame(calibration.cox_rows(tmp_path)).set_index("check")
    assert rows.loc["cox_c/os", ["real", "synthetic", "statistic"]].tolist() == pytest.approx([0.62, 0.64, 0.02])
    assert rows.at["cox_c/os", "within"] and rows.at["cox_c/os", "note"] == ""
    absent = rows.loc["cox_c/dfs"]
    assert np.isnan(absent["real"]) and pd.isna(absent["within"])
    assert absent["note"] == ("not run: python -m benchmark run -d mskcc-crlm --endpoint dfs -m coxph; "
                              "not run: python -m benchmark run -d crlm-synthetic --endpoint dfs -m coxph")


def test_writers_produce_the_table_and_figures(table, tmp_path):
    written = calibration_report.write_calibration(tmp_path, table)
    csv, markdown = tmp_path / "tables" / "calibration.csv", tmp_path / "tables" / "calibration.md"
    figures = tmp_path / "plots" / "calibration"
    assert written == [csv, markdown, *(figures / f"{name}.png" for name in calibration_report.PLOT_NAMES)]
    back = pd.read_csv(csv, keep_default_na=False)
    assert back["check"].tolist() == table["check"].tolist()
    text = markdown.read_text()
    assert text.startswith(f"**{calibration_report.TITLE}**") and "✓" in text and calibration.within_text(table) in text
    assert text.count("\n| ") == len(table) + 1   # header and one line per check
    for name in calibration_report.PLOT_NAMES:
        assert (figures / f"{name}.png").stat().st_size > 5000
        assert (figures / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_writing_the_group_tables_keeps_the_calibration_table_and_other_groups_tables(tmp_path):
    directory = tmp_path / "tables"
    directory.mkdir()
    kept = [directory / "calibration.md", directory / "gone__os__cv__clinical__main.md"]
    for path in kept:
        path.write_text("committed")
    tables.write_tables(tmp_path, command="python -m benchmark report", groups=[])
    assert all(path.exists() for path in kept)


def test_run_all_fits_the_cox_cells_the_calibration_reads_on_the_synthetic_cohort():
    """The default synthetic cohort's main run covers DFS alone; `run --all` adds Cox-PH on every calibrated
    endpoint there, so the Cox rows never read a table an earlier world left behind."""
    from benchmark import datasets
    from benchmark.harness import runner
    from benchmark.reporting import assemble
    everything = runner.RunConfig(datasets=[datasets.parse_spec(name) for name in datasets.RUN_ALL_DATASETS],
                                  methods=["coxph", "stg"])
    (extra,) = assemble.calibration_runs(everything)
    assert [d.name for d in extra.datasets] == [datasets.DEFAULT_DATASET] and extra.methods == ["coxph"]
    assert set(extra.endpoints) == set(calibration.C_ENDPOINTS) == {"os", "dfs"}
    assert extra.protocols == ["cv"] and extra.feature_sets == ["preoperative"]
    assert (extra.folds, extra.repeats, extra.output) == (everything.folds, everything.repeats, everything.output)
    real_only = runner.RunConfig(datasets=[datasets.parse_spec("mskcc-crlm")], methods=["coxph"])
    assert assemble.calibration_runs(real_only) == []
    assert assemble.calibration_runs(runner.RunConfig(datasets=everything.datasets, methods=["stg"])) == []
