"""Write a CT series and a binary DICOM SEG in the NBIA download layout of the TCIA CRLM release.

Used by the synthetic phantoms and by the tests, so that both produce exactly what the reader
meets in a real download:
``Colorectal-Liver-Metastases/<PatientID>/<MM-DD-YYYY>-NA-<StudyDesc>-<NNNNN>/``
``<SeriesNumber>.000000-<SeriesDesc>-<NNNNN>/1-<k>.dcm``.

The CT is stored as signed 16-bit with RescaleIntercept -1024, so the -3024 HU padding outside
the field of view is the stored value -2000, as in the real scans. UIDs are derived from a seed
(``uid(...)``), so the same inputs give byte-identical files and the content-hash cache hits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.coding import Code
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

COLLECTION = "Colorectal-Liver-Metastases"
STUDY_DATE = "20000101"
CT_DESCRIPTION = "ABDOMEN PORTAL VENOUS"
SEG_DESCRIPTION = "Segmentation"
RESCALE_INTERCEPT = -1024.0
PADDING_HU = -3024

_ANATOMY = Code("123037004", "SCT", "Anatomical Structure")
_ALTERED = Code("49755003", "SCT", "Morphologically Altered Structure")
#: Coded type of each TCIA segment label (tumours: Neoplasm).
_SEGMENT_TYPES = {
    "Liver": (_ANATOMY, Code("10200004", "SCT", "Liver")),
    "Liver Remnant": (_ANATOMY, Code("10200004", "SCT", "Liver")),
    "Liver_Remnant": (_ANATOMY, Code("10200004", "SCT", "Liver")),
    "Hepatic": (_ANATOMY, Code("8993003", "SCT", "Hepatic vein")),
    "Portal": (_ANATOMY, Code("32764006", "SCT", "Portal vein")),
}
_TUMOUR = (_ALTERED, Code("108369006", "SCT", "Neoplasm"))


def uid(*parts) -> str:
    """A deterministic DICOM UID from the given parts."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


@dataclass
class CTGeometry:
    """Where the (z, y, x) voxel grid sits in patient (LPS) space.

    origin: position of voxel (0, 0, 0) in mm. spacing: (z, y, x) mm. row / column: direction
    cosines of the x and y axes (DICOM ImageOrientationPatient); slices advance along row x column.
    """

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    row: tuple[float, float, float] = (1.0, 0.0, 0.0)
    column: tuple[float, float, float] = (0.0, 1.0, 0.0)

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row, self.column)

    def slice_position(self, k: int) -> list[float]:
        return [float(v) for v in np.asarray(self.origin) + k * self.spacing[0] * self.normal]


@dataclass
class SeriesInfo:
    """Identity of a written series (the tests use it to forge bad SEGs)."""

    series_uid: str
    frame_of_reference_uid: str
    directory: Path
    datasets: list[Dataset] = field(default_factory=list, repr=False)


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9 ._]", "_", text)


def study_directory(root: Path, patient_id: str, study_uid: str) -> Path:
    tail = int(study_uid.replace(".", "")[-5:])
    return Path(root) / COLLECTION / patient_id / f"01-01-2000-NA-{_folder_name(CT_DESCRIPTION)}-{tail:05d}"


def series_directory(study: Path, series_number: int, description: str, series_uid: str) -> Path:
    tail = int(series_uid.replace(".", "")[-5:])
    return study / f"{series_number}.000000-{_folder_name(description)}-{tail:05d}"


def _patient_module(ds: Dataset, patient_id: str, study_uid: str) -> None:
    ds.PatientID = patient_id
    ds.PatientName = f"{patient_id}^"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = "120000"
    ds.StudyDescription = CT_DESCRIPTION
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""


def ct_slices(hu: np.ndarray, geometry: CTGeometry, patient_id: str, seed, series_number: int = 2,
              study_uid: str | None = None, frame_of_reference_uid: str | None = None) -> list[Dataset]:
    """One CT Image Storage dataset per z slice of `hu` (z, y, x), values in HU."""
    study_uid = study_uid or uid(seed, patient_id, "study")
    series_uid = uid(seed, patient_id, series_number, "series")
    frame_uid = frame_of_reference_uid or uid(seed, patient_id, "frame")
    stored = np.clip(np.round(hu - RESCALE_INTERCEPT), -32768, 32767).astype(np.int16)
    datasets = []
    for k in range(hu.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = uid(series_uid, k)
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        _patient_module(ds, patient_id, study_uid)
        ds.Modality = "CT"
        ds.Manufacturer = "stg-bench"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = CT_DESCRIPTION
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = geometry.slice_position(k)
        ds.ImageOrientationPatient = [*map(float, geometry.row), *map(float, geometry.column)]
        ds.PixelSpacing = [float(geometry.spacing[1]), float(geometry.spacing[2])]
        ds.SliceThickness = float(geometry.spacing[0])
        ds.KVP = 120
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[2]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = RESCALE_INTERCEPT
        ds.RescaleSlope = 1.0
        ds.RescaleType = "HU"
        ds.PixelData = stored[k].tobytes()
        datasets.append(ds)
    return datasets


def write_ct(root: Path, hu: np.ndarray, geometry: CTGeometry, patient_id: str, seed,
             **options) -> SeriesInfo:
    """Write a CT series under the patient's study folder; returns its identity and datasets."""
    datasets = ct_slices(hu, geometry, patient_id, seed, **options)
    first = datasets[0]
    study = study_directory(root, patient_id, first.StudyInstanceUID)
    directory = series_directory(study, int(first.SeriesNumber), CT_DESCRIPTION, first.SeriesInstanceUID)
    directory.mkdir(parents=True, exist_ok=True)
    for k, ds in enumerate(datasets):
        ds.save_as(directory / f"1-{k + 1:03d}.dcm", enforce_file_format=True)
    return SeriesInfo(first.SeriesInstanceUID, first.FrameOfReferenceUID, directory, datasets)


def segment_description(number: int, label: str) -> hd.seg.SegmentDescription:
    category, kind = _SEGMENT_TYPES.get(label, _TUMOUR)
    return hd.seg.SegmentDescription(number, label, category, kind, hd.seg.SegmentAlgorithmTypeValues.MANUAL)


def write_seg(root: Path, source: list[Dataset], segments: dict[str, np.ndarray], seed,
              series_number: int = 3) -> Path:
    """Write a binary SEG over `source` (CT datasets in z order) with one segment per entry of
    `segments` (label -> bool (z, y, x) on the source grid), numbered in the order given.
    Frames exist only where a segment is present (highdicom omits empty frames)."""
    first = source[0]
    labels = list(segments)
    pixels = np.stack([segments[label] for label in labels], axis=-1).astype(np.uint8)
    series_uid = uid(seed, first.SeriesInstanceUID, "seg")
    seg = hd.seg.Segmentation(
        source_images=source, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment_description(i + 1, label) for i, label in enumerate(labels)],
        series_instance_uid=series_uid, series_number=series_number, sop_instance_uid=uid(series_uid, 1),
        instance_number=1, manufacturer="stg-bench", manufacturer_model_name="synthetic",
        software_versions="1", device_serial_number="0", series_description=SEG_DESCRIPTION,
        content_creator_name="stg-bench^")
    seg.ContentDate, seg.ContentTime = STUDY_DATE, "120000"
    seg.SeriesDate, seg.SeriesTime = STUDY_DATE, "120000"
    study = study_directory(root, first.PatientID, first.StudyInstanceUID)
    directory = series_directory(study, series_number, SEG_DESCRIPTION, series_uid)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "1-1.dcm"
    seg.save_as(path)
    return path
