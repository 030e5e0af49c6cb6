"""The real MSKCC cohort: the shipped table's known facts, both file formats, and a harness that agrees
with a plain scikit-survival pipeline on it without an errored cell."""
import csv
import shutil
import warnings

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.ensemble import RandomSurvivalForest
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import kaplan_meier_estimator

from benchmark import datasets
from benchmark.data import clinical, splits
from benchmark.data import mskcc as real_tables
from benchmark.data.clinical import ClinicalTableError
from benchmark.datasets import mskcc as shipped
from benchmark.datasets import parse_spec
from benchmark.harness import runner


@pytest.fixture(scope="module")
def mskcc():
    return datasets.load(shipped.NAME)


def km_median(outcome: pd.DataFrame) -> float:
    times, survival = kaplan_meier_estimator(outcome["event"].astype(bool), outcome["time"])
    return float(times[np.argmax(survival <= 0.5)])


def test_known_facts_of_the_release(mskcc):
    assert len(mskcc) == 197
    ids = set(mskcc.patient_ids)
    assert ids == {f"CRLM-CT-{i}" for i in range(1001, 1199)} - {"CRLM-CT-1024"}
    assert int(mskcc.outcome("os")["event"].sum()) == 107
    assert int(mskcc.outcome("dfs")["event"].sum()) == 138
    assert int(mskcc.outcome("liver_dfs")["event"].sum()) == 122
    assert km_median(mskcc.outcome("os")) == pytest.approx(76.0, abs=0.05)
    assert km_median(mskcc.outcome("dfs")) == pytest.approx(22.3, abs=0.05)
    missing = mskcc.clinical[["clinrisk_score", "clinrisk_stratified", "carcinoembryonic_antigen"]].isna()
    assert missing.sum().tolist() == [29, 29, 29] and missing.all(axis=1).sum() == 29
    percents = mskcc.clinical[clinical.PERCENT_COLUMNS]
    assert percents.max().max() == 1.0 and percents.notna().all(axis=1).sum() == 194


def test_shipped_table_is_checked_and_cited(tmp_path):
    assert real_tables.TABLE.is_file()
    source = (real_tables.TABLE.parent / "SOURCE.md").read_text()
    assert real_tables.SHA256 in source and "CC BY 4.0" in source and "10.7937/QXK2-QG03" in source
    altered = tmp_path / real_tables.TABLE.name
    shutil.copyfile(real_tables.TABLE, altered)
    with altered.open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ClinicalTableError, match="sha256"):
        shipped.load_mskcc(altered)


def csv_export(xlsx, path) -> None:
    """The release sheet as a spreadsheet's CSV export writes it: percent-formatted cells as "70%"."""
    sheet = openpyxl.load_workbook(xlsx, read_only=True)[clinical.SHEET_NAME]
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        for row in sheet.iter_rows():
            writer.writerow([f"{round(cell.value * 100)}%" if isinstance(cell.value, float | int)
                             and cell.number_format.endswith("%") else ("" if cell.value is None else cell.value)
                             for cell in row])


def test_xlsx_and_its_csv_export_give_the_same_frame(tmp_path, mskcc):
    path = tmp_path / "clinical.csv"
    csv_export(real_tables.TABLE, path)
    assert "70%" in path.read_text()
    from_csv = clinical.read_clinical_table(path)
    numeric = [c for c in from_csv.columns if c not in clinical.TEXT_COLUMNS]
    pd.testing.assert_frame_equal(from_csv[numeric], mskcc.clinical[numeric], check_exact=False, rtol=1e-12)


def test_image_methods_are_listed_as_not_run(tmp_path):
    config = runner.RunConfig(datasets=[parse_spec(shipped.NAME)], methods=["coxph", "stg", "oracle"], folds=2,
                              repeats=1, output=tmp_path, data_dir=tmp_path)
    the_plan = runner.plan(config)
    skipped = {method: reason for _, method, reason in the_plan.skipped}
    assert skipped == {"stg": "needs CT images; the dataset has none",
                       "oracle": "needs the true risk; only synthetic cohorts have it"}
    grid = {(c.endpoint, c.protocol, c.feature_set) for c in the_plan.cells}
    assert grid == {(e, p, f) for e in ("os", "dfs", "liver_dfs") for p in ("cv", "paper")
                    for f in ("preoperative", "postoperative")}


def harness_cindex(cohort, method, endpoint, feature_set, outer, tmp_path) -> list[float]:
    config = runner.RunConfig(datasets=[parse_spec(shipped.NAME)], methods=[method], folds=5, repeats=1,
                              output=tmp_path, data_dir=tmp_path)
    spec = datasets.parse_spec(shipped.NAME)
    values = []
    for split in outer:
        cell = runner.results.Cell(cohort.name, endpoint, "cv", feature_set, method, split.repeat, split.fold, {})
        output = runner.compute_cell(cell, spec, split, config)
        assert output.status == "ok", output.record.get("error")
        values.append(output.record["metrics"]["cindex_harrell"])
    return values


def plain_cindex(cohort, estimator, endpoint, feature_set, outer) -> list[float]:
    X = cohort.clinical[cohort.feature_sets[feature_set]].to_numpy(dtype=float)
    position = {pid: i for i, pid in enumerate(cohort.patient_ids)}
    values = []
    for split in outer:
        train = [position[p] for p in split.train]
        test = [position[p] for p in split.test]
        y = cohort.y(endpoint)
        model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), estimator)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[train], y[train])
        values.append(concordance_index_censored(y[test]["event"], y[test]["time"], model.predict(X[test]))[0])
    return values


@pytest.mark.slow
@pytest.mark.parametrize(("method", "estimator"), [
    ("coxph", CoxPHSurvivalAnalysis(alpha=1e-4, ties="breslow")),
    ("rsf", RandomSurvivalForest(n_estimators=100, min_samples_leaf=10, max_features="sqrt", random_state=0)),
])
@pytest.mark.parametrize("endpoint", ["os", "dfs"])
def test_harness_agrees_with_a_plain_scikit_survival_pipeline(method, estimator, endpoint, mskcc, tmp_path):
    outer = splits.make_splits(mskcc, endpoint, "cv", 5, 2, seed=0)
    ours = np.mean(harness_cindex(mskcc, method, endpoint, "preoperative", outer, tmp_path))
    plain = np.mean(plain_cindex(mskcc, estimator, endpoint, "preoperative", outer))
    assert 0.55 < plain < 0.70
    assert ours == pytest.approx(plain, abs=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["coxph", "coxnet"])
def test_no_errored_cell_and_no_printed_warning_on_postoperative_dfs(method, mskcc, tmp_path, capfd):
    config = runner.RunConfig(datasets=[parse_spec(shipped.NAME)], methods=[method], endpoints=["dfs"],
                              protocols=["cv"], feature_sets=["postoperative"], output=tmp_path, data_dir=tmp_path)
    summary = runner.execute(config, progress=False)
    assert summary.done == 25 and not summary.errors
    assert "Warning" not in capfd.readouterr().err


def test_reports_show_the_real_cohort_first():
    names = ["veterans", "tcia", "crlm-synthetic-n60-seed0-small", "gbsg2", "mskcc-crlm", "crlm-synthetic"]
    ordered = sorted(names, key=datasets.display_order)
    assert ordered[0] == "mskcc-crlm" and ordered[1:3] == ["crlm-synthetic-n60-seed0-small", "crlm-synthetic"]
    assert ordered[-1] == "tcia"


def test_within_a_dataset_reports_read_os_first_cv_before_the_split_and_preoperative_first():
    from types import SimpleNamespace

    from benchmark.reporting.groups import reading_order
    stems = [("gbsg2", "dfs", "cv", "clinical"), ("mskcc-crlm", "dfs", "paper", "preoperative"),
             ("mskcc-crlm", "os", "cv", "postoperative"), ("mskcc-crlm", "os", "cv", "preoperative"),
             ("crlm-synthetic", "dfs", "cv", "preoperative")]
    groups = [SimpleNamespace(dataset=d, endpoint=e, protocol=p, feature_set=f) for d, e, p, f in stems]
    ordered = [(g.dataset, g.endpoint, g.protocol, g.feature_set) for g in sorted(groups, key=reading_order)]
    assert ordered == [stems[3], stems[2], stems[1], stems[4], stems[0]]
