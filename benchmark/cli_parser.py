"""The command line's grammar: every command, its options with their help, and the value checks.

Imports only what the help texts name (the dataset registry, scenario names, the defaults): no
pandas, torch or scikit-survival, so parsing, and every --help, answers at once.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from benchmark import datasets
from benchmark.data.scenarios import SCENARIOS
from benchmark.features.encoder_options import DEFAULT_WIDTH, INPUT_SIZE
from benchmark.harness import backends, defaults, grid

DESCRIPTION = "Benchmark of survival methods for colorectal cancer liver metastases"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def existing_file(text: str) -> Path:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return Path(text)


def study_options(parser: argparse.ArgumentParser) -> None:
    """The options every study command shares: where results and data go, and the workers."""
    parser.add_argument("--output", type=Path, default=Path("results"), help="results root (default results/)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")
    parser.add_argument("-j", "--jobs", type=positive_int, default=defaults.available_cores(),
                        help="worker processes (default: the cores available)")
    parser.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)


NO_PROGRESS = "no progress bars or lines (warnings are still counted in the closing summary)"


def force_option(parser: argparse.ArgumentParser) -> None:
    """--force for the studies that fit cells on stored splits: what a changed synthetic world needs."""
    parser.add_argument("--force", action="store_true",
                        help="recompute the study's finished cells, remaking the splits of cohorts whose outcomes "
                             "changed (after a new synthetic world)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="datasets and methods, with install status")

    run = commands.add_parser("run", help="run the benchmark cells and write the tables")
    run.add_argument("--all", action="store_true", help="every method (and, without -d or --scenario, every dataset)")
    run.add_argument("-m", "--method", action="append", default=[], help="method name (repeatable)")
    run.add_argument("-d", "--dataset", action="append", default=[], help="dataset spec (repeatable)")
    run.add_argument("--data", action="append", default=[], help="alias of -d, e.g. tcia:PATH")
    run.add_argument("--max-slice-mm", type=positive_float, metavar="MM",
                     help="leave out the patients whose CT slices are thicker than MM (tcia:PATH only)")
    run.add_argument("--scenario", action="append", metavar="NAME",
                     help=f"{grid.ALL} or {'|'.join(SCENARIOS)} (repeatable): run the synthetic "
                          "scenario grid instead of -d, every scenario × draw × --grid-n, cv only")
    run.add_argument("--draws", type=positive_int,
                     help=f"with --scenario: draws per scenario, cohort seeds 0..N-1 (default {grid.DEFAULT_DRAWS})")
    run.add_argument("--grid-n", type=positive_int, action="append", metavar="N",
                     help=f"with --scenario: patients per draw (repeatable; default {grid.DEFAULT_SIZES[0]})")
    run.add_argument("--endpoint", action="append", choices=["os", "dfs", "liver_dfs"],
                     help="endpoint (repeatable; default: the dataset's primary endpoint)")
    run.add_argument("--protocol", action="append", choices=["cv", "paper"],
                     help="cv = repeated stratified K-fold; paper = fixed 177/20 split (default: both on CRLM)")
    run.add_argument("--feature-set", action="append", dest="feature_sets",
                     help="preoperative (default) or postoperative (adds pathology: leakage); repeatable "
                          "(default: the dataset's own, both on mskcc-crlm)")
    run.add_argument("--folds", type=positive_int, default=defaults.FOLDS,
                     help=f"cv: folds K of each repeat (default {defaults.FOLDS})")
    run.add_argument("--repeats", type=positive_int, default=defaults.REPEATS,
                     help=f"cv: repeats of the K-fold split, each reshuffled (default {defaults.REPEATS})")
    run.add_argument("--seed", type=int, default=defaults.SEED,
                     help=f"seed of the outer splits and of every cell's model (default {defaults.SEED})")
    run.add_argument("-j", "--jobs", type=positive_int, default=defaults.available_cores(),
                     help="cores to use: cell workers, image preparation and radiomics processes "
                          "(default: the cores this process may use)")
    run.add_argument("--output", type=Path, default=Path("results"), help="results root (default results/)")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")
    run.add_argument("--force", action="store_true", help="recompute finished cells")
    run.add_argument("--collect", action="store_true", help="compute nothing: report what is finished and write tables")
    run.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    run.add_argument("--tune", action="store_true",
                     help="tune each method's search space by Optuna inner CV on every training fold")
    run.add_argument("--trials", type=positive_int,
                     help=f"trials per cell with --tune (default {defaults.TRIALS})")
    run.add_argument("--storage", help="Optuna storage URL with --tune (default: journal file under --output)")
    run.add_argument("--backend", choices=backends.BACKENDS, default="local",
                     help="local (default; -j worker processes) or dask (a cluster; -j workers of a LocalCluster)")
    run.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (default: start a LocalCluster)")
    run.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE", dest="overrides",
                     help="override one parameter of one method, e.g. stg.profile=paper (repeatable)")
    run.add_argument("--encoder-weights", type=existing_file,
                     help="MedicalNet-format ResNet-18 checkpoint for the CT encoder (default: seeded random init)")
    run.add_argument("--encoder-width", type=positive_int,
                     help=f"CT encoder features per node (default {DEFAULT_WIDTH}; the paper: 4096)")
    run.add_argument("--encoder-input", type=positive_int,
                     help=f"CT encoder input cube side in voxels (default {INPUT_SIZE})")

    prepare = commands.add_parser("prepare", help="generate (synthetic) and prepare a CRLM imaging cohort")
    prepare.add_argument("-d", "--dataset", "--data", dest="dataset", default=datasets.DEFAULT_DATASET,
                         help="crlm-synthetic[:...] (default) or tcia:PATH")
    prepare.add_argument("--max-slice-mm", type=positive_float, metavar="MM",
                         help="leave out the patients whose CT slices are thicker than MM (tcia:PATH only)")
    prepare.add_argument("--data-dir", type=Path, default=Path("data"),
                         help="where generated data and prepared images go (default data/)")
    prepare.add_argument("-j", "--jobs", type=positive_int, default=defaults.available_cores(),
                         help="processes generating and preparing patients (default: the cores available)")

    check = commands.add_parser("check", help="CI regression guard on metrics, or the smoke test of one method")
    check.add_argument("-m", "--method", action="append", default=[],
                       help="smoke-test this method on a tiny cohort instead (repeatable)")
    check.add_argument("-d", "--dataset", action="append", default=[],
                       help="check this dataset's contract instead: loads, names itself, outcomes (repeatable)")
    check.add_argument("--update", action="store_true",
                       help="rewrite the reference from this run (with more model seeds than a check); needs --reason")
    check.add_argument("--reason", default="", help="why the reference changes; kept in its history (with --update)")
    check.add_argument("--only", action="append", default=None, metavar="METHOD",
                       help="guard only this method (repeatable); the others are neither run nor compared")
    check.add_argument("--model-seed", type=int, default=0,
                       help="first model seed of the stochastic methods (default 0); a seed change must pass")
    check.add_argument("--reference", type=Path, default=defaults.CI_REFERENCE,
                       help=f"reference metrics (default {defaults.CI_REFERENCE})")
    check.add_argument("-j", "--jobs", type=positive_int, default=defaults.available_cores(),
                       help="cell worker processes (default: the cores available)")
    check.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")

    neural_defaults = commands.add_parser(
        "defaults", help="choose the neural methods' training defaults on development draws' training folds "
        "(writes results/tables/neural_defaults.md)")
    study_options(neural_defaults)

    seeds = commands.add_parser("seeds", help="refit the neural methods with several model seeds on fixed splits "
                                "(writes results/tables/seed_spread.md)")
    seeds.add_argument("-d", "--dataset", default=datasets.DEFAULT_DATASET, help="dataset spec (default: the default)")
    seeds.add_argument("--model-seeds", type=positive_int, default=defaults.MODEL_SEEDS,
                       help=f"model seeds 0..K-1 (default {defaults.MODEL_SEEDS})")
    study_options(seeds)
    force_option(seeds)

    capacity = commands.add_parser("capacity", help="fit STG, the graph baselines and morphometry on five folds of a "
                                   "3,000-patient draw of each image scenario (writes results/tables/capacity.md)")
    study_options(capacity)
    force_option(capacity)
    inputs = commands.add_parser("inputs", help="how much of each synthetic scenario's true recurrence log-hazard "
                                 "each method family's inputs explain (writes results/tables/scenario_inputs.md)")
    inputs.add_argument("-d", "--dataset", default=defaults.LARGE_DRAW,
                        help=f"a {datasets.DEFAULT_DATASET} draw; every scenario of it is scored "
                             f"(default {defaults.LARGE_DRAW})")
    study_options(inputs)

    report = commands.add_parser("report", help="tables, plots and the HTML report from finished cells")
    report.add_argument("--output", type=Path, default=Path("results"), help="results root (default results/)")
    report.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where the cohorts are, to record excluded patients (default data/)")
    report.add_argument("-d", "--dataset", action="append", default=[],
                        help="dataset spec whose name alone does not give it, e.g. tcia:PATH (repeatable)")
    report.add_argument("--reference",
                        help="method every other is tested against (default: stg, else coxph, else no tests)")
    report.add_argument("--grid-detail", action="store_true",
                        help="also draw every scenario-grid draw's figures (linked from the report, not embedded)")
    report.add_argument("--no-progress", action="store_true", help=NO_PROGRESS)
    parser.description = f"{DESCRIPTION}. Commands: {', '.join(commands.choices)}."
    return parser
