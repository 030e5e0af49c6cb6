"""Plan the cell grid, run what is not finished, and record every cell's outcome.

Each cell fits one method on one training fold (tuning it there first with `--tune`) and scores
it on the test fold. Cells are independent and seeded from (seed, repeat, fold); a backend
computes them (see benchmark.harness.backends) and this process writes every result, so serial, parallel
and cluster runs give the same files. Finished cells are skipped, errored cells are recorded with
their traceback and retried on the next run, and the run goes on.
"""
from __future__ import annotations

import json
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import datasets, files, methods
from benchmark.data import splits
from benchmark.data.cohort import N_YEARS, Cohort
from benchmark.features import artefacts
from benchmark.features.artefacts import BuildContext
from benchmark.features.encoder_options import EncoderOptions
from benchmark.harness import backends, defaults, leakage, results, tuning
from benchmark.harness.resources import measure
from benchmark.progress import bar, counted_warnings, shown
from benchmark.scoring.metrics import evaluate, year_status_from_survival
from benchmark.scoring.year_metrics import patient_scores


@dataclass
class RunConfig:
    datasets: list[datasets.Dataset]       # parsed once, where the run is asked for
    methods: list[str]
    endpoints: list[str] | None = None       # None: each dataset's default (all three on mskcc-crlm)
    protocols: list[str] | None = None       # None: cv, plus the paper split on CRLM data
    feature_sets: list[str] | None = None    # None: the dataset's default (pre-operative; both on mskcc-crlm)
    folds: int = defaults.FOLDS
    repeats: int = defaults.REPEATS
    seed: int = defaults.SEED                # outer splits, and with `model_seed` every cell's random generators
    model_seed: int = 0                      # shifts the cells' generators only (the splits stay): seed studies
    n_jobs: int = 1                          # cores: cell workers, image preparation, radiomics processes
    output: Path = Path("results")
    data_dir: Path = Path("data")
    force: bool = False
    params: dict = field(default_factory=dict)   # method name -> parameter overrides
    tune: bool = False                       # nested Optuna tuning of every tunable method
    trials: int = defaults.TRIALS
    storage: str | None = None               # None: a journal file under `output`
    backend: str = "local"                   # "local" or "dask" (benchmark.harness.backends)
    scheduler: str | None = None             # dask only; None: a LocalCluster of n_jobs workers
    encoder: EncoderOptions = field(default_factory=EncoderOptions)   # travels with every cell, to any worker

    @property
    def context(self) -> BuildContext:
        """What artefacts are built with: the data directory, the cores and the encoder options."""
        return BuildContext(Path(self.data_dir), self.n_jobs, self.encoder)


@dataclass
class Plan:
    """Every cell of a run, resolved once: the datasets, the outer splits (stored or new, not yet
    written), the inputs each configured method reads, and what is not run and why."""

    cells: list[results.Cell]
    skipped: list[tuple[str, str, str]]   # (dataset, method, reason)
    specs: dict[str, datasets.Dataset]
    splits: dict[tuple[str, str, str], splits.StoredSplits] = field(default_factory=dict)
    protocols_not_run: list[tuple[str, str]] = field(default_factory=list)   # (dataset, reason)
    inputs: dict[tuple[str, str, str], tuple[str, ...]] = field(default_factory=dict)  # (dataset, method, params)
    resolved: dict[tuple[str, str], dict] = field(default_factory=dict)   # (method, params) -> full parameters
    context: BuildContext = field(default_factory=BuildContext)
    digests: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)   # (dataset, inputs) -> digest

    def split(self, cell: results.Cell) -> splits.Split:
        """The outer split of a cell (workers get it from here, not from the results directory)."""
        return next(s for s in self.splits[(cell.dataset, cell.endpoint, cell.protocol)].splits
                    if (s.repeat, s.fold) == (cell.repeat, cell.fold))

    def is_finished(self, cell: results.Cell, root: Path) -> bool:
        """Finished, with the method's current parameters (its defaults may have changed since) and on its
        current inputs (the features may have)."""
        return results.is_finished(cell, root, self.resolved[(cell.method, params_key(cell.params))],
                                   self.inputs_digest(cell))

    def groups(self) -> set[tuple[str, str, str, str]]:
        """(dataset, endpoint, protocol, feature set) of every planned cell: the groups whose tables the run writes."""
        return {(cell.dataset, cell.endpoint, cell.protocol, cell.feature_set) for cell in self.cells}

    def inputs_digest(self, cell: results.Cell) -> str:
        """The digest of what the cell's method reads (artefacts.fingerprint), once per dataset and inputs."""
        names = tuple(self.inputs[(cell.dataset, cell.method, params_key(cell.params))])
        if (cell.dataset, names) not in self.digests:
            cohort = load_cohort(self.specs[cell.dataset], self.context.data_dir, self.context.n_jobs)
            self.digests[cell.dataset, names] = artefacts.fingerprint(cohort, names, self.context)
        return self.digests[cell.dataset, names]

    def to_compute(self, cells: list[results.Cell], root: Path, force: bool = False) -> list[results.Cell]:
        """The cells a run computes: every one with `force` (recompute), else those not finished under `root`."""
        return [c for c in cells if force or not self.is_finished(c, root)]

    def write_splits(self) -> None:
        """Store the splits made for this run (a run reuses them; planning alone writes nothing)."""
        for stored in self.splits.values():
            if stored.new:
                stored.write()


_COHORTS: dict[tuple[datasets.Dataset, Path], Cohort] = {}


def load_cohort(spec: datasets.Dataset, data_dir: Path, n_jobs: int = 1) -> Cohort:
    """One cohort per process and dataset (workers load it once, from the cache the main process
    filled); `n_jobs` only says how many processes prepare it the first time."""
    key = (spec, Path(data_dir))
    if key not in _COHORTS:
        _COHORTS[key] = datasets.load(spec, data_dir, n_jobs)
    return _COHORTS[key]


def cell_seed(seed: int, repeat: int, fold: int, model_seed: int = 0) -> int:
    return seed * 10007 + repeat * 101 + fold + model_seed * 1_000_003


def params_key(params: dict) -> str:
    """A cell's parameters without its tuning request, as a stable text (what the method is built with)."""
    return json.dumps({k: v for k, v in params.items() if k != tuning.PARAM_KEY}, sort_keys=True)


def plan(config: RunConfig) -> Plan:
    """Every cell of the configuration; reads stored splits, writes no file."""
    cells, skipped, specs, outer, protocols_not_run, inputs, resolved = [], [], {}, {}, [], {}, {}
    for spec in config.datasets:
        cohort = load_cohort(spec, Path(config.data_dir), config.n_jobs)
        specs[cohort.name] = spec
        feature_sets = config.feature_sets or datasets.default_feature_sets(cohort)
        unknown = [f for f in feature_sets if f not in cohort.feature_sets]
        if unknown:
            raise datasets.DatasetError(f"{cohort.name}: unknown feature set {unknown[0]!r} "
                                        f"(choose from {', '.join(cohort.feature_sets)})")
        endpoints = config.endpoints or cohort.default_endpoints or [cohort.primary_endpoint]
        protocols = config.protocols or (["cv", "paper"] if spec.crlm else ["cv"])
        if not config.protocols and "paper" in protocols and not splits.paper_split_possible(cohort):
            protocols = ["cv"]   # asked for by default only: a small cohort runs without it, saying so
            reason = (f"fixed 177/20 split: needs more than {2 * splits.PAPER_TEST_SIZE} patients, "
                      f"has {len(cohort.patient_ids)}")
            protocols_not_run.append((cohort.name, reason))
        for name in config.methods:
            method = methods.get(name)
            reason = method.applicable(cohort)
            if reason:
                skipped.append((cohort.name, name, reason))
                continue
            params = dict(config.params.get(name, {}))
            configured = method(**params)
            inputs[(cohort.name, name, params_key(params))] = configured.inputs()
            resolved[(name, params_key(params))] = configured.params
            if config.tune and tuning.tunable(method):
                params[tuning.PARAM_KEY] = tuning.cell_spec(config.trials)
            for endpoint in endpoints:
                if endpoint not in cohort.outcomes:
                    skipped.append((cohort.name, name, f"no endpoint {endpoint!r} (has {', '.join(cohort.outcomes)})"))
                    continue
                for protocol in protocols:
                    if protocol == "paper" and not spec.crlm:
                        continue
                    key = (cohort.name, endpoint, protocol)
                    if key not in outer:
                        outer[key] = splits.stored_or_new(cohort, endpoint, protocol, config.folds, config.repeats,
                                                          config.seed, config.output, remake_stale=config.force)
                    cells += [results.Cell(*key, feature_set, name, split.repeat, split.fold, params)
                              for feature_set in feature_sets for split in outer[key].splits]
    return Plan(cells, skipped, specs, outer, protocols_not_run, inputs, resolved, config.context)


def prediction_frame(ids, y_train, y_test, prediction, cohort: Cohort, patient_scores_too: bool) -> pd.DataFrame:
    """Per-patient predictions of one test fold, for reports and re-scoring; with `patient_scores_too`, what each
    patient adds to TAA ±1y and MAE-PO (of the own read-out too, as own_*), which the fixed split's bootstrap over
    patients reads (SurvivalEVAL scores the MAE-PO of one patient per call: some 15 ms a fold that the
    cross-validated protocol, whose intervals come from the folds, would spend for nothing)."""
    frame = pd.DataFrame({"patient_id": ids, "time": y_test["time"], "event": y_test["event"].astype(int),
                          "risk": prediction.risk, "year": prediction.year})
    grid = cohort.time_grid()
    for years in (1, 3, 5):
        frame[f"surv_{years}y"] = [np.interp(years * cohort.units_per_year, grid, row) for row in prediction.surv]
    for k in range(N_YEARS):
        frame[f"event_free_end_y{k}"] = prediction.year_status[:, k]
    if patient_scores_too:
        frame = frame.join(patient_scores(prediction.year, y_train, y_test, cohort.units_per_year))
    if prediction.own_year is not None:
        frame["own_year"] = prediction.own_year
        if patient_scores_too:
            own = patient_scores(prediction.own_year, y_train, y_test, cohort.units_per_year)
            frame = frame.join(own.add_prefix("own_"))
    return frame


@dataclass
class CellOutput:
    """What computing a cell yields; the driver writes it (tuning report, predictions, then result)."""

    cell: results.Cell
    record: dict
    predictions: pd.DataFrame | None = None
    tuning: dict | None = None

    @property
    def status(self) -> str:
        return self.record["status"]

    def write(self, root: Path) -> None:
        if self.tuning is not None:
            files.atomic_write_text(tuning_path(self.cell, root), tuning.report_text(self.tuning))
        results.write_cell(root, self.cell, self.record, self.predictions)


def tuning_path(cell: results.Cell, root: Path) -> Path:
    """Trials, best parameters and inner scores of a tuned cell, beside its result file.

    Named tuning_<stem>.json, not <stem>.tuning.json: result files are found by the r*_f*.json glob.
    """
    return cell.result_path(root).with_name(f"tuning_{cell.stem}.json")


def compute_cell(cell: results.Cell, spec: datasets.Dataset, split: splits.Split,
                 config: RunConfig) -> CellOutput:
    """Tune (if asked), fit, predict and score one cell; never raises, writes nothing.

    Library warnings raised meanwhile are not printed (they would break the progress bar, some with
    whole arrays): each distinct one is counted in the cell's record and named in its notes, so the
    table footer says on how many folds it occurred.
    """
    output = CellOutput(cell, {"status": "error"})
    with counted_warnings() as counts:
        _compute(output, spec, split, config)
    if output.status == "ok" and counts:
        output.record["warnings"] = dict(counts)
        output.record["notes"] += [f"library warning: {text}" for text in sorted(counts)]
    return output


def fold_data(cell: results.Cell, cohort: Cohort, split: splits.Split,
              config: RunConfig) -> tuple[methods.FoldData, methods.FoldData]:
    """A cell's (training, test) patients, the training ones seen through the leakage guard's view (no test
    patient's outcome), both with the cell's seed."""
    common = dict(endpoint=cell.endpoint, feature_set=cell.feature_set, context=config.context,
                  seed=cell_seed(config.seed, cell.repeat, cell.fold, config.model_seed))
    leakage.check_split(cell.label(), split.train, split.test)
    train = methods.FoldData(leakage.training_view(cohort, split.test, cell.label()), np.array(split.train), **common)
    return train, methods.FoldData(cohort, np.array(split.test), **common)


def _compute(output: CellOutput, spec: datasets.Dataset, split: splits.Split, config: RunConfig) -> None:
    """The body of `compute_cell`: fills `output` in place."""
    cell = output.cell
    try:
        cohort = load_cohort(spec, Path(config.data_dir))
        train, test = fold_data(cell, cohort, split, config)
        seed = train.seed
        method = methods.get(cell.method)
        params = dict(cell.params)
        tuning_spec = params.pop(tuning.PARAM_KEY, None)
        if tuning_spec:
            study = f"{cell.directory.as_posix()}/{cell.stem}/k{config.folds}r{config.repeats}s{config.seed}"
            tuned = tuning.tune(method, train, params, tuning_spec, tuning.storage_url(config.storage, config.output),
                                study, reseed=seed_everything, fresh=config.force)
            params, output.tuning = tuned.params, tuned.report
        seed_everything(seed)
        model = method(**params)
        with measure() as fit_usage:
            model.fit(train)
        with measure() as predict_usage:
            prediction = model.predict(test)
        prediction.validate(len(test), len(test.time_grid))
        if prediction.year_status is None:
            prediction.year_status = year_status_from_survival(prediction.surv, test.time_grid, test.units_per_year)
        values, reasons = evaluate(prediction, train.y, test.y, test.time_grid, test.units_per_year)
        record = {
            "status": "ok", "metrics": values, "nan_reasons": reasons, "n_params": int(model.n_params()),
            "n_train": len(train), "n_test": len(test), "params": model.params, "seed": seed,
            "notes": list(getattr(model, "notes", [])),
            **({"own_year_label": prediction.own_year_label} if prediction.own_year is not None else {}),
            **({"tuning": tuned.summary} if tuning_spec else {}),
            "timings": {"fit_s": fit_usage.seconds, "predict_s": predict_usage.seconds,
                        "peak_mem_mb": max(fit_usage.peak_mb, predict_usage.peak_mb),
                        "mem_increase_mb": max(fit_usage.increase_mb, predict_usage.increase_mb)},
        }
        output.record = record
        output.predictions = prediction_frame(test.ids, train.y, test.y, prediction, cohort,
                                              patient_scores_too=cell.protocol == "paper")
    except leakage.LeakageError:
        raise   # never recorded as a result: the run stops
    except Exception as error:  # recorded in the cell, the run goes on
        output.record = {"status": "error", "error": f"{type(error).__name__}: {error}",
                         "traceback": traceback.format_exc()}


def seed_everything(seed: int) -> None:
    np.random.seed(seed % 2**32)
    import sys
    if "torch" in sys.modules:
        import torch
        torch.manual_seed(seed)


@dataclass
class Summary:
    done: int = 0
    skipped_finished: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    not_applicable: list[tuple[str, str, str]] = field(default_factory=list)
    protocols_not_run: list[tuple[str, str]] = field(default_factory=list)
    warnings: Counter = field(default_factory=Counter)   # raised in this process (workers' go to their cells)
    seconds: float = 0.0
    groups: set = field(default_factory=set)   # (dataset, endpoint, protocol, feature set) planned

    def lines(self) -> list[str]:
        out = [f"{self.done} cell(s) computed, {self.skipped_finished} already finished, "
               f"{len(self.errors)} errored, in {self.seconds:.1f} s"]
        not_run: dict[tuple[str, str], list[str]] = {}
        for dataset, method, reason in self.not_applicable:
            not_run.setdefault((dataset, reason), []).append(method)
        out += [f"  not run on {dataset} ({reason}): {', '.join(names)}"
                for (dataset, reason), names in not_run.items()]
        out += [f"  not run on {dataset}: {reason}" for dataset, reason in self.protocols_not_run]
        out += [f"  ERROR {label}: {message}" for label, message in self.errors[:20]]
        if len(self.errors) > 20:
            out.append(f"  ... and {len(self.errors) - 20} more errors")
        out += [f"  library warning ({count}×): {text}" for text, count in sorted(self.warnings.items())]
        return out


def prepare_inputs(the_plan: Plan, cells: list[results.Cell], config: RunConfig) -> None:
    """Build, in this process, every artefact the methods of `cells` read."""
    for name, spec in the_plan.specs.items():
        configured = sorted({(c.dataset, c.method, params_key(c.params)) for c in cells if c.dataset == name})
        needed = [requirement for key in configured for requirement in the_plan.inputs[key]]
        artefacts.ensure(load_cohort(spec, Path(config.data_dir), config.n_jobs), dict.fromkeys(needed),
                         config.context)


def execute(config: RunConfig, progress: bool = True) -> Summary:
    """Run every unfinished cell of the configuration: generate and prepare the cohorts, build the
    inputs, compute the cells, each phase with its progress bar (none with `progress` off)."""
    start = time.perf_counter()
    with shown(progress), counted_warnings() as warned:
        summary = _execute(config)
    summary.warnings = warned
    summary.seconds = time.perf_counter() - start
    return summary


def _execute(config: RunConfig) -> Summary:
    the_plan = plan(config)
    the_plan.write_splits()
    summary = Summary(not_applicable=the_plan.skipped, protocols_not_run=the_plan.protocols_not_run,
                      groups=the_plan.groups())
    pending = the_plan.to_compute(the_plan.cells, config.output, config.force)
    summary.skipped_finished = len(the_plan.cells) - len(pending)
    compute(the_plan, pending, config, summary)
    return summary


def compute(the_plan: Plan, pending: list[results.Cell], config: RunConfig, summary: Summary) -> None:
    """Build the inputs of `pending` (cells of `the_plan`), compute them and write each under config.output,
    counting them and their errors in `summary`."""
    prepare_inputs(the_plan, pending, config)
    jobs = [(cell, the_plan.specs[cell.dataset], the_plan.split(cell), config) for cell in pending]
    cells_bar = bar(total=len(jobs), desc="cells", unit="cell")
    for output in backends.imap_unordered(compute_cell, jobs, config.backend, config.n_jobs, config.scheduler):
        output.record["inputs"] = the_plan.inputs_digest(output.cell)
        output.write(config.output)
        cells_bar.update()
        if output.status == "ok":
            summary.done += 1
        else:
            summary.errors.append((output.cell.label(), output.record["error"]))
            cells_bar.write(f"error in {output.cell.label()}: {output.record['error']}")
    cells_bar.close()
