"""Progress bars obey one switch, and library warnings are counted for the run's summary instead of
being printed over the bars."""
from __future__ import annotations

import warnings

from benchmark import datasets, progress
from benchmark.harness import runner

STOPPED = "A worker stopped while some jobs were given to the executor."   # joblib's loky, over the bar


def test_every_bar_obeys_the_switch():
    assert not progress.bar(total=3).disable
    with progress.shown(False):
        assert progress.bar(total=3).disable
        with progress.shown(True):
            assert not progress.bar(total=3).disable
        assert progress.bar(range(3)).disable
    assert progress.bar(total=0).disable   # nothing to count: no empty bar


def test_warnings_are_counted_not_printed(capsys):
    with progress.counted_warnings() as counts:
        for _ in range(2):
            warnings.warn(STOPPED, UserWarning, stacklevel=1)
        warnings.warn("a value [1, 2, 3]\nwith an array", RuntimeWarning, stacklevel=1)
        warnings.warn("for developers", DeprecationWarning, stacklevel=1)
    assert counts == {f"UserWarning: {STOPPED}": 2, "RuntimeWarning: a value": 1}
    assert capsys.readouterr().err == ""


def test_the_run_summary_names_the_warnings_of_its_own_process(tmp_path, monkeypatch, capsys):
    prepare = runner.prepare_inputs

    def warning_prepare(*args):   # as joblib's loky does while the run prepares inputs
        warnings.warn(STOPPED, UserWarning, stacklevel=1)
        return prepare(*args)

    monkeypatch.setattr(runner, "prepare_inputs", warning_prepare)
    config = runner.RunConfig(datasets=[datasets.parse_spec("veterans")], methods=["coxph"], folds=2, repeats=1,
                              output=tmp_path / "out", data_dir=tmp_path / "data")
    summary = runner.execute(config, progress=False)
    assert f"  library warning (1×): UserWarning: {STOPPED}" in summary.lines()
    assert capsys.readouterr().err == ""   # no bar, no warning printed
