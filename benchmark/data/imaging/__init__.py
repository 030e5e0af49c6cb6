"""Imaging for TCIA-format CRLM cohorts: read the DICOM CT + SEG, render synthetic phantoms,
prepare (resample, crop, cache) what features and graphs are computed from.

discovery    where a download keeps its patients and clinical table, in whichever shape it came
tcia_reader  one patient's CT series and SEG from an NBIA download, checked and on the CT grid
writer       CT series + DICOM SEG in the NBIA layout (phantoms and tests)
phantom      the synthetic cohort's CTs and SEGs, rendered from the latent anatomy
prepare      resampling, cropping, the content-hash cache, the manifest, `attach_images`
geometry     the per-patient geometry row (volumes, centroids, distances, contacts)
morphometry  the per-patient morphometry row and per-lesion rows, measured on the SEG's native grid before
             resampling
"""
from __future__ import annotations

from benchmark.data.imaging.phantom import write_synthetic_tree
from benchmark.data.imaging.prepare import PrepareOptions, attach_images, manifest_path
from benchmark.data.imaging.tcia_reader import ImagingError

__all__ = ["ImagingError", "PrepareOptions", "attach_images", "manifest_path", "write_synthetic_tree"]
