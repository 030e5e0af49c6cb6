"""The scenario grid of the synthetic cohort: every hazard scenario × draw × cohort size as a dataset.

The draws of a size are the cohort seeds 0..N-1. The scenarios of a draw share its patients and images,
so the grid lists them together: the draw's tree is generated and its images prepared once, then reused.
"""
from __future__ import annotations

from collections.abc import Iterable

from benchmark import datasets
from benchmark.data.scenarios import SCENARIOS

ALL = "all"
DEFAULT_DRAWS = 3
DEFAULT_SIZES = (197,)


def scenarios(names: Iterable[str]) -> list[str]:
    """The scenarios named (`all`: every one) in the generator's order; DatasetError naming the valid ones."""
    names = list(names)
    unknown = [name for name in names if name != ALL and name not in SCENARIOS]
    if unknown:
        raise datasets.DatasetError(f"unknown scenario {unknown[0]!r} "
                                    f"(choose from {ALL}, {', '.join(SCENARIOS)})")
    return [scenario for scenario in SCENARIOS if ALL in names or scenario in names]


def members(scenario_names: Iterable[str], draws: int, sizes: Iterable[int]) -> list[datasets.Dataset]:
    """The dataset of every scenario × draw × size (default image size), parsed from its spec as `run -d`
    would, so the cohort records and table footers name the grid's cohorts alike."""
    return [datasets.parse_spec(f"{datasets.DEFAULT_DATASET}:scenario={scenario},n={n},seed={seed}")
            for n in dict.fromkeys(sizes) for seed in range(draws) for scenario in scenario_names]
