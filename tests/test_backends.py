"""Serial, local-parallel and Dask runs of the same cells write the same files (bar timings)."""
import json
from pathlib import Path

import pytest

from benchmark.datasets import parse_spec
from benchmark.harness import backends, runner


def comparable_files(root: Path) -> dict[str, object]:
    """Every file of a run's runs/ directory by relative path; result files without their timings."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith("r") and path.suffix == ".json":
            record = json.loads(path.read_text())
            record.pop("timings")
            files[str(path.relative_to(root))] = record
        else:
            files[str(path.relative_to(root))] = path.read_text()
    return files


@pytest.mark.slow
def test_serial_parallel_and_local_cluster_runs_write_identical_results(tmp_path):
    pytest.importorskip("distributed")
    common = dict(datasets=[parse_spec("veterans")], methods=["coxph", "rsf"], folds=3, repeats=1, tune=True, trials=3,
                  params={"rsf": {"n_estimators": 20}}, data_dir=tmp_path / "data")
    runs = {"serial": dict(n_jobs=1), "loky": dict(n_jobs=2), "dask": dict(n_jobs=2, backend="dask")}
    files = {}
    for name, options in runs.items():
        summary = runner.execute(runner.RunConfig(output=tmp_path / name, **common, **options), progress=False)
        assert summary.done == 6 and not summary.errors, summary.lines()
        files[name] = comparable_files(tmp_path / name / "runs")
    kinds = {Path(name).name for name in files["serial"]}
    assert kinds == {f"{prefix}r0_f{fold}{suffix}" for fold in range(3)
                     for prefix, suffix in [("", ".json"), ("", ".predictions.csv"), ("tuning_", ".json")]}
    assert files["loky"] == files["serial"]
    assert files["dask"] == files["serial"]


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(backends.BackendError, match="choose from local, dask"):
        list(backends.imap_unordered(print, [()], backend="spark"))


def test_backends_yield_every_result():
    jobs = [(i,) for i in range(5)]
    assert sorted(backends.imap_unordered(abs, jobs, n_jobs=2)) == list(range(5))
