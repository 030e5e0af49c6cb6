"""The warm default run of this checkout beside another revision's, on this machine, alternating.

    python -m perf.side_by_side REV [--rounds 2] [-j N] [--workdir DIR] [-d DATASET ...]

A speed budget is a ratio to another version on the same machine, and a shared machine's timings drift by
up to a third within a day: one run of each, hours apart, says little. This checks REV out beside this
checkout (a detached git worktree, removed at the end), runs each version once cold in a data directory of
its own (the two may draw different cohorts), then times their warm runs (`run --all --force`: features
cached, every cell refitted) one after the other, REV first, `--rounds` times, and prints each run, the
means and the ratio. Figures only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from perf.run_perf import REPOSITORY, add_run_arguments, timed_run


def checkout(revision: str, where: Path) -> Path:
    """REV of this repository at `where`, as a detached git worktree."""
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", "--force", str(where), revision],
                   check=True, stdout=subprocess.DEVNULL)
    return where


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare with, e.g. the former main's commit")
    parser.add_argument("--rounds", type=int, default=2, help="warm runs of each version, alternating (default 2)")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stg-bench-side-by-side-") as scratch:
        root = (args.workdir or Path(scratch)).resolve()
        other = checkout(args.revision, root / "checkout")
        versions = {args.revision: (other, root / "revision"), "this checkout": (REPOSITORY, root / "this")}
        try:
            for name, (code, work) in versions.items():
                print(f"{name}: cold run (data prepared) {timed_run(work, args.jobs, False, args.dataset, code):.0f} s",
                      flush=True)
            warm = {name: [] for name in versions}
            for _ in range(args.rounds):
                for name, (code, work) in versions.items():
                    warm[name].append(timed_run(work, args.jobs, True, args.dataset, code))
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(other)], check=False)
    table = pd.DataFrame(warm, index=[f"round {k + 1}" for k in range(args.rounds)]).T
    table["mean"] = table.mean(axis=1)
    table["× revision"] = table["mean"] / table.loc[args.revision, "mean"]
    command = " ".join(["run --all --force", *(f"-d {spec}" for spec in args.dataset), f"-j {args.jobs}"])
    print(f"warm `{command}`, seconds, {os.cpu_count()} CPU(s):")
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
