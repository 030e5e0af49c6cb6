"""Runner and CLI: resumable, atomic cells; errors recorded without losing the run; clear usage errors."""
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark import cli, files, methods
from benchmark.datasets import parse_spec
from benchmark.harness import runner
from benchmark.methods import Method, Registered


def config(tmp_path, **overrides):
    values = dict(datasets=[parse_spec("veterans")], methods=["coxph"], folds=3, repeats=1, output=tmp_path / "out",
                  data_dir=tmp_path / "data")
    values.update(overrides)
    return runner.RunConfig(**values)


def result_files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("r*_f*.json"))}


class Exploding(Method):
    name = "exploding"
    description = "fails on its second fold"

    def fit(self, data):
        if data.seed % 101 == 1:
            raise RuntimeError("singular matrix on purpose")
        return self

    def predict_survival(self, data):
        grid = data.time_grid
        return np.zeros(len(data)), np.ones((len(data), len(grid)))

    def n_params(self):
        return 0


@pytest.fixture
def with_exploding(monkeypatch):
    registry = dict(methods.registry())
    registry["exploding"] = Registered("exploding", Exploding, __name__)
    monkeypatch.setattr(methods, "_REGISTRY", registry)


def test_cells_are_written_with_metrics_and_skipped_on_rerun(tmp_path):
    summary = runner.execute(config(tmp_path), progress=False)
    assert summary.done == 3 and not summary.errors
    files = result_files(tmp_path / "out")
    assert len(files) == 3
    record = json.loads(next(iter(files.values())))
    assert record["status"] == "ok" and record["n_params"] > 0 and 0.5 < record["metrics"]["cindex_harrell"] < 1
    assert record["versions"]["scikit-survival"] == "0.28.0"
    predictions = next((tmp_path / "out").rglob("*.predictions.csv")).read_text().splitlines()
    assert predictions[0].startswith("patient_id,time,event,risk,year,surv_1y")
    assert "mae_po_score" not in predictions[0]   # cross-validated: the intervals come from the folds
    again = runner.execute(config(tmp_path), progress=False)
    assert again.done == 0 and again.skipped_finished == 3
    assert result_files(tmp_path / "out") == files


def test_a_method_whose_defaults_changed_is_refitted_not_reused(tmp_path, monkeypatch):
    runner.execute(config(tmp_path), progress=False)
    coxph = methods.get("coxph")
    monkeypatch.setattr(coxph, "defaults", {**coxph.defaults, "alpha": 0.5})
    again = runner.execute(config(tmp_path), progress=False)
    assert again.done == 3 and again.skipped_finished == 0
    records = [json.loads(text) for text in result_files(tmp_path / "out").values()]
    assert {r["params"]["alpha"] for r in records} == {0.5}
    assert runner.execute(config(tmp_path), progress=False).skipped_finished == 3


def test_a_cell_fitted_on_other_inputs_is_refitted_not_reused(tmp_path, monkeypatch):
    """Changed features (here one covariate of every patient) change the inputs' digest: the cells are refitted;
    the same inputs again are not."""
    runner.execute(config(tmp_path), progress=False)
    original = runner.load_cohort(parse_spec("veterans"), tmp_path / "data")
    changed = copy.deepcopy(original)
    changed.clinical["Age_in_years"] = changed.clinical["Age_in_years"] + 1
    monkeypatch.setattr(runner, "load_cohort", lambda *args, **kwargs: changed)
    again = runner.execute(config(tmp_path), progress=False)
    assert again.done == 3 and again.skipped_finished == 0
    assert runner.execute(config(tmp_path), progress=False).skipped_finished == 3
    digests = {json.loads(text)["inputs"] for text in result_files(tmp_path / "out").values()}
    assert len(digests) == 1


def test_the_inputs_digest_follows_providers_down_to_their_tables():
    from benchmark.features import artefacts, graphs  # noqa: F401 (registers the graph providers)
    assert artefacts._tables_behind(["clinical", "graphs_radiomics_lesions"]) == {
        "clinical", "radiomics", "geometry", "morphometry", "lesions"}


def test_a_small_imaging_cohort_runs_without_the_fixed_split_and_says_why(tmp_path, monkeypatch, clinical_cohort):
    small = copy.deepcopy(clinical_cohort)
    for patient in small.patient_ids[30:]:
        small.exclude(patient, "left out by the test")
    monkeypatch.setattr(runner, "load_cohort", lambda *args, **kwargs: small)
    the_plan = runner.plan(config(tmp_path, datasets=[parse_spec("crlm-synthetic:n=30")]))
    assert {cell.protocol for cell in the_plan.cells} == {"cv"}
    assert the_plan.protocols_not_run == [("crlm-test", "fixed 177/20 split: needs more than 40 patients, has 30")]
    assert not the_plan.skipped   # every method still runs its cross-validation cells
    with pytest.raises(runner.splits.SplitError, match="needs more than 40"):
        runner.plan(config(tmp_path, datasets=[parse_spec("crlm-synthetic:n=30")], protocols=["paper"]))


def test_the_summary_lists_methods_not_run_once_per_dataset_and_reason():
    summary = runner.Summary(done=2, not_applicable=[("gbsg2", "stg", "needs CT images"),
                                                     ("gbsg2", "gcn", "needs CT images"),
                                                     ("gbsg2", "oracle", "needs the true risk")])
    summary.protocols_not_run = [("tiny", "fixed 177/20 split: needs more than 40 patients, has 30")]
    assert summary.lines()[1:] == ["  not run on gbsg2 (needs CT images): stg, gcn",
                                   "  not run on gbsg2 (needs the true risk): oracle",
                                   "  not run on tiny: fixed 177/20 split: needs more than 40 patients, has 30"]


def test_same_seed_same_metrics(tmp_path):
    runner.execute(config(tmp_path / "a", methods=["rsf"]), progress=False)
    runner.execute(config(tmp_path / "b", methods=["rsf"]), progress=False)
    metrics = [[json.loads(text)["metrics"] for text in result_files(tmp_path / side / "out").values()]
               for side in ("a", "b")]
    assert metrics[0] == metrics[1]


def test_an_errored_cell_is_recorded_and_the_run_goes_on(tmp_path, with_exploding):
    summary = runner.execute(config(tmp_path, methods=["exploding", "coxph"]), progress=False)
    assert summary.done == 5 and len(summary.errors) == 1
    label, message = summary.errors[0]
    assert "exploding r0 f1" in label and "singular matrix on purpose" in message
    failed = [json.loads(t) for t in result_files(tmp_path / "out").values() if '"error"' in t]
    assert failed[0]["status"] == "error" and "Traceback" in failed[0]["traceback"]
    # the rerun retries only the errored cell
    retry = runner.execute(config(tmp_path, methods=["exploding", "coxph"]), progress=False)
    assert retry.skipped_finished == 5 and len(retry.errors) == 1


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "cell.json"
    files.atomic_write_text(target, "old")
    assert target.stat().st_mode & 0o777 == 0o666 & ~files.current_umask()   # not mkstemp's private 0600

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write_text(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.slow
def test_killing_a_run_loses_no_finished_cell_and_recomputes_none(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "benchmark", "run", "-m", "rsf", "-d", "gbsg2", "--folds", "5",
               "--repeats", "2", "--output", str(out), "--data-dir", str(tmp_path / "data"), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(out.rglob("r*_f*.json"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    finished = result_files(out)
    assert 3 <= len(finished) < 10, "the run should have been killed midway"
    assert not [p for p in out.rglob(".*") if p.is_file()], "a temporary file was left behind"
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"{10 - len(finished)} cell(s) computed, {len(finished)} already finished" in completed.stdout
    after = result_files(out)
    assert len(after) == 10 and all(after[name] == text for name, text in finished.items())


@pytest.mark.parametrize("argv, message", [
    (["run", "-m", "nosuch"], "unknown method 'nosuch'"),
    (["run", "--all", "-d", "nosuch"], "unknown dataset 'nosuch'"),
    (["run"], "give --all or at least one -m NAME"),
    (["run", "-m", "coxph", "-d", "gbsg2", "--feature-set", "postop"], "unknown feature set 'postop'"),
    (["run", "-m", "coxph", "--set", "coxph.alhpa=1"], "coxph: unknown parameter(s) ['alhpa']"),
    (["run", "-m", "coxph", "--set", "rsf.n_estimators=10"], "method 'rsf' is not part of this run"),
    (["run", "-m", "coxph", "--set", "coxph"], "expected METHOD.KEY=VALUE"),
])
def test_bad_command_lines_exit_2_with_one_line(argv, message, capsys, tmp_path):
    code = cli.main([*argv, "--output", str(tmp_path)] if argv != ["run"] else argv)
    error = capsys.readouterr().err
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1


class Probe(Exploding):
    """Records the encoder options its training fold was given."""

    name = "probe"

    def fit(self, data):
        self.notes = [f"encoder width {data.context.encoder.width}"]
        return self


def test_overrides_and_encoder_options_reach_the_cells(monkeypatch, tmp_path):
    registry = dict(methods.registry())
    registry["probe"] = Registered("probe", Probe, __name__)
    monkeypatch.setattr(methods, "_REGISTRY", registry)
    args = cli.build_parser().parse_args(["run", "-m", "rsf", "-m", "probe", "-d", "veterans", "--set",
                                          "rsf.n_estimators=20", "--set", "rsf.max_features=sqrt",
                                          "--encoder-width", "12", "--output", str(tmp_path)])
    config = cli.run_config(args)
    assert config.params == {"rsf": {"n_estimators": 20, "max_features": "sqrt"}}
    assert config.encoder.width == 12 and "STG_BENCH_ENCODER_WIDTH" not in os.environ
    the_plan = runner.plan(config)
    cell = next(c for c in the_plan.cells if c.method == "probe")
    output = runner.compute_cell(cell, the_plan.specs[cell.dataset], the_plan.split(cell), config)
    assert output.record["notes"] == ["encoder width 12"]   # the options travel with the cell, to any worker


def test_bad_numbers_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--all", "--folds", "0"])
    assert exit_info.value.code == 2 and "must be >= 1" in capsys.readouterr().err


def test_list_shows_every_method(capsys):
    assert cli.main(["list"]) == 0
    shown = capsys.readouterr().out
    for entry in methods.available():
        assert entry.name in shown


class Noisy(Exploding):
    """Warns the way scikit-learn's search does: a message followed by a whole array."""

    name = "noisy"

    def fit(self, data):
        import warnings
        for _ in range(3):
            warnings.warn(f"One or more of the test scores are non-finite: {np.full(30, np.nan)}", UserWarning,
                          stacklevel=2)
        return self


def test_library_warnings_are_counted_in_the_cell_not_printed(tmp_path, monkeypatch, capfd):
    registry = dict(methods.registry())
    registry["noisy"] = Registered("noisy", Noisy, __name__)
    monkeypatch.setattr(methods, "_REGISTRY", registry)
    summary = runner.execute(config(tmp_path, methods=["noisy"]), progress=False)
    assert summary.done == 3 and "non-finite" not in capfd.readouterr().err
    record = json.loads(next(iter(result_files(tmp_path / "out").values())))
    text = "UserWarning: One or more of the test scores are non-finite"
    assert record["warnings"] == {text: 3} and record["notes"] == [f"library warning: {text}"]


def test_repeated_feature_sets_each_run_and_list_names_the_real_cohort(tmp_path, capsys):
    args = cli.build_parser().parse_args(["run", "-m", "coxph", "-d", "mskcc-crlm", "--feature-set", "preoperative",
                                          "--feature-set", "postoperative", "--protocol", "cv", "--folds", "2",
                                          "--repeats", "1", "--endpoint", "os", "--output", str(tmp_path)])
    the_plan = runner.plan(cli.run_config(args))
    assert sorted({c.feature_set for c in the_plan.cells}) == ["postoperative", "preoperative"]
    assert len(the_plan.cells) == 4
    assert cli.main(["list"]) == 0
    assert "mskcc-crlm" in capsys.readouterr().out


def test_planning_writes_nothing_and_collect_computes_nothing(tmp_path, capsys):
    the_plan = runner.plan(config(tmp_path))
    assert len(the_plan.cells) == 3 and not (tmp_path / "out").exists()
    assert the_plan.inputs == {("veterans", "coxph", "{}"): ("clinical",)}
    assert cli.main(["run", "-m", "coxph", "-d", "veterans", "--folds", "3", "--repeats", "1", "--collect",
                     "--output", str(tmp_path / "out")]) == 0
    assert "0 of 3 cell(s) finished" in capsys.readouterr().out
    assert not list((tmp_path / "out").rglob("*.json"))
    runner.execute(config(tmp_path), progress=False)
    assert len(list((tmp_path / "out" / "splits").rglob("*.json"))) == 1


def test_run_records_its_cohorts_so_its_footers_say_who_was_left_out(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "-m", "coxph", "-d", "veterans", "--folds", "3", "--repeats", "1", "--no-progress",
                     "-j", "1", "--output", str(out), "--data-dir", str(tmp_path / "data")]) == 0
    assert (out / "cohorts" / "veterans.json").is_file()
    footer = next((out / "tables").glob("veterans__*__main.md")).read_text()
    assert "Excluded patients: none." in footer and "not recorded" not in footer


def test_the_fixed_split_stores_what_each_patient_adds_to_taa_and_mae(tmp_path):
    """The single split's bootstrap over patients reads each patient's score and weight; their weighted mean is
    the fold's metric, of the own read-out too."""
    from benchmark.scoring.metrics import Prediction
    from benchmark.scoring.year_metrics import weighted_mean, year_metrics
    cohort = runner.load_cohort(parse_spec("veterans"), tmp_path / "data")
    rng = np.random.default_rng(0)
    side = dict(cohort=cohort, endpoint=cohort.primary_endpoint, feature_set=next(iter(cohort.feature_sets)), seed=0)
    data, held = (methods.FoldData(ids=cohort.patient_ids[rows], **side) for rows in (slice(0, 100), slice(100, None)))
    test = held.ids
    surv = np.sort(rng.uniform(0, 1, (len(test), len(held.time_grid))), axis=1)[:, ::-1]
    prediction = Prediction(risk=rng.normal(size=len(test)), surv=surv, year=rng.uniform(0, 5, len(test)),
                            own_year=rng.uniform(0, 5, len(test)), own_year_label="random")
    prediction.year_status = runner.year_status_from_survival(surv, held.time_grid, held.units_per_year)
    frame = runner.prediction_frame(held.ids, data.y, held.y, prediction, cohort, patient_scores_too=True)
    for prefix, year in (("", prediction.year), ("own_", prediction.own_year)):
        metrics, _ = year_metrics(year, data.y, held.y, held.units_per_year)
        for metric in ("taa_pm1_ipcw", "mae_po"):
            mean = weighted_mean(frame[f"{prefix}{metric}_score"].to_numpy(),
                                 frame[f"{prefix}{metric}_weight"].to_numpy())
            assert np.isfinite(mean) and mean == pytest.approx(metrics[metric], rel=1e-9), (prefix, metric)
    plain = runner.prediction_frame(held.ids, data.y, held.y, prediction, cohort, patient_scores_too=False)
    assert not plain.columns.str.endswith(("_score", "_weight")).any() and "own_year" in plain
