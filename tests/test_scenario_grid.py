"""The synthetic scenario grid: its specs, the `run --scenario` command line, and the simulation-study
report computed from fake cell records (no cohort is generated)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmark import cli, datasets
from benchmark.data.scenarios import DEFAULT_SCENARIO, SCENARIOS
from benchmark.datasets.synthetic import SyntheticCrlm
from benchmark.harness import grid, results, runner
from benchmark.reporting import groups, plots, scenarios

# --- the grid ---------------------------------------------------------------------------------------


def test_the_grid_is_every_scenario_draw_and_size_and_its_names_round_trip():
    members = grid.members(grid.scenarios(["all"]), draws=2, sizes=[120, 197])
    assert len(members) == len(set(members)) == len(SCENARIOS) * 2 * 2
    for dataset in members:
        assert datasets.parse_spec(dataset.spec) == dataset and datasets.from_name(dataset.name) == dataset
    cohorts = {(d.scenario, d.n_patients, d.seed, d.image_size) for d in members}
    assert cohorts == {(s, n, seed, "small") for s in SCENARIOS for n in (120, 197) for seed in (0, 1)}
    names = [dataset.name for dataset in grid.members(["null", "mixed"], draws=2, sizes=[197])]
    assert names == ["crlm-synthetic-null", "crlm-synthetic", "crlm-synthetic-null-n197-seed1-small",
                     "crlm-synthetic-n197-seed1-small"]


def test_scenarios_are_named_or_all_in_the_generators_order():
    assert grid.scenarios(["all"]) == list(SCENARIOS)
    assert grid.scenarios(["null", DEFAULT_SCENARIO]) == [DEFAULT_SCENARIO, "null"]
    with pytest.raises(datasets.DatasetError, match="unknown scenario 'bogus'"):
        grid.scenarios(["null", "bogus"])


def parse_run(*argv: str):
    return cli.run_config(cli.build_parser().parse_args(["run", *argv]))


def test_run_with_scenarios_runs_the_grid_under_cv_only():
    config = parse_run("-m", "coxph", "--scenario", "null", "--scenario", "burden", "--grid-n", "120")
    assert config.datasets == grid.members(["burden", "null"], grid.DEFAULT_DRAWS, [120])
    assert config.protocols == ["cv"] and config.methods == ["coxph"]
    assert len(parse_run("--all", "--scenario", "all").datasets) == len(SCENARIOS) * grid.DEFAULT_DRAWS
    assert [dataset.spec for dataset in parse_run("--all").datasets] == list(datasets.RUN_ALL_DATASETS)


@pytest.mark.parametrize("argv, message", [
    (["--scenario", "bogus"], "unknown scenario 'bogus' (choose from all, " + ", ".join(SCENARIOS)),
    (["--draws", "2"], "--draws and --grid-n need --scenario"),
    (["--scenario", "null", "-d", "gbsg2"], "give no -d"),
    (["--scenario", "null", "--protocol", "paper"], "cv protocol only"),
])
def test_a_bad_grid_request_is_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(["run", "-m", "coxph", *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


# --- the report on fake cells -----------------------------------------------------------------------

#: Per-cell deviations from a method's draw mean (3 folds × 2 repeats; they sum to zero).
OFFSETS = (0.01, -0.01, 0.02, -0.02, 0.0, 0.0)
#: Per-draw mean C-index of each method on draws 0, 1, 2 of the null scenario.
NULL_MEANS = {"oracle": (0.80, 0.78, 0.82), "coxph": (0.72, 0.72, 0.72), "rsf": (0.70, 0.74, 0.75),
              "stg": (0.72, 0.73, 0.74)}


def write_draw(root, dataset: SyntheticCrlm, means: dict[str, float]) -> None:
    """Fake finished cells of one draw: every method's C-index is its mean plus OFFSETS."""
    for method, mean in means.items():
        for index, offset in enumerate(OFFSETS):
            cell = results.Cell(dataset.name, "dfs", "cv", "preoperative", method, index // 3, index % 3)
            metrics = {"cindex_harrell": mean + offset, "taa_pm1_ipcw": 0.6 + offset, "mae_po": 1.5, "ibs": 0.15}
            record = {"status": "ok", "metrics": metrics, "n_train": 158, "n_test": 39, "n_params": 4,
                      "timings": {"fit_s": 0.1}}
            results.write_cell(root, cell, record, pd.DataFrame({"patient_id": [f"p{index}"]}))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Three draws of the null scenario and two of the burden one, n=197."""
    root = tmp_path_factory.mktemp("grid") / "results"
    for seed in range(3):
        write_draw(root, SyntheticCrlm(seed=seed, scenario="null"),
                   {method: means[seed] for method, means in NULL_MEANS.items()})
    for seed in range(2):
        write_draw(root, SyntheticCrlm(seed=seed, scenario="burden"), {"oracle": 0.85, "coxph": 0.75})
    return root


def test_mcse_is_the_sd_over_draws_over_root_draws(tree):
    report = scenarios.write_report(tree, groups.collect(tree))
    numbers = pd.read_csv(report.summary.with_suffix(".csv"), keep_default_na=False, na_values=[""])
    rsf = numbers[(numbers["scenario"] == "null") & (numbers["method"] == "rsf")].iloc[0]
    # rsf draws 0.70, 0.74, 0.75: mean 0.73, squared deviations 0.0009 + 0.0001 + 0.0004 over 2 degrees of freedom
    sd = np.sqrt(0.0014 / 2)
    assert rsf["draws"] == 3 and rsf["cindex_harrell_mean"] == pytest.approx(0.73)
    assert rsf["cindex_harrell_sd"] == pytest.approx(sd, rel=1e-5)
    assert rsf["cindex_harrell_mcse"] == pytest.approx(sd / np.sqrt(3), rel=1e-5)
    # gaps to the oracle per draw: -0.10, -0.04, -0.07: mean -0.07, sd 0.03
    assert rsf["oracle_gap_mean"] == pytest.approx(-0.07)
    assert rsf["oracle_gap_mcse"] == pytest.approx(0.03 / np.sqrt(3), rel=1e-5)
    text = report.summary.read_text()
    assert text.startswith("# Scenario grid: a simulation study")
    for part in ("**Aims.**", "**Data-generating mechanisms.**", "**Estimands.**", "**Methods.**",
                 "**Performance measures.**", "0.730 ± 0.026 (MCSE 0.015)", "-0.070 (MCSE 0.017)"):
        assert part in text
    methods_in_order = [line.split("|")[1].strip() for line in text.split("C-index by scenario")[1].splitlines()
                        if line.startswith("| ") and "Method" not in line][:3]
    assert methods_in_order == ["oracle (true model)", "coxph", "rsf"]
    table = (tree / "tables" / "scenario-null-n197__dfs__cv__preoperative__simulation.md").read_text()
    assert "0.730 ± 0.026 (MCSE 0.015)" in table
    # each footer names the command that computes what the table holds, whichever run wrote it
    assert "`python -m benchmark run --all --scenario null --grid-n 197`" in table
    assert "`python -m benchmark run --all --scenario burden --scenario null --grid-n 197`" in text
    assert (tree / "plots" / "scenarios" / "cindex__n197__dfs__preoperative.svg").is_file()


def test_the_summary_compares_each_image_method_with_its_references_over_draws(tree):
    report = scenarios.write_report(tree, groups.collect(tree))
    numbers = pd.read_csv(tree / "tables" / "scenarios__image_bars.csv", keep_default_na=False, na_values=[""])
    stg = numbers.set_index("comparison")
    assert list(numbers["method"]) == ["stg", "stg"] and list(numbers["setting"]) == ["null n=197"] * 2
    # stg − coxph per draw 0.00, 0.01, 0.02: mean 0.01, sd 0.01; t(0.975, 2) = 4.303
    half = 4.302653 * 0.01 / np.sqrt(3)
    assert stg.loc["coxph", "mean_difference"] == pytest.approx(0.01)
    assert stg.loc["coxph", ["ci_low", "ci_high"]].tolist() == pytest.approx([0.01 - half, 0.01 + half], abs=1e-6)
    assert stg.loc["coxph", "verdict"] == "not distinguishable"
    # stg − oracle per draw −0.08, −0.05, −0.08: mean −0.07, sd √0.0003, MCSE 0.01
    assert stg.loc["oracle", "mcse"] == pytest.approx(0.01) and stg.loc["oracle", "verdict"] == "lower"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in report.summary.read_text().splitlines()
            if line.startswith("| null n=197 | stg")]
    assert rows == [["null n=197", "stg", "− oracle", "-0.070", "0.010", "[-0.113, -0.027]", "3", "lower"],
                    ["null n=197", "stg", "− coxph", "+0.010", "0.006", "[-0.015, +0.035]", "3",
                     "not distinguishable"]]


def test_only_the_default_cohort_is_no_grid(tmp_path):
    write_draw(tmp_path, SyntheticCrlm(), {"oracle": 0.8, "coxph": 0.7})
    assert scenarios.write_report(tmp_path, groups.collect(tmp_path)) is None


def test_report_and_run_write_the_summary_and_print_its_path(tree, monkeypatch, capsys):
    monkeypatch.setattr(plots, "write_plots", lambda root, group: [])
    summary = tree / "tables" / "scenarios__summary.md"
    assert cli.main(["report", "--output", str(tree), "--data-dir", str(tree.parent / "data")]) == 0
    assert f"scenario grid: {summary}" in capsys.readouterr().out
    assert "Scenario grid (simulation study)" in (tree / "report.html").read_text()
    assert (tree / "plots" / "scenarios" / "cindex__n197__dfs__preoperative.png").is_file()
    summary.unlink()
    monkeypatch.setattr(runner, "plan", lambda config: runner.Plan([], [], {}))   # nothing to load or compute
    assert cli.main(["run", "-m", "coxph", "-d", "crlm-synthetic:n=60", "--collect", "--output", str(tree)]) == 0
    assert not summary.exists()   # a run of one synthetic cohort leaves the grid's summary alone
    assert cli.main(["run", "-m", "coxph", "--scenario", "null", "--collect", "--output", str(tree)]) == 0
    assert f"scenario grid: {summary}" in capsys.readouterr().out and summary.is_file()


def null_draw(p: dict[str, tuple[float, float]]) -> groups.Group:
    """A draw whose main table holds exactly these p-values: method -> (C-index p, TAA p)."""
    summary = pd.DataFrame([{"method": "coxph", "family": "baseline", "cindex_harrell_p": np.nan,
                             "taa_pm1_ipcw_p": np.nan}]
                           + [{"method": m, "family": "baseline", "cindex_harrell_p": c, "taa_pm1_ipcw_p": t}
                              for m, (c, t) in p.items()])
    return groups.Group("crlm-synthetic-null", "dfs", "cv", "preoperative", pd.DataFrame(), None, 0, 197, "coxph",
                        summary)


def test_null_mark_rate_counted_by_hand():
    draws = [
        # sorted 0.001, 0.02, 0.04, 0.5 -> Holm 0.004, 0.06, 0.08, 0.5: one mark of three raw ones
        null_draw({"rsf": (0.001, 0.02), "oracle": (0.04, 0.5)}),
        null_draw({"rsf": (0.3, 0.3), "oracle": (0.3, 0.3)}),
        # an undefined test is no test: 0.01, 0.2, 0.9 -> Holm 0.03, 0.4, 0.9
        null_draw({"rsf": (0.01, np.nan), "oracle": (0.2, 0.9)}),
    ]
    assert scenarios.null_marks(draws) == {"draws": 3, "tests": 11, "raw_marks": 4, "holm_marks": 2,
                                           "draws_marked": 2}
    # the C-index tests alone, Holm still over the whole table: 0.001 and 0.01 marked, 0.04 raw only
    assert scenarios.null_marks(draws, ["cindex_harrell"]) == {"draws": 3, "tests": 6, "raw_marks": 3,
                                                               "holm_marks": 2, "draws_marked": 2}
    study = scenarios.Study("null", 197, "small", "dfs", "preoperative")
    table = scenarios.null_table({study: dict(enumerate(draws))}, {study: "null n=197"})
    every, ranking = table.frame.iloc[0], table.frame.iloc[1]
    assert every["Tests"] == "11" and every["Raw p < 0.05"] == "4 / 11 (36.4 %)"
    assert every["Holm p < 0.05 (†)"] == "2 / 11 (18.2 %)" and every["Draws with a mark"] == "2 / 3 (66.7 %)"
    assert ranking["Metrics"] == "ranking metrics" and ranking["Raw p < 0.05"] == "3 / 6 (50.0 %)"


def test_the_report_shows_the_grid_by_its_summary_and_links_each_draw(tree, monkeypatch):
    def fake_plots(root, group):   # runs in the drawing workers: what it drew is read back from the files
        png = root / "plots" / group.stem / "km_risk_groups.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(str(time.perf_counter_ns()).encode())
        return [png]
    monkeypatch.setattr(plots, "write_plots", fake_plots)
    argv = ["report", "--output", str(tree), "--data-dir", str(tree.parent / "data")]
    draws = sorted(group.stem for group in groups.collect(tree))
    drawn = [tree / "plots" / stem / "km_risk_groups.png" for stem in draws]
    assert cli.main(argv) == 0
    assert not any(png.exists() for png in drawn)   # every group here is a grid draw: drawn on request only
    page = (tree / "report.html").read_text()
    assert "python -m benchmark report --grid-detail" in page
    for stem in draws:
        assert f'href="tables/{stem}__main.md"' in page and f'<section id="{stem}"' not in page
    assert cli.main([*argv, "--grid-detail"]) == 0
    assert all(png.is_file() for png in drawn)
    page = (tree / "report.html").read_text()
    assert all(f'href="plots/{stem}/"' in page for stem in draws)
    assert page.count("<img") == len(list((tree / "plots").glob("scenarios/*.png"))) + 3   # + calibration
    before = [png.read_bytes() for png in drawn]
    assert cli.main(argv) == 0   # a report without --grid-detail leaves the drawn detail as it is
    assert [png.read_bytes() for png in drawn] == before


def test_run_writes_the_calibration_checks_once_both_calibrated_datasets_finished(tmp_path, monkeypatch):
    root = tmp_path / "results"
    write_draw(root, SyntheticCrlm(), {"oracle": 0.8, "coxph": 0.7})
    monkeypatch.setattr(runner, "plan", lambda config: runner.Plan([], [], {}))   # nothing to load or compute
    monkeypatch.setattr(runner.Plan, "groups", lambda plan: {group.key for group in groups.collect(root)})
    argv = ["run", "-m", "coxph", "--collect", "--output", str(root)]
    checks = root / "tables" / "calibration.md"
    assert cli.main(argv) == 0 and not checks.exists()   # the real cohort's cells are not there
    write_draw(root, SimpleNamespace(name="mskcc-crlm"), {"coxph": 0.6})
    assert cli.main(argv) == 0
    assert "calibration checks within tolerance" in checks.read_text()
