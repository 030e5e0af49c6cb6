"""Imaging for TCIA-format cohorts (placeholder until the DICOM loader lands: clinical data only)."""
from __future__ import annotations


def attach_images(cohort) -> None:
    """Find each patient's CT and SEG under the cohort root and record them on the cohort."""


def write_synthetic_tree(drawn, root, size: str, seed: int) -> None:
    """Render the synthetic CTs and SEGs under `root` in the NBIA layout."""
