"""Command line: ``python -m benchmark list | run | prepare | report | check``.

Unknown names and bad values print one line and exit 2; a run with any errored cell exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from benchmark import datasets, methods
from benchmark.data import synthetic
from benchmark.data.clinical import ClinicalTableError
from benchmark.features.encoder_options import DEFAULT_WIDTH, INPUT_SIZE, EncoderOptions
from benchmark.harness import backends, defaults_study, grid, runner, seed_spread, tuning
from benchmark.harness import check as ci
from benchmark.reporting import assemble, cohorts


class UsageError(ValueError):
    """A bad command line value; printed as one line, exit status 2."""


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


def method_overrides(texts: list[str], method_names: list[str]) -> dict[str, dict]:
    """``METHOD.KEY=VALUE`` strings -> {method: {key: value}}, values read as YAML scalars
    (``64`` is an int, ``1e-3`` a float, ``paper`` a string); every override is checked against
    the method's parameters before anything runs."""
    overrides: dict[str, dict] = {}
    for text in texts:
        target, equals, value = text.partition("=")
        method, dot, key = target.partition(".")
        if not (equals and dot and method and key):
            raise UsageError(f"run: --set {text!r}: expected METHOD.KEY=VALUE, e.g. stg.profile=paper")
        if method not in method_names:
            raise UsageError(f"run: --set {text!r}: method {method!r} is not part of this run")
        overrides.setdefault(method, {})[key] = yaml.safe_load(value)
    for method, params in overrides.items():
        methods.get(method)(**params)   # raises MethodError naming the valid parameters
    return overrides


def encoder_options(args) -> EncoderOptions:
    """The CT encoder's options from the --encoder-* flags (defaults where not given)."""
    given = {"weights": str(args.encoder_weights.resolve()) if args.encoder_weights else None,
             "width": args.encoder_width, "input_size": args.encoder_input}
    return EncoderOptions(**{key: value for key, value in given.items() if value is not None})


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def study_options(parser: argparse.ArgumentParser) -> None:
    """The options every study command shares: where results and data go, and the workers."""
    parser.add_argument("--output", type=Path, default=Path("results"), help="results root (default results/)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")
    parser.add_argument("-j", "--jobs", type=positive_int, default=available_cores(),
                        help="worker processes (default: the cores available)")
    parser.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="datasets and methods, with install status")

    run = commands.add_parser("run", help="run the benchmark cells and write the tables")
    run.add_argument("--all", action="store_true", help="every method (and, without -d or --scenario, every dataset)")
    run.add_argument("-m", "--method", action="append", default=[], help="method name (repeatable)")
    run.add_argument("-d", "--dataset", action="append", default=[], help="dataset spec (repeatable)")
    run.add_argument("--data", action="append", default=[], help="alias of -d, e.g. tcia:PATH")
    run.add_argument("--max-slice-mm", type=positive_float, metavar="MM",
                     help="leave out the patients whose CT slices are thicker than MM (tcia:PATH only)")
    run.add_argument("--scenario", action="append", metavar="NAME",
                     help=f"{grid.ALL} or {'|'.join(synthetic.SCENARIOS)} (repeatable): run the synthetic "
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
    run.add_argument("--folds", type=positive_int, default=5)
    run.add_argument("--repeats", type=positive_int, default=5)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("-j", "--jobs", type=positive_int, default=available_cores(),
                     help="cores to use: cell workers, image preparation and radiomics processes "
                          "(default: the cores this process may use)")
    run.add_argument("--output", type=Path, default=Path("results"), help="results root (default results/)")
    run.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")
    run.add_argument("--force", action="store_true", help="recompute finished cells")
    run.add_argument("--collect", action="store_true", help="compute nothing: report what is finished and write tables")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--tune", action="store_true",
                     help="tune each method's search space by Optuna inner CV on every training fold")
    run.add_argument("--trials", type=positive_int,
                     help=f"trials per cell with --tune (default {tuning.DEFAULT_TRIALS})")
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
    prepare.add_argument("--data-dir", type=Path, default=Path("data"))
    prepare.add_argument("-j", "--jobs", type=positive_int, default=available_cores(),
                         help="processes generating and preparing patients (default: the cores available)")

    check = commands.add_parser("check", help="CI regression guard on metrics, or the smoke test of one method")
    check.add_argument("-m", "--method", action="append", default=[],
                       help="smoke-test this method on a tiny cohort instead (repeatable)")
    check.add_argument("-d", "--dataset", action="append", default=[],
                       help="check this dataset's contract instead: loads, names itself, outcomes (repeatable)")
    check.add_argument("--update", action="store_true", help="rewrite the reference from this run")
    check.add_argument("--reference", type=Path, default=ci.REFERENCE,
                       help=f"reference metrics (default {ci.REFERENCE})")
    check.add_argument("-j", "--jobs", type=positive_int, default=available_cores(),
                       help="cell worker processes (default: the cores available)")
    check.add_argument("--data-dir", type=Path, default=Path("data"), help="generated data and caches (default data/)")

    defaults = commands.add_parser("defaults", help="choose the neural methods' training defaults on development "
                                   "draws' training folds (writes results/tables/neural_defaults.md)")
    study_options(defaults)

    seeds = commands.add_parser("seeds", help="refit the neural methods with several model seeds on fixed splits "
                                "(writes results/tables/seed_spread.md)")
    seeds.add_argument("-d", "--dataset", default=datasets.DEFAULT_DATASET, help="dataset spec (default: the default)")
    seeds.add_argument("--model-seeds", type=positive_int, default=seed_spread.MODEL_SEEDS,
                       help=f"model seeds 0..K-1 (default {seed_spread.MODEL_SEEDS})")
    study_options(seeds)

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
    return parser


def command_list() -> int:
    print("Datasets:")
    for spec, description in datasets.available_datasets():
        print(f"  {spec:<46} {description}")
    print("Methods:")
    for name, entry in sorted(methods.registry().items()):
        if entry.cls is None:
            print(f"  {name:<18} UNAVAILABLE: {entry.error}")
        else:
            needs = ", ".join(entry.cls.requires)
            print(f"  {name:<18} [{entry.cls.family}; needs {needs}] {entry.cls.description}")
    return 0


def dataset_specs(texts: list[str], max_slice_mm: float | None) -> list[str]:
    """The run's dataset specs, each checked, with --max-slice-mm written into them (it names the cohort)."""
    parsed = [datasets.parse_spec(text) for text in texts]
    return texts if max_slice_mm is None else [dataset.with_max_slice_mm(max_slice_mm).spec for dataset in parsed]


def run_datasets(args) -> tuple[list[str], list[str] | None]:
    """The run's dataset specs and protocols: the scenario grid (cv only) with --scenario, else -d
    (default: every dataset with --all, the synthetic cohort without)."""
    if not args.scenario:
        if args.draws or args.grid_n:
            raise UsageError("run: --draws and --grid-n need --scenario")
        chosen = args.dataset + args.data or (list(datasets.RUN_ALL_DATASETS) if args.all
                                              else [datasets.DEFAULT_DATASET])
        return dataset_specs(chosen, args.max_slice_mm), args.protocol
    if args.dataset or args.data or args.max_slice_mm is not None:
        raise UsageError("run: --scenario runs the synthetic grid; give no -d, --data or --max-slice-mm")
    if set(args.protocol or ["cv"]) != {"cv"}:
        raise UsageError("run: the scenario grid runs the cv protocol only")
    chosen = grid.specs(grid.scenarios(args.scenario), args.draws or grid.DEFAULT_DRAWS,
                        args.grid_n or grid.DEFAULT_SIZES)
    return chosen, ["cv"]


def run_config(args) -> runner.RunConfig:
    if not args.all and not args.method:
        raise UsageError("run: give --all or at least one -m NAME")
    for name in args.method:
        methods.get(name)  # raises MethodError naming the valid methods
    chosen, protocols = run_datasets(args)
    method_names = [c.name for c in methods.available()] if args.all and not args.method else args.method
    if not args.tune and (args.trials or args.storage):
        raise UsageError("run: --trials and --storage need --tune")
    backends.check(args.backend, args.scheduler)
    overrides = method_overrides(args.overrides, method_names)
    return runner.RunConfig(
        datasets=chosen,
        methods=method_names, endpoints=args.endpoint, protocols=protocols,
        feature_sets=list(dict.fromkeys(args.feature_sets)) if args.feature_sets else None,
        folds=args.folds, repeats=args.repeats, seed=args.seed, n_jobs=args.jobs, output=args.output,
        data_dir=args.data_dir, force=args.force, tune=args.tune, trials=args.trials or tuning.DEFAULT_TRIALS,
        storage=args.storage, backend=args.backend, scheduler=args.scheduler, params=overrides,
        encoder=encoder_options(args))


def command_run(args) -> int:
    config = run_config(args)
    if args.collect:
        the_plan = runner.plan(config)
        finished = sum(the_plan.is_finished(c, config.output) for c in the_plan.cells)
        print(f"{finished} of {len(the_plan.cells)} cell(s) finished")
        summary = None
    else:
        summary = runner.execute(config, progress=not args.no_progress)
        for spec in config.datasets:   # the footers name the patients left out and the cohort's description
            cohort = runner.load_cohort(datasets.parse_spec(spec), config.data_dir)   # loaded by the run
            cohorts.write_cohort_record(config.output, cohort, spec)
    written = assemble.write_run_tables(config.output)
    if summary:
        for line in summary.lines():
            print(line)
    for line in written.lines(config.output):
        print(line)
    return 1 if summary and summary.errors else 0


def command_prepare(args) -> int:
    spec = datasets.parse_spec(args.dataset)
    if args.max_slice_mm is not None:
        spec = spec.with_max_slice_mm(args.max_slice_mm)
    if not spec.imaging:
        raise UsageError(f"prepare: {args.dataset} has no images")
    start = time.perf_counter()
    cohort = datasets.load(spec, args.data_dir, args.jobs)
    seconds = time.perf_counter() - start
    seen = len(cohort.images) + len(cohort.excluded)
    print(f"{cohort.name}: {len(cohort.images)} patient(s) with prepared images, {len(cohort.excluded)} excluded "
          f"({seconds:.1f} s, {seen / max(seconds, 1e-9):.1f} patients/s)")
    print(f"  {cohort.description}")
    for patient, reason in sorted(cohort.excluded.items()):
        print(f"  excluded {patient}: {reason}")
    from benchmark.data.imaging import manifest_path
    from benchmark.features import artefacts
    print(f"manifest: {manifest_path(artefacts.cache_dir(args.data_dir, cohort))}")
    return 0


def command_report(args) -> int:
    for spec in args.dataset:
        datasets.parse_spec(spec)
    written = assemble.write_report(args.output, args.data_dir, args.dataset, args.reference, args.grid_detail)
    if written is None:
        raise UsageError(f"report: no finished cells under {args.output / 'runs'}")
    for line in written.lines(args.output):
        print(line)
    return 0


def command_defaults(args) -> int:
    scores = defaults_study.run(args.data_dir, args.jobs, progress=not args.no_progress)
    chosen = defaults_study.write_tables(scores, args.output)
    print(f"{len(scores)} candidate fold(s) scored; chosen: {chosen}; table: "
          f"{args.output / 'tables' / defaults_study.TABLE}.md")
    return 0


def command_seeds(args) -> int:
    cells = seed_spread.run(args.dataset, args.data_dir, args.jobs, args.model_seeds, progress=not args.no_progress)
    table = seed_spread.write_tables(cells, args.dataset, args.output)
    print(table[["mean", "sd over seeds", "per-fold sd"]].to_string(float_format="%.3f"))
    print(f"table: {args.output / 'tables' / seed_spread.TABLE}.md")
    return 0


def command_check(args) -> int:
    if args.dataset:
        if args.update or args.method:
            raise UsageError("check: -d checks datasets only; give no --update or -m")
        return ci.dataset_smoke(args.dataset, args.data_dir)
    if args.method:
        if args.update:
            raise UsageError("check: --update rewrites the whole reference; give no -m")
        return ci.smoke(args.method, args.data_dir)
    return ci.regression(args.reference, args.data_dir, args.jobs, update=args.update)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"list": lambda a: command_list(), "run": command_run, "prepare": command_prepare,
                "report": command_report, "check": command_check, "defaults": command_defaults,
                "seeds": command_seeds}
    try:
        return handlers[args.command](args)
    except (UsageError, methods.MethodError, datasets.DatasetError, ClinicalTableError,
            runner.splits.SplitError, backends.BackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
