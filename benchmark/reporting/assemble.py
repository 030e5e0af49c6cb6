"""The report of a results root, assembled: every group's tables and figures, the scenario grid shown by its
summary (each draw's tables linked, its figures drawn only on request), the calibration checks and
``report.html``. `python -m benchmark report` calls `write_report`; `run` calls `write_run_tables`, so
the quick start's run alone leaves the tables and the calibration checks the README quotes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from benchmark import datasets
from benchmark.datasets import mskcc
from benchmark.harness import defaults
from benchmark.progress import bar
from benchmark.reporting import calibration, calibration_report, cohorts, groups, html_report, plots, scenarios, tables

GRID_DETAIL_COMMAND = "python -m benchmark report --grid-detail"
GRID_HEADING = "Scenario grid (simulation study)"
#: The studies' tables (each written by its own command, not by `run`), linked from the report when present.
STUDY_TABLES = {"capacity": "Capacity apart from sample size (python -m benchmark capacity)",
                "scenario_inputs": "How much of the true log-hazard each family's inputs explain "
                                   "(python -m benchmark inputs)",
                "neural_defaults": "How the neural training defaults were chosen (python -m benchmark defaults)",
                "seed_spread": "Neural methods over model seeds (python -m benchmark seeds)"}
#: The datasets the calibration checks set side by side: a run of both (`run --all`) writes the checks.
CALIBRATED = {mskcc.NAME, datasets.DEFAULT_DATASET}


def calibration_runs(config) -> list:
    """What the calibration's Cox-PH rows read beside a `run --all` (`config`): Cox-PH on the default synthetic
    cohort at every calibrated endpoint, 5 × 5 CV, pre-operative (its main run covers DFS alone; the cells it
    shares are not refitted). Run with it, the rows read the current world's tables, never an earlier run's."""
    synthetic = [dataset for dataset in config.datasets if dataset.name == datasets.DEFAULT_DATASET]
    if not synthetic or "coxph" not in config.methods:
        return []
    return [replace(config, datasets=synthetic, methods=["coxph"], endpoints=list(calibration.C_ENDPOINTS),
                    protocols=["cv"], feature_sets=["preoperative"])]


@dataclass
class Written:
    """What a report pass wrote, for the closing lines."""

    tables: list[Path]                          # Markdown paths of the group tables
    checks: pd.DataFrame | None                 # the calibration checks, when written
    study: scenarios.ScenarioReport | None
    figures: list[Path] = ()                    # PNG paths, an SVG beside each
    page: Path | None = None

    def lines(self, output: Path) -> list[str]:
        lines = [f"{len(self.tables)} table(s) in {Path(output) / 'tables'}"
                 + (f", {len(self.figures)} plot(s) in {Path(output) / 'plots'}, report: {self.page}"
                    if self.page else "")]
        if self.checks is not None:
            lines.append(calibration.within_text(self.checks))
        if self.study:
            lines.append(f"scenario grid: {self.study.summary}")
        return lines


def write_run_tables(output: Path, ran: set[tuple[str, str, str, str]], grid: bool = False) -> Written:
    """The tables of the finished groups this run planned (`ran`: (dataset, endpoint, protocol, feature set)),
    the scenario grid's summary after a `grid` run (one synthetic cohort's run would replace it with its own),
    and the calibration checks when those groups hold both calibrated datasets (the checks read their main
    tables). A group the run did not plan keeps its tables: its cells on disk may be another run's, half done."""
    finished = groups.collect(output)
    planned = [group for group in finished if group.key in ran]
    command = tables.default_command()
    written = tables.write_tables(output, command, groups=planned)
    study = scenarios.write_report(output, finished) if grid else None
    checks = None
    if {group.dataset for group in planned} >= CALIBRATED:
        checks = calibration.calibration_table(output)
        calibration_report.write_table(output, checks)
    return Written(written, checks, study)


def draw_links(group: groups.Group, output: Path, drawn: bool) -> list[tuple[str, str]]:
    """A grid draw's tables and, when drawn, its figures, as links relative to report.html."""
    links = [(f"{group.title}: {path.stem.rsplit('__', 1)[1]} table", path.relative_to(output).as_posix())
             for path in sorted((output / "tables").glob(f"{group.stem}__*.md"))]
    figures = output / "plots" / group.stem
    if drawn or figures.is_dir():
        links.append((f"{group.title}: figures", f"plots/{group.stem}/"))
    return links


def last_grid(output: Path) -> html_report.Section:
    """The grid's section when its cells are not under runs/ (a clone holds the tables, not the cells): the
    summary figures and tables its last report wrote, said to be that."""
    summary = output / "tables" / f"{scenarios.SUMMARY_STEM}.md"
    studies = sorted((output / "tables").glob("scenario-*__simulation.md"))
    links = [(path.stem, path.relative_to(output).as_posix()) for path in [summary, *studies]]
    note = ("The grid's cells are not under runs/: its summary figures and tables as the last report of the grid "
            "wrote them (python -m benchmark run --all --scenario all, then report, writes them anew).")
    return html_report.Section("scenarios", GRID_HEADING, [], sorted((output / "plots" / "scenarios").glob("*.png")),
                               links, note)


def draw(output: Path, drawn: list[groups.Group]) -> list[list[Path]]:
    """Each group's figures (`plots.write_plots`), the groups shared among the available cores: drawing
    is most of a report's time."""
    parallel = Parallel(n_jobs=max(1, min(defaults.available_cores(), len(drawn))), return_as="generator")
    return list(bar(parallel(delayed(plots.write_plots)(output, group) for group in drawn), total=len(drawn),
                    desc="plots", unit="group"))


def studies_section(output: Path) -> html_report.Section | None:
    """Links to the studies' tables under tables/, None when there is none."""
    links = [(title, f"tables/{stem}.md") for stem, title in STUDY_TABLES.items()
             if (Path(output) / "tables" / f"{stem}.md").is_file()]
    note = "Each study's table as its command last wrote it:"
    return html_report.Section("studies", "Studies", [], [], links, note) if links else None


def write_report(output: Path, data_dir: Path, specs: list[str] = (), reference: str | None = None,
                 grid_detail: bool = False) -> Written | None:
    """Record the cohorts' exclusions, then write every table, the figures, the calibration checks and
    report.html; None when no cell has finished. grid_detail: also draw each grid draw's figures, otherwise
    left as they are."""
    output = Path(output)
    cohorts.record_cohorts(output, data_dir, specs)
    finished = [g for g in groups.collect(output, reference) if not g.summary.empty]
    if not finished:
        return None
    command = tables.default_command()
    written = tables.write_tables(output, command, groups=finished)
    detail = {group.stem for group in scenarios.detail_groups(finished)}
    drawn = [group for group in finished if group.stem not in detail or grid_detail]
    pngs = dict(zip((group.stem for group in drawn), draw(output, drawn)))
    figures = [png for stem in pngs for png in pngs[stem]]
    sections = [html_report.Section(group.stem, group.title, tables.group_tables(group, command), pngs[group.stem])
                for group in finished if group.stem not in detail]
    study = scenarios.write_report(output, finished)
    if study:
        figures += study.plots
        links = [link for group in finished if group.stem in detail
                 for link in draw_links(group, output, grid_detail)]
        note = ("Each draw's own tables and figures, linked" + ("" if grid_detail else
                f" (its figures are drawn by {GRID_DETAIL_COMMAND})") + ":")
        sections.append(html_report.Section("scenarios", GRID_HEADING, study.tables, study.plots, links, note))
    elif (output / "tables" / f"{scenarios.SUMMARY_STEM}.md").is_file():
        sections.append(last_grid(output))
    checks = calibration.calibration_table(output)   # reads the main tables written above
    calibration_pngs = [p for p in calibration_report.write_calibration(output, checks) if p.suffix == ".png"]
    figures += calibration_pngs
    sections.append(html_report.Section("calibration", calibration_report.TITLE,
                                        [calibration_report.report_table(checks)], calibration_pngs))
    sections += [section for section in [studies_section(output)] if section]
    kept = {p.with_suffix(s) for p in figures for s in (".png", ".svg")}
    drawn_folders = {p.parent for p in figures}   # only the folders this pass drew: a draw's detail stays
    tables.remove_stale([p for folder in drawn_folders for p in folder.glob("*") if p.suffix in (".png", ".svg")],
                        kept)
    page = html_report.write_html(output / "report.html", sections)
    return Written(written, checks, study, figures, page)
