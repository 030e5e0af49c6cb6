"""The command line as a newcomer meets it: a run keeps what it did not replace, errors name the bad
input, and parsing the command line imports none of the heavy libraries."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import cli

COVERED = "veterans__os__cv__clinical"   # the only group of the run below


def test_a_subset_run_leaves_every_other_committed_table_and_plot_in_place(tmp_path):
    out = tmp_path / "results"
    other = "mskcc-crlm__os__cv__preoperative"
    committed = [out / "tables" / f"{other}__main{suffix}" for suffix in (".md", ".tex", ".csv")]
    committed += [out / "tables" / name for name in ("scenarios__summary.md", "calibration.md",
                                                     "crlm-synthetic-null-n60-seed0__dfs__cv__preoperative__simulation.md")]
    committed += [out / "plots" / other / "km_risk_groups.png",
                  out / "plots" / "scenarios" / "cindex__n197__dfs__preoperative.png",
                  out / "plots" / "calibration" / "anatomy.png"]
    stale = out / "tables" / f"{COVERED}__ablations.md"   # the run's own group, a table it no longer has
    for path in [*committed, stale]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("committed")
    assert cli.main(["run", "-d", "veterans", "-m", "coxph", "--folds", "2", "--repeats", "1", "--output", str(out),
                     "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    assert (out / "tables" / f"{COVERED}__main.md").is_file()
    assert [path for path in committed if not path.is_file() or path.read_text() != "committed"] == []
    assert not stale.exists()


def test_a_run_leaves_the_tables_of_cells_it_did_not_plan_as_they_are(tmp_path):
    """Another group's cells on disk (a grid half done, say) are not this run's: their tables stay."""
    out, data = tmp_path / "results", str(tmp_path / "data")
    quick = ["-m", "coxph", "--folds", "2", "--repeats", "1", "--output", str(out), "--data-dir", data, "--no-progress"]
    assert cli.main(["run", "-d", "whas500", *quick]) == 0
    other = out / "tables" / "whas500__os__cv__clinical__main.md"
    assert other.is_file()
    other.write_text("committed")
    assert cli.main(["run", "-d", "veterans", *quick]) == 0
    assert (out / "tables" / f"{COVERED}__main.md").is_file()
    assert other.read_text() == "committed"


def test_parsing_the_command_line_imports_no_heavy_library():
    """Every --help answers at once because benchmark.cli imports only what parsing needs."""
    heavy = ("torch", "dgl", "sksurv", "sklearn", "pandas", "matplotlib", "scipy")
    code = ("import sys; from benchmark import cli; cli.build_parser(); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[1]).stdout.strip()
    assert loaded == "[]"


def test_every_option_of_every_command_has_help_and_the_description_names_every_command():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert all(f" {name}" in parser.description or f"{name}," in parser.description for name in commands)
    without_help = [f"{name} {action.option_strings[0]}" for name, command in commands.items()
                    for action in command._actions if action.option_strings and not action.help]
    assert without_help == []


@pytest.mark.parametrize("argv, named", [
    (["run", "-d", "no-such-dataset"], ["unknown dataset 'no-such-dataset'"]),
    (["run", "--data", "no-such-dataset", "--draws", "2"], ["unknown dataset 'no-such-dataset'"]),
    (["run", "-m", "no-such-method", "--trials", "3"], ["unknown method 'no-such-method'"]),
    (["run", "-d", "nowhere", "-m", "nothing"], ["unknown dataset 'nowhere'", "unknown method 'nothing'"]),
])
def test_unknown_datasets_and_methods_are_named_whatever_else_is_missing(argv, named, capsys):
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and all(text in error for text in named)
