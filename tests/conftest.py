"""Shared fixtures: small cohorts built in memory so tests stay fast."""
from __future__ import annotations

import pytest

from benchmark import datasets
from benchmark.data import synthetic
from benchmark.datasets.tcia import cohort_from_clinical


@pytest.fixture(scope="session")
def drawn_cohort():
    """A small synthetic draw (clinical table + latents), no images."""
    return synthetic.generate(80, seed=3)


@pytest.fixture(scope="session")
def clinical_cohort(drawn_cohort):
    """A Cohort from the synthetic clinical table only (no DICOM), with its truth."""
    cohort = cohort_from_clinical(drawn_cohort.clinical, "crlm-test", None)
    cohort.truth = drawn_cohort.patients
    return cohort


@pytest.fixture(scope="session")
def gbsg2():
    return datasets.load("gbsg2")
