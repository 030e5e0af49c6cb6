"""Report: tables recomputed from the cell files, paired tests on hand cases, plots and the HTML
rendered in headless Chromium."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from baselines.coxph import CoxPH
from benchmark import cli, methods
from benchmark.datasets import parse_spec
from benchmark.harness import runner
from benchmark.methods import Registered
from benchmark.reporting import calibration_report, cohorts, groups, html_report, plots, tables
from benchmark.scoring import stats


class Full(CoxPH):
    name = "toy"
    family = "stg"


class Lite(CoxPH):
    name = "toy-lite"
    family = "stg"
    defaults = {"alpha": 30.0}

    def n_params(self) -> int:
        return 2


class Ablation(CoxPH):
    name = "toy-no-ridge"
    family = "ablation"
    defaults = {"alpha": 3.0}


@pytest.fixture(scope="module")
def registry():
    extra = {cls.name: Registered(cls.name, cls, __name__) for cls in (Full, Lite, Ablation)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(methods, "_REGISTRY", {**methods.registry(), **extra})
        yield


@pytest.fixture(scope="module")
def tree(tmp_path_factory, registry):
    """A results tree: 4 methods × 3 folds × 2 repeats on veterans, then `report`."""
    root = tmp_path_factory.mktemp("report") / "results"
    config = runner.RunConfig(datasets=[parse_spec("veterans")], methods=["coxph", "toy", "toy-lite", "toy-no-ridge"],
                              folds=3, repeats=2, output=root, data_dir=root.parent / "data")
    assert not runner.execute(config, progress=False).errors
    assert cli.main(["report", "--output", str(root), "--data-dir", str(root.parent / "data")]) == 0
    return root


def column(markdown: str, row_start: str, header: str) -> str:
    """The cell of a Markdown table in the first row starting with `row_start`, under `header`."""
    lines = markdown.splitlines()
    headers = [cell.strip() for cell in next(line for line in lines if line.startswith("| Method")).split("|")]
    row = next(line for line in lines if line.startswith(f"| {row_start}"))
    return row.split("|")[headers.index(header)].strip()


def cell_metric(root: Path, method: str, metric: str) -> np.ndarray:
    files = sorted(f for f in (root / "runs" / "veterans").rglob("r*_f*.json")
                   if f.parent.name.rsplit("-", 1)[0] == method)
    assert len(files) == 6
    return np.array([json.loads(f.read_text())["metrics"][metric] for f in files])


STEM = "veterans__os__cv__clinical"


def test_main_table_matches_the_cell_files(tree):
    numbers = pd.read_csv(tree / "tables" / f"{STEM}__main.csv").set_index("method")
    assert list(numbers.index) == ["coxph", "toy", "toy-lite"]  # the ablation has its own table
    for method in numbers.index:
        values = cell_metric(tree, method, "cindex_harrell")
        assert numbers.at[method, "cindex_harrell_mean"] == pytest.approx(values.mean(), rel=1e-5)
        assert numbers.at[method, "cindex_harrell_sd"] == pytest.approx(values.std(ddof=1), rel=1e-5)
        low, high = numbers.loc[method, ["cindex_harrell_ci_low", "cindex_harrell_ci_high"]]
        assert low <= values.mean() <= high
    markdown = (tree / "tables" / f"{STEM}__main.md").read_text()
    values = cell_metric(tree, "coxph", "cindex_uno")
    assert f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" in markdown
    # veterans follows patients under 3 years: ±1 year is right by construction, so no TAA is shown
    assert np.isnan(cell_metric(tree, "coxph", "taa_pm1_ipcw")).all()
    assert column(markdown, "coxph", "TAA ±1y") == column(markdown, "coxph", "MAE-PO (y)") == "n/a"
    scored, events = cell_metric(tree, "coxph", "n_scored"), cell_metric(tree, "coxph", "n_events")
    assert column(markdown, "coxph", "n scored") == f"{scored.mean():.1f} / {events.mean():.1f}"
    assert numbers.at["coxph", "n_events_mean"] == pytest.approx(events.mean())
    assert ("mae_uncensored, taa_pm1_events, taa_pm1_ipcw, taa_yearwise NaN on 6/6 fold(s): follow-up shorter than "
            "the 12-year") in markdown
    for header in ("n scored", "TAA ±1y", "MAE-PO (y)", "C-index", "Uno C", "AUC 1y", "AUC 3y",
                   "AUC 5y", "IBS", "D-cal p", "#Params", "Fit s/fold"):
        assert f" {header} " in markdown.splitlines()[2]
    assert "toy (ref.)" not in markdown  # the STG-family "toy" is not named stg: coxph is the reference
    for text in ("Dataset veterans", "endpoint os", "feature set clinical", "3-fold CV × 2 repeats", "seed 0",
                 "137 patients", "Excluded patients: none.", "Git commit", "--folds 3 --repeats 2", "-m toy-lite"):
        assert text in markdown.replace("coxph (ref.)", ""), text
    latex = (tree / "tables" / f"{STEM}__main.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex


def test_reference_defaults_to_coxph_without_stg_and_marks_significance(tree):
    markdown = (tree / "tables" / f"{STEM}__main.md").read_text()
    assert "coxph (ref.)" in markdown and "against coxph" in markdown
    tests = pd.read_csv(tree / "tables" / f"{STEM}__significance.csv")
    assert set(tests["method"]) == {"toy", "toy-lite", "toy-no-ridge"}
    assert (tests["p_holm"].dropna() >= tests.loc[tests["p_holm"].notna(), "p"]).all()
    assert ", Holm " in (tree / "tables" / f"{STEM}__significance.md").read_text()
    summary = pd.read_csv(tree / "tables" / f"{STEM}__main.csv").set_index("method")
    significant = summary.loc["toy-lite", "cindex_harrell_p_holm"] < stats.SIGNIFICANCE
    assert summary.loc["toy-lite", "cindex_harrell_p_holm"] >= summary.loc["toy-lite", "cindex_harrell_p"]
    assert (stats.MARK in column(markdown, "toy-lite", "C-index")) == significant


def test_ablation_and_full_vs_lite_tables(tree):
    ablation = pd.read_csv(tree / "tables" / f"{STEM}__ablations.csv")
    assert set(ablation["method"]) == {"toy", "toy-lite", "toy-no-ridge"}
    lite = pd.read_csv(tree / "tables" / f"{STEM}__full_vs_lite.csv").set_index("method")
    full_params = cell_metric(tree, "toy", "cindex_harrell").size and lite.at["toy", "n_params_mean"]
    assert lite.at["toy-lite", "params_ratio"] == pytest.approx(2 / full_params)
    markdown = (tree / "tables" / f"{STEM}__full_vs_lite.md").read_text()
    assert f"{200 / full_params:.2f} %" in markdown


def test_plots_are_written_as_png_and_svg(tree):
    directory = tree / "plots" / STEM
    for name in plots.PLOT_NAMES:
        assert (directory / f"{name}.png").stat().st_size > 5000
        assert (directory / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_report_is_idempotent_and_removes_only_its_groups_stale_files(tree):
    stale = [tree / "tables" / f"{STEM}__retired.md", tree / "plots" / STEM / "retired.png"]
    others = [tree / "tables" / "gone__os__cv__clinical__main.md", tree / "plots" / "gone__os__cv__clinical" / "km.png"]
    for path in stale + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
    written = sorted((tree / "tables").glob("*")) + sorted(tree.rglob("*.svg"))
    before = {p: p.read_bytes() for p in written if p not in stale}
    assert cli.main(["report", "--output", str(tree), "--data-dir", str(tree.parent / "data")]) == 0
    assert not any(path.exists() for path in stale)   # the group's own files that no longer apply
    assert {p: p.read_bytes() for p in before} == before   # other groups' results stay, untouched


def test_excluded_patients_reach_the_footer(tree, monkeypatch):
    cohort = cohorts.datasets.load("veterans")
    cohort.exclude("veterans-0003", "unreadable CT series")
    monkeypatch.setattr(cohorts.datasets, "load", lambda spec, data_dir: cohort)
    copy = tree.parent / "excluded"
    shutil.copytree(tree, copy)
    assert cohorts.record_cohorts(copy, tree.parent / "data") == ["veterans"]
    tables.write_tables(copy, command="python -m benchmark report")
    markdown = (copy / "tables" / f"{STEM}__main.md").read_text()
    assert "Excluded patients (1): veterans-0003: unreadable CT series." in markdown


def test_corrected_resampled_ttest_hand_case():
    differences = np.array([0.02, 0.05, -0.01, 0.04, 0.03])
    mean, variance = 0.026, np.var(differences, ddof=1)
    t_expected = mean / np.sqrt((1 / 5 + 20 / 80) * variance)
    t, p = stats.corrected_resampled_ttest(differences, n_train=80, n_test=20)
    assert t == pytest.approx(t_expected)
    assert p == pytest.approx(2 * scipy_stats.t.sf(t_expected, df=4))
    naive = scipy_stats.ttest_1samp(differences, 0).pvalue
    assert p > naive  # the correction widens the variance
    assert stats.corrected_resampled_ttest([0.0, 0.0, 0.0], 80, 20) == (0.0, 1.0)
    assert np.isnan(stats.corrected_resampled_ttest([0.1], 80, 20)[1])


def test_paired_tests_pair_the_same_folds():
    rows = []
    for repeat in range(2):
        for fold in range(3):
            base = 0.6 + 0.05 * fold + 0.01 * repeat
            rows.append({"method": "ref", "repeat": repeat, "fold": fold, "status": "ok", "c": base,
                         "n_train": 60, "n_test": 30})
            rows.append({"method": "better", "repeat": repeat, "fold": fold, "status": "ok",
                         "c": base + 0.1 + 0.001 * fold, "n_train": 60, "n_test": 30})
    tests = stats.paired_tests(pd.DataFrame(rows), "ref", ["c"])
    row = tests.iloc[0]
    assert row["method"] == "better" and row["n_pairs"] == 6
    assert row["mean_difference"] == pytest.approx(0.101)
    assert row["p"] < 1e-4  # tiny spread of the paired differences; unpaired it would not be


def test_corrected_interval_hand_case_is_wider_than_the_naive_one():
    values = np.array([0.6, 0.7, 0.65, 0.72, np.nan])
    low, high = stats.corrected_interval(values, n_train=80, n_test=20)
    finite = values[:4]
    half = scipy_stats.t.ppf(0.975, 3) * np.sqrt((1 / 4 + 20 / 80) * finite.var(ddof=1))
    assert (low, high) == pytest.approx((finite.mean() - half, finite.mean() + half))
    naive = scipy_stats.t.ppf(0.975, 3) * finite.std(ddof=1) / np.sqrt(4)
    assert high - low > 2 * naive * 1.4  # sqrt((1/4 + 1/4) / (1/4)) = sqrt(2)
    assert np.isnan(stats.corrected_interval([0.7, np.nan], 80, 20)[0])


def test_main_table_interval_is_the_corrected_one(tree):
    numbers = pd.read_csv(tree / "tables" / f"{STEM}__main.csv").set_index("method")
    values = cell_metric(tree, "coxph", "cindex_harrell")
    files = [f for f in (tree / "runs" / "veterans").rglob("r*_f*.json") if f.parent.name.startswith("coxph-")]
    records = [json.loads(f.read_text()) for f in files]
    n_train, n_test = (np.mean([r[key] for r in records]) for key in ("n_train", "n_test"))
    expected = stats.corrected_interval(values, n_train, n_test)
    assert tuple(numbers.loc["coxph", ["cindex_harrell_ci_low", "cindex_harrell_ci_high"]]) == pytest.approx(
        expected, rel=1e-5)
    assert "Nadeau–Bengio corrected resampled-t interval" in (tree / "tables" / f"{STEM}__main.md").read_text()


def test_patient_bootstrap_intervals():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"time": rng.uniform(1, 100, 30), "event": rng.integers(0, 2, 30),
                          "risk": rng.normal(size=30), "year": rng.uniform(0, 8, 30)})
    intervals = stats.patient_bootstrap(frame, 12.0, n_resamples=500)
    point = stats.harrell_cindex(frame["time"].to_numpy()[None], frame["event"].to_numpy().astype(bool)[None],
                                 frame["risk"].to_numpy()[None])[0]
    assert intervals["cindex_harrell"][0] < point < intervals["cindex_harrell"][1]
    own = groups.patient_intervals_of(frame.assign(own_year=frame["year"] + 5), 12.0)
    shifted = stats.patient_bootstrap(frame.assign(year=frame["year"] + 5), 12.0)
    assert own["taa_pm1_events_own"] == shifted["taa_pm1_events"] and own["taa_pm1_events"] == stats.patient_bootstrap(
        frame, 12.0)["taa_pm1_events"]
    assert np.isnan(intervals["mae_po"][0])   # without the per-patient scores the runner stores
    scores = frame.assign(mae_po_score=np.abs(frame["year"] - frame["time"] / 12), mae_po_weight=1.0)
    low, high = stats.patient_bootstrap(scores, 12.0, n_resamples=500)["mae_po"]
    assert low < scores["mae_po_score"].mean() < high


def test_resampled_harrell_cindex_is_harrells_c_of_the_resampled_rows():
    """Counts of each patient give the C of the rows they expand to, with tied times and tied risks."""
    rng = np.random.default_rng(4)
    time, event = rng.integers(1, 15, 40).astype(float), rng.random(40) < 0.6
    risk = np.round(rng.normal(size=40), 1)
    drawn = rng.integers(0, 40, size=(25, 40))
    counts = np.stack([np.bincount(row, minlength=40) for row in drawn])
    expected = stats.harrell_cindex(time[drawn], event[drawn], risk[drawn])
    np.testing.assert_allclose(stats.resampled_harrell_cindex(time, event, risk, counts), expected, rtol=1e-12)
    assert len(np.unique(expected)) > 20   # the resamples differ, so a constant would not pass


def test_format_marks_partial_and_significant_cells():
    row = pd.Series({"n_cells": 5, "m_mean": 0.7, "m_sd": 0.05, "m_ci_low": 0.66, "m_ci_high": 0.74, "m_n": 4,
                     "m_p": 0.01, "m_p_holm": 0.04})
    assert tables.format_metric(row, "m", 3, mark=True) == "0.700 ± 0.050 [0.660, 0.740]*†"
    assert tables.format_metric(row, "m", 3, mark=False) == "0.700 ± 0.050 [0.660, 0.740]*"
    row["m_p_holm"] = 0.2  # significant alone, not after the table's correction
    assert tables.format_metric(row, "m", 3, mark=True) == "0.700 ± 0.050 [0.660, 0.740]*"


def test_holm_hand_case():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4·0.005, 3·0.01, 2·0.03, 1·0.04, then running max
    expected = np.array([0.03, 0.06, np.nan, 0.06, 0.02])
    assert np.allclose(stats.holm(p), expected, equal_nan=True)
    assert np.allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])
    frame = pd.DataFrame({"method": ["a", "b"], "x_p": [0.01, 0.04], "y_p": [np.nan, 0.005]})
    adjusted = groups.with_holm(frame, ["x", "y"])
    assert np.allclose(adjusted[["x_p_holm", "y_p_holm"]].to_numpy(), [[0.02, np.nan], [0.04, 0.015]],
                       equal_nan=True)


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, installed when absent (the test setup runs as root)."""
    if shutil.which("chromium") is None:
        environment = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        install = subprocess.run("apt-get update && apt-get install -y chromium", shell=True, capture_output=True,
                                 text=True, env=environment)
        if install.returncode != 0 or shutil.which("chromium") is None:
            pytest.skip(f"chromium could not be installed: {install.stderr.strip()[-300:]}")
    return shutil.which("chromium")


def test_html_report_renders_in_headless_chromium(tree, chromium, tmp_path):
    page = tree / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # readable offline
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*command, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    tables = re.findall(r'<table class="(\w+)"', dom)
    assert tables.count("main") == 1 and {"ablations", "full_vs_lite", "significance"} <= set(tables)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', dom)
    assert len(images) == len(plots.PLOT_NAMES) + len(calibration_report.PLOT_NAMES)
    grid_only = {html_report.CAPTIONS["cindex"]}   # the scenario grid's plot; this tree has no grid
    assert set(images) == set(html_report.CAPTIONS.values()) - grid_only
    assert "calibration" in tables
    assert "toy-no-ridge" in dom and "Excluded patients: none." in dom
    shot = tmp_path / "report.png"
    subprocess.run([*command, "--window-size=1400,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, cwd=tmp_path)
    assert shot.stat().st_size > 20000


def test_a_reconfigured_or_tuned_run_is_its_own_row():
    assert groups.variant_name("rsf", {}) == "rsf"
    assert groups.variant_name("stg", {"profile": "paper", "hidden": 128}) == "stg [hidden=128; profile=paper]"
    tuned = {"tuning": {"trials": 20, "inner_folds": 3}}
    assert groups.variant_name("rsf", tuned) == "rsf [tuned, 20 trials]"


def test_footer_notes_shared_by_methods_are_written_once():
    reason = {"auc_1y": "censoring survival is zero", "auc_3y": "censoring survival is zero"}
    ok = pd.DataFrame({"method": ["a", "a", "b", "b", "c", "c"],
                       "nan_reasons": [reason, {}, reason, {}, reason, {"ibs": "too short"}],
                       "notes": [["profile cpu"], ["profile cpu"], ["profile cpu"], ["profile cpu"], [], []],
                       "status": "ok"})
    group = type("FakeGroup", (), {"ok": ok, "cells": ok.assign(error=None)})()
    assert tables.nan_notes(group) == [
        "c: ibs NaN on 1/2 fold(s): too short",
        "every method: auc_1y, auc_3y NaN on 1/2 fold(s): censoring survival is zero",
        "a, b: profile cpu",
    ]


def test_the_footer_command_reruns_re_configured_and_tuned_variants():
    cells = pd.DataFrame({"registered": ["rsf", "rsf", "stg"],
                          "params": [{}, {"tuning": {"trials": 20, "inner_folds": 3}}, {"profile": "paper"}]})
    group = type("FakeGroup", (), dict(cohort=None, dataset="gbsg2", endpoint="dfs", protocol="cv",
                                       feature_set="clinical", folds=5, repeats=5, seed=0, cells=cells))()
    assert tables.run_command(group) == (
        "python -m benchmark run -d gbsg2 --endpoint dfs --protocol cv --feature-set clinical --folds 5 "
        "--repeats 5 --seed 0 -m rsf -m stg --set stg.profile=paper --tune --trials 20")


def test_reference_is_the_requested_method_else_stg_else_coxph_else_none():
    assert groups.choose_reference({"rsf", "stg", "coxph"}, "rsf") == "rsf"
    assert groups.choose_reference({"rsf", "stg", "coxph"}, None) == "stg"
    assert groups.choose_reference({"aaa", "coxph", "rsf"}, "missing") == "coxph"
    assert groups.choose_reference({"aaa", "oracle", "rsf"}, None) is None
    group = type("FakeGroup", (), {"reference": None})()
    assert "no paired tests" in tables.marks_text(group)


def fake_group(cells: pd.DataFrame, reference: str | None = "ref") -> groups.Group:
    """A CV group straight from a frame of cells (method, repeat, fold, metrics, n_train, n_test)."""
    cells = cells.assign(status="ok", family=cells.get("family", "baseline"), nan_reasons=[{}] * len(cells),
                         notes=[[]] * len(cells), error=None, git_sha="abc", registered=cells["method"],
                         params=[{}] * len(cells))
    group = groups.Group("toy", "dfs", "cv", "clinical", cells, None, 0, 100, reference)
    group.summary = groups.summarise(group)
    return group


def test_an_own_read_out_is_a_separate_labelled_row_with_year_metrics_only():
    rows = [{"method": method, "repeat": 0, "fold": fold, "n_train": 80, "n_test": 20,
             "taa_pm1_ipcw": 0.5 + 0.01 * fold, "mae_po": 2.0, "cindex_harrell": 0.7, "n_params": 10, "fit_s": 1.0,
             **({"taa_pm1_ipcw_own": 0.8, "mae_po_own": 1.0 + 0.1 * fold, "own_year_label": "restricted mean"}
                if method == "net" else {})}
            for method in ("ref", "net") for fold in range(3)]
    table = tables.metric_table(fake_group(pd.DataFrame(rows)).summary, "ref")
    assert list(table["Method"]) == ["net", "net (own read-out: restricted mean)", "ref (ref.)"]
    own = table.iloc[1]
    assert own["TAA ±1y"].startswith("0.800 ± 0.000") and own["MAE-PO (y)"].startswith("1.100 ± 0.100")
    assert table.iloc[0]["TAA ±1y"].startswith("0.510") and own["C-index"] == own["#Params"] == "—"


def null_table_marks(seed: int, n_patients: int = 150, n_methods: int = 3) -> tuple[int, int]:
    """(marks after Holm, marks on the raw p) of the main table of one cohort without signal: outcomes
    independent of everything, 5-fold × 5 stratified splits, each method a fixed per-patient noise
    score (a model fitted on noise features) for its risk and its event year."""
    from sksurv.metrics import concordance_index_censored

    from benchmark.data import splits
    from benchmark.data.cohort import Cohort, structured, year_bin
    from benchmark.scoring.year_metrics import year_metrics

    rng = np.random.default_rng(seed)
    ids = np.array([f"p{i:03d}" for i in range(n_patients)])
    event_time, censor_time = rng.exponential(3.0, n_patients), rng.uniform(1.0, 10.0, n_patients)
    outcome = pd.DataFrame({"time": np.minimum(event_time, censor_time), "event": event_time <= censor_time},
                           index=ids)
    y = structured(outcome["time"], outcome["event"])
    cohort = Cohort("null", pd.DataFrame(index=ids), {"dfs": outcome}, {}, units_per_year=1.0)
    scores = {f"m{k}": (rng.normal(size=n_patients), rng.uniform(0, 6, n_patients)) for k in range(n_methods)}
    position = {pid: i for i, pid in enumerate(ids)}
    rows = []
    for split in splits.make_splits(cohort, "dfs", "cv", 5, 5, seed=seed):
        test = np.array([position[pid] for pid in split.test])
        train = np.array([position[pid] for pid in split.train])
        time, event = outcome["time"].to_numpy()[test], outcome["event"].to_numpy()[test]
        for method, (risk, year) in scores.items():
            values, _ = year_metrics(year[test], y[train], y[test], 1.0)
            rows.append({"method": method, "repeat": split.repeat, "fold": split.fold, "n_train": len(split.train),
                         "n_test": len(test), "cindex_harrell": concordance_index_censored(event, time, risk[test])[0],
                         **{k: values[k] for k in ("taa_pm1_ipcw", "mae_po")}})
    assert len(np.unique(splits.strata(outcome["event"], year_bin(outcome["time"]), 5))) > 2
    numbers = tables.main_numbers(fake_group(pd.DataFrame(rows), reference="m0").summary)
    shown = [metric for metric, _, _ in groups.MAIN_METRICS if f"{metric}_p" in numbers]
    raw = int((numbers[[f"{m}_p" for m in shown]] < stats.SIGNIFICANCE).to_numpy().sum())
    marks = tables.metric_table(numbers, "m0").to_numpy().astype(str)
    return int(np.char.count(marks, stats.MARK).sum()), raw


N_NULL_COHORTS = 100


def test_false_marks_on_cohorts_without_signal_stay_at_the_nominal_rate():
    """Holm keeps the chance of any † in a table at most 5 %: checked on cohorts where nothing predicts."""
    counts = np.array([null_table_marks(seed) for seed in range(N_NULL_COHORTS)])
    family_wise = (counts[:, 0] > 0).mean()
    monte_carlo_sd = np.sqrt(stats.SIGNIFICANCE * (1 - stats.SIGNIFICANCE) / N_NULL_COHORTS)
    assert family_wise <= stats.SIGNIFICANCE + 2 * monte_carlo_sd
    assert (counts[:, 0] <= counts[:, 1]).all()


def test_the_oracle_row_says_what_it_is_per_metric():
    rows = [{"method": method, "family": "reference" if method == "oracle" else "baseline", "repeat": 0, "fold": fold,
             "n_train": 80, "n_test": 20, "cindex_harrell": 0.8, "n_params": 0, "fit_s": 0.0}
            for method in ("oracle", "ref") for fold in range(3)]
    group = fake_group(pd.DataFrame(rows))
    assert list(tables.metric_table(group.summary, "ref")["Method"]) == ["oracle (true model)", "ref (ref.)"]
    note = next(line for line in tables.footer(group, "report") if line.startswith("oracle"))
    assert "C-index, Uno's C and the AUC it is the ranking ceiling" in note
    assert "TAA, MAE, yearwise accuracy, IBS and calibration it is the true curve read out by its median, not a " \
           "ceiling" in note


def test_a_scenario_plot_is_captioned_by_its_kind(tmp_path):
    png = tmp_path / "cindex__n197__dfs__preoperative.png"
    png.write_bytes(b"not really a png")
    assert f"<figcaption>{html_report.CAPTIONS['cindex']}</figcaption>" in html_report.figure_html(png)


def test_report_is_light_and_holds_the_calibration_checks(tree):
    page = (tree / "report.html").read_text()
    assert len(page.encode()) < 400_000   # five figures of one group, three of the calibration: palette PNGs
    assert '<section id="calibration">' in page
    assert re.search(r"\d+ of \d+ calibration checks within tolerance", page)


@pytest.fixture
def drawn(monkeypatch):
    """The figures plots.save receives, instead of writing them."""
    figures = {}

    def capture(figure, directory, name):
        figure.canvas.draw()
        figures[name] = figure
        return directory / f"{name}.png"
    monkeypatch.setattr(plots, "save", capture)
    return figures


def overlaps(artist, others) -> list:
    box = artist.get_window_extent()
    return [other for other in others if box.overlaps(other.get_window_extent())]


def test_the_figure_title_clears_every_panel_title_however_many_methods(drawn, tmp_path):
    rng = np.random.default_rng(0)
    names = [f"method-{i}" for i in range(25)]   # seven rows of panels
    oof = pd.concat([pd.DataFrame({"method": name, "time": rng.uniform(1, 100, 40), "event": rng.integers(0, 2, 40),
                                   "high_risk": np.arange(40) % 2 == 0}) for name in names])
    plots.km_risk_groups(oof, names, 12.0, tmp_path)
    km = drawn["km_risk_groups"]
    title = next(text for text in km.texts if text.get_text() == km.get_suptitle())
    assert not overlaps(title, [axis.title for axis in km.axes if axis.get_visible()])
    lowest = [axis for axis in km.axes if axis.get_visible() and axis.get_xlabel() == "years"]
    assert len(lowest) == 4   # each column's x axis is named, below its lowest drawn panel


def test_legends_cover_no_interval_and_every_method_is_named_once(tree, drawn, tmp_path):
    group = next(g for g in groups.collect(tree) if g.stem == STEM)
    plots.write_plots(tmp_path, group)
    forest = drawn["forest_cindex"]
    assert len(forest.legends) == 1 and not overlaps(forest.legends[0], forest.axes)
    scatter = drawn["params_vs_accuracy"]
    legend = scatter.legends[0]
    assert [text.get_text() for text in legend.get_texts()] == list(group.summary["method"])
    assert not overlaps(legend, scatter.axes) and not any(axis.texts for axis in scatter.axes)


def test_without_the_grid_cells_the_report_shows_the_grid_summary_its_last_report_wrote(tree, monkeypatch):
    copy = tree.parent / "clone"   # a clone: the grid's tables and summary figures, none of its cells
    shutil.copytree(tree, copy)
    (copy / "tables" / "scenarios__summary.md").write_text("# Scenario grid: a simulation study\n")
    (copy / "tables" / "scenario-null-n197__dfs__cv__preoperative__simulation.md").write_text("table")
    (copy / "plots" / "scenarios").mkdir()
    (copy / "plots" / "scenarios" / "cindex__n197__dfs__preoperative.png").write_bytes(b"png")
    monkeypatch.setattr(plots, "write_plots", lambda root, group: [])
    # not about stale removal, which until it is limited to the groups a pass wrote deletes the grid's tables
    monkeypatch.setattr(tables, "remove_stale", lambda *args, **kwargs: None)
    assert cli.main(["report", "--output", str(copy), "--data-dir", str(tree.parent / "data")]) == 0
    page = (copy / "report.html").read_text()
    grid = page.split('<section id="scenarios">')[1].split("</section>")[0]
    assert "cells are not under runs/" in grid and grid.count("<img") == 1
    assert 'href="tables/scenarios__summary.md"' in grid
    assert 'href="tables/scenario-null-n197__dfs__cv__preoperative__simulation.md"' in grid
    assert (copy / "plots" / "scenarios" / "cindex__n197__dfs__preoperative.png").read_bytes() == b"png"


def test_the_report_links_the_studies_tables_that_exist(tree, monkeypatch):
    copy = tree.parent / "with-studies"
    shutil.copytree(tree, copy)
    (copy / "tables" / "capacity.md").write_text("# Capacity\n")
    monkeypatch.setattr(plots, "write_plots", lambda root, group: [])
    assert cli.main(["report", "--output", str(copy), "--data-dir", str(tree.parent / "data")]) == 0
    studies = (copy / "report.html").read_text().split('<section id="studies">')[1].split("</section>")[0]
    assert 'href="tables/capacity.md"' in studies and "python -m benchmark capacity" in studies
    assert "scenario_inputs.md" not in studies   # a study never run is not linked
