"""The command line as a newcomer meets it: a run keeps what it did not replace, errors name the bad
input, and parsing the command line imports none of the heavy libraries."""
from __future__ import annotations

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
