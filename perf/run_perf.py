"""Wall time of the default run on this machine, cold and warm, and where the time goes.

    python -m perf.run_perf [-j N] [--workdir DIR] [--epochs 20] [-d DATASET ...]

cold: `python -m benchmark run --all` in an empty data directory and results root (the synthetic
cohort generated, its images prepared, features and graphs built, every cell fitted); warm: the same
command again with --force (everything cached, every cell refitted). Then, from the warm run's cell
files, each method's cells and fit seconds, and each neural network's epoch time over the dense
floor of its layers (perf.stg_perf). Figures only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmark.harness import results
from perf import stg_perf

REPOSITORY = Path(__file__).resolve().parents[1]


def timed_run(root: Path, jobs: int, force: bool, datasets: list[str], checkout: Path = REPOSITORY) -> float:
    """Seconds of one `run --all` (on `datasets` only, when given) with its data and results under `root`, of the
    code in `checkout` (`python -m` imports the package of the directory it starts in)."""
    command = [sys.executable, "-m", "benchmark", "run", "--all", "--no-progress", "-j", str(jobs),
               *(f"--dataset={spec}" for spec in datasets),
               "--output", str(root / "results"), "--data-dir", str(root / "data"), *(["--force"] if force else [])]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=checkout)
    return time.perf_counter() - start


def fit_seconds(cells: pd.DataFrame) -> str:
    """Per method: cells, total and mean fit seconds of a run's cells, slowest first."""
    table = (cells[cells["status"] == "ok"].groupby("method")["fit_s"].agg(cells="size", total_s="sum", mean_s="mean")
             .sort_values("total_s", ascending=False))
    return table.to_string(float_format=lambda v: f"{v:.2f}")


def where_the_time_goes(cells: pd.DataFrame, wall: float, jobs: int) -> str:
    """The warm run's wall time split into fitting and predicting (the cells' own timers, summed over the
    workers and divided by them) and the rest: loading cached inputs, scoring, writing, the tables."""
    fitting, predicting = cells["fit_s"].sum() / jobs, cells["predict_s"].sum() / jobs
    rest = wall - fitting - predicting
    return (f"warm run: {wall:.0f} s = fit {fitting:.0f} s + predict {predicting:.0f} s (per worker) "
            f"+ {rest:.0f} s loading, scoring, writing and tables")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the timed runs: cores, work directory and datasets."""
    parser.add_argument("-j", "--jobs", type=int, default=len(os.sched_getaffinity(0)),
                        help="cores for the runs (default: every core this process may use)")
    parser.add_argument("--workdir", type=Path, help="where the runs' data and results go (default: a temporary "
                        "directory, removed afterwards)")
    parser.add_argument("-d", "--dataset", action="append", default=[],
                        help="time `run --all -d DATASET` instead of the default run (repeatable)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    parser.add_argument("--epochs", type=int, default=20, help="epochs per network for the epoch/floor figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stg-bench-perf-") as scratch:
        root = (args.workdir or Path(scratch)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        cold = timed_run(root, args.jobs, False, args.dataset)
        warm = timed_run(root, args.jobs, True, args.dataset)
        command = " ".join(["run --all", *(f"-d {spec}" for spec in args.dataset), f"-j {args.jobs}"])
        print(f"{command}, {os.cpu_count()} CPU(s): cold {cold:.0f} s, warm {warm:.0f} s (goals for the default run "
              "on 2 cores: cold <= 360 s; warm <= 1.3x the former main's, side by side: perf.side_by_side)")
        cells = results.read_all(root / "results")   # the warm run's cell files, read once
        print(where_the_time_goes(cells, warm, args.jobs))
        print("fit time per method (warm run):")
        print(fit_seconds(cells))
    stg_perf.main(["--epochs", str(args.epochs)])   # ends with the machine's load


if __name__ == "__main__":
    main()
