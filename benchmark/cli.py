"""Command line: python -m benchmark COMMAND [options]; the commands (the options: benchmark.cli_parser).

Unknown names and bad values print one line and exit 2; a run with any errored cell exits 1. Each
command imports its own modules after parsing, so every --help answers at once.
"""
from __future__ import annotations

import sys
import time

from benchmark import datasets
from benchmark.cli_parser import build_parser
from benchmark.features.encoder_options import EncoderOptions
from benchmark.harness import backends, defaults, grid


class UsageError(ValueError):
    """A bad command line value; printed as one line, exit status 2."""


def method_overrides(texts: list[str], method_names: list[str]) -> dict[str, dict]:
    """``METHOD.KEY=VALUE`` strings -> {method: {key: value}}, values read as YAML scalars
    (``64`` is an int, ``1e-3`` a float, ``paper`` a string); every override is checked against
    the method's parameters before anything runs."""
    import yaml

    from benchmark import methods
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


def command_list() -> int:
    from benchmark import methods

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


def parsed_datasets(texts: list[str]) -> list[datasets.Dataset]:
    """Each spec parsed, once: the command line is where a dataset spec becomes a dataset."""
    return [datasets.parse_spec(text) for text in texts]


def named_datasets(args) -> list[datasets.Dataset]:
    """The run's -d/--data datasets, parsed; every unknown dataset and -m method is named in one error,
    before any other flag is checked (a misspelt name is the first thing to fix)."""
    from benchmark import methods

    found, problems = [], []
    for text in args.dataset + args.data:
        try:
            found.append(datasets.parse_spec(text))
        except datasets.DatasetError as error:
            problems.append(str(error))
    for name in args.method:
        try:
            methods.get(name)
        except methods.MethodError as error:
            problems.append(str(error))
    if problems:
        raise UsageError("run: " + "; ".join(problems))
    return found


def run_datasets(args, chosen: list[datasets.Dataset]) -> tuple[list[datasets.Dataset], list[str] | None]:
    """The run's datasets and protocols: the scenario grid (cv only) with --scenario, else `chosen`
    (-d; default: every dataset with --all, the synthetic cohort without), --max-slice-mm applied."""
    if not args.scenario:
        if args.draws or args.grid_n:
            raise UsageError("run: --draws and --grid-n need --scenario")
        chosen = chosen or parsed_datasets(list(datasets.RUN_ALL_DATASETS) if args.all else [datasets.DEFAULT_DATASET])
        if args.max_slice_mm is not None:   # it names the cohort
            chosen = [dataset.with_max_slice_mm(args.max_slice_mm) for dataset in chosen]
        return chosen, args.protocol
    if chosen or args.max_slice_mm is not None:
        raise UsageError("run: --scenario runs the synthetic grid; give no -d, --data or --max-slice-mm")
    if set(args.protocol or ["cv"]) != {"cv"}:
        raise UsageError("run: the scenario grid runs the cv protocol only")
    members = grid.members(grid.scenarios(args.scenario), args.draws or grid.DEFAULT_DRAWS,
                           args.grid_n or grid.DEFAULT_SIZES)
    return members, ["cv"]


def run_config(args):
    """The runner's configuration (benchmark.harness.runner.RunConfig) from the run command's flags."""
    from benchmark import methods
    from benchmark.harness import runner

    chosen = named_datasets(args)
    if not args.all and not args.method:
        raise UsageError("run: give --all or at least one -m NAME")
    chosen, protocols = run_datasets(args, chosen)
    method_names = args.method or [c.name for c in methods.available()]
    if not args.tune and (args.trials or args.storage):
        raise UsageError("run: --trials and --storage need --tune")
    backends.check(args.backend, args.scheduler)
    overrides = method_overrides(args.overrides, method_names)
    return runner.RunConfig(
        datasets=chosen,
        methods=method_names, endpoints=args.endpoint, protocols=protocols,
        feature_sets=list(dict.fromkeys(args.feature_sets)) if args.feature_sets else None,
        folds=args.folds, repeats=args.repeats, seed=args.seed, n_jobs=args.jobs, output=args.output,
        data_dir=args.data_dir, force=args.force, tune=args.tune, trials=args.trials or defaults.TRIALS,
        storage=args.storage, backend=args.backend, scheduler=args.scheduler, params=overrides,
        encoder=encoder_options(args))


def command_run(args) -> int:
    from benchmark.harness import runner
    from benchmark.reporting import assemble, cohorts

    config = run_config(args)
    runs = [config, *(assemble.calibration_runs(config) if args.all and not args.scenario else [])]
    if args.collect:
        plans = [runner.plan(run) for run in runs]
        finished = sum(the_plan.is_finished(c, config.output) for the_plan in plans for c in the_plan.cells)
        print(f"{finished} of {sum(len(the_plan.cells) for the_plan in plans)} cell(s) finished")
        summaries = []
        ran = set().union(*(the_plan.groups() for the_plan in plans))
    else:
        summaries = [runner.execute(run, progress=not args.no_progress) for run in runs]
        for dataset in config.datasets:   # the footers name the patients left out and the cohort's description
            cohort = runner.load_cohort(dataset, config.data_dir)   # loaded by the run
            cohorts.write_cohort_record(config.output, cohort, dataset.spec)
        ran = set().union(*(summary.groups for summary in summaries))
    # only a grid run rewrites the grid's summary: one synthetic cohort's run would replace it with its own
    written = assemble.write_run_tables(config.output, ran, grid=bool(args.scenario))
    for summary in summaries:
        for line in summary.lines():
            print(line)
    for line in written.lines(config.output):
        print(line)
    return 1 if any(summary.errors for summary in summaries) else 0


def command_prepare(args) -> int:
    from benchmark.data.imaging import manifest_path
    from benchmark.features import artefacts

    dataset = datasets.parse_spec(args.dataset)
    if args.max_slice_mm is not None:
        dataset = dataset.with_max_slice_mm(args.max_slice_mm)
    if not dataset.imaging:
        raise UsageError(f"prepare: {args.dataset} has no images")
    start = time.perf_counter()
    cohort = datasets.load(dataset, args.data_dir, args.jobs)
    seconds = time.perf_counter() - start
    seen = len(cohort.images) + len(cohort.excluded)
    print(f"{cohort.name}: {len(cohort.images)} patient(s) with prepared images, {len(cohort.excluded)} excluded "
          f"({seconds:.1f} s, {seen / max(seconds, 1e-9):.1f} patients/s)")
    print(f"  {cohort.description}")
    for patient, reason in sorted(cohort.excluded.items()):
        print(f"  excluded {patient}: {reason}")
    print(f"manifest: {manifest_path(artefacts.cache_dir(args.data_dir, cohort))}")
    return 0


def command_report(args) -> int:
    """Record the cohorts' exclusions, then write every table, every plot, the calibration of the synthetic
    cohort against the real one and report.html."""
    from benchmark.reporting import assemble

    parsed_datasets(args.dataset)
    written = assemble.write_report(args.output, args.data_dir, args.dataset, args.reference, args.grid_detail)
    if written is None:
        raise UsageError(f"report: no finished cells under {args.output / 'runs'}")
    for line in written.lines(args.output):
        print(line)
    return 0


def command_defaults(args) -> int:
    from benchmark.harness import defaults_study

    scores = defaults_study.run(args.data_dir, args.jobs, progress=not args.no_progress)
    chosen = defaults_study.write_tables(scores, args.output)
    print(f"{len(scores)} candidate fold(s) scored; chosen: {chosen}; table: "
          f"{args.output / 'tables' / defaults_study.TABLE}.md")
    return 0


def command_seeds(args) -> int:
    from benchmark.harness import seed_spread

    dataset = datasets.parse_spec(args.dataset)
    cells = seed_spread.run(dataset, args.data_dir, args.jobs, args.model_seeds, progress=not args.no_progress,
                            force=args.force)
    table = seed_spread.write_tables(cells, dataset, args.output)
    print(table[["mean", "sd over seeds", "per-fold sd"]].to_string(float_format="%.3f"))
    print(f"table: {args.output / 'tables' / seed_spread.TABLE}.md")
    return 0


def command_capacity(args) -> int:
    from benchmark.harness import capacity_study

    cells = capacity_study.run(args.data_dir, args.jobs, progress=not args.no_progress, force=args.force)
    tests = capacity_study.oracle_tests(cells)
    truth = capacity_study.truth_fits(args.data_dir, tests, args.jobs, not args.no_progress, args.force)
    ceiling = capacity_study.inputs_ceiling(args.data_dir, tests, args.jobs, args.force)
    references = {capacity_study.TRUTH_FIT: truth, capacity_study.CEILING: ceiling}
    summary = capacity_study.summarise(cells, references, args.jobs, progress=not args.no_progress)
    capacity_study.write_tables(summary, args.output)
    print(summary[["scenario", "method", "cindex", "difference", "ci_low", "ci_high"]].to_string(
        index=False, float_format="%.3f"))
    print(f"table: {args.output / 'tables' / capacity_study.TABLE}.md")
    return 0


def command_inputs(args) -> int:
    from benchmark.harness import inputs_study

    table = inputs_study.run(datasets.parse_spec(args.dataset), args.data_dir, args.jobs, progress=not args.no_progress)
    inputs_study.write_tables(table, args.output)
    print(inputs_study.wide(table).to_string())
    print(f"table: {args.output / 'tables' / inputs_study.TABLE}.md")
    return 0


def command_check(args) -> int:
    from benchmark.harness import check as ci

    if args.dataset:
        if args.update or args.method:
            raise UsageError("check: -d checks datasets only; give no --update or -m")
        return ci.dataset_smoke(args.dataset, args.data_dir)
    if args.method:
        if args.update:
            raise UsageError("check: --update rewrites the whole reference; give no -m")
        return ci.smoke(args.method, args.data_dir)
    if args.update and (args.only or not args.reason.strip()):
        raise UsageError("check: --update rewrites the whole reference and says why: give --reason TEXT, no --only")
    from benchmark import methods

    for name in args.only or []:
        methods.get(name)   # raises MethodError naming the valid methods
    return ci.regression(args.reference, args.data_dir, args.jobs, update=args.update, reason=args.reason,
                         only=args.only, first_seed=args.model_seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # imported after parsing, so that --help loads no data library
    from benchmark.data.clinical import ClinicalTableError
    from benchmark.data.splits import SplitError
    from benchmark.harness.leakage import LeakageError
    from benchmark.methods import MethodError
    from benchmark.progress import shown

    handlers = {"list": lambda a: command_list(), "run": command_run, "prepare": command_prepare,
                "report": command_report, "check": command_check, "defaults": command_defaults,
                "seeds": command_seeds, "capacity": command_capacity, "inputs": command_inputs}
    try:
        with shown(not getattr(args, "no_progress", False)):
            return handlers[args.command](args)
    except (UsageError, MethodError, datasets.DatasetError, ClinicalTableError, SplitError, LeakageError,
            backends.BackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
