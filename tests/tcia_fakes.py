"""Tiny CT + SEG cases written with the NBIA writer, for the reader, prepare and download-layout tests."""
from __future__ import annotations

import numpy as np

from benchmark.data.imaging import writer

SPACING = (3.0, 2.0, 2.0)  # (z, y, x) mm of the test CTs
SEED = 7


def supine_case():
    """CT (10, 16, 16) with a liver on slices 3-6 only, two overlapping tumours, all four vessels."""
    shape = (10, 16, 16)
    hu = np.full(shape, 40.0)
    hu[:, :2, :2] = writer.PADDING_HU  # field-of-view padding in a corner
    segments = {name: np.zeros(shape, bool) for name in ("Liver", "Liver Remnant", "Hepatic", "Portal",
                                                         "Tumor_1", "Tumor_2")}
    segments["Liver"][3:7, 4:12, 4:12] = True
    segments["Liver Remnant"][3:7, 4:12, 9:12] = True
    segments["Tumor_1"][4:6, 5:8, 5:8] = True
    segments["Tumor_2"][4:6, 6:9, 6:9] = True      # overlaps Tumor_1 on 2 x 2 x 2 voxels
    segments["Portal"][3:7, 10, 5] = True          # 2 voxels below Tumor_2 in y, 1 left in x: no contact
    segments["Hepatic"][5, 7, 9:11] = True         # x = 9 next to Tumor_2's x = 8: contact
    hu[segments["Liver"]] = 110.0
    hu[segments["Tumor_1"] | segments["Tumor_2"]] = 45.0
    geometry = writer.CTGeometry(origin=(-15.0, -15.0, -100.0), spacing=SPACING)
    return hu, geometry, segments


def prone_case():
    """CT (8, 12, 12) scanned prone, no Hepatic segment, remnant spelled Liver_Remnant."""
    shape = (8, 12, 12)
    hu = np.full(shape, 40.0)
    segments = {name: np.zeros(shape, bool) for name in ("Liver", "Liver_Remnant", "Portal", "Tumor_1")}
    segments["Liver"][2:6, 2:6, 3:9] = True
    segments["Liver_Remnant"][2:6, 2:6, 3:5] = True
    segments["Portal"][3, 3, 4:7] = True
    segments["Tumor_1"][4, 4, 7] = True
    geometry = writer.CTGeometry(origin=(20.0, 30.0, -50.0), spacing=SPACING, row=(-1.0, 0.0, 0.0),
                                 column=(0.0, -1.0, 0.0))
    return hu, geometry, segments


def write_patient(root, patient_id, case):
    hu, geometry, segments = case
    series = writer.write_ct(root, hu, geometry, patient_id, SEED)
    return series, writer.write_seg(root, series.datasets, segments, SEED)
