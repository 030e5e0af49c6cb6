"""Imaging for TCIA-format cohorts (placeholder until the DICOM loader lands: clinical data only)."""
from __future__ import annotations


def attach_images(cohort, cache_dir, n_jobs: int = 1) -> None:
    """Find, validate and prepare each patient's CT + SEG; record them on `cohort.images`,
    exclude (with the reason) patients whose images cannot be used."""


def write_synthetic_tree(drawn, root, size: str, seed: int) -> None:
    """Render the synthetic CTs and SEGs under `root` in the NBIA layout."""
