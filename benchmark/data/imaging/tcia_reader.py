"""Read one patient of an NBIA download of TCIA Colorectal-Liver-Metastases: the CT and its SEG.

Series are told apart by their DICOM Modality, not by folder names. The CT's slice spacing comes
from the slice positions along the slice normal (not SliceThickness), its orientation is kept as
direction cosines, and the -3024 HU padding outside the scanner's field of view becomes air
(-1024 HU). The SEG is read with highdicom; its frames are put back on the CT grid by the CT
instance each frame references (or, for a SEG without such references, by frame position).

Every problem raises ImagingError with the file and what is wrong, so the caller can exclude
that one patient with a readable reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from benchmark.data.imaging.prepared import SEGMENT_LABELS, TUMOUR_PREFIX

AIR_HU = -1024.0
#: Largest relative deviation of one slice step from the median step before a gap is reported.
SLICE_STEP_TOLERANCE = 0.05
_TUMOUR_LABEL = re.compile(rf"^{TUMOUR_PREFIX.rstrip('_')}[ _]?(\d+)$", re.IGNORECASE)
_NATIVE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian}
_HEADER_TAGS = ["Modality", "SeriesInstanceUID", "ReferencedSeriesSequence"]


class ImagingError(ValueError):
    """A patient's images cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Series:
    """One series folder; modality and UID come from NBIA's metadata.csv when it lists the series,
    else (None) from the first file's header."""

    directory: Path
    modality: str | None = None
    uid: str | None = None


@dataclass(frozen=True)
class PatientFolder:
    """Where one patient's images are: the folder (``<study>/<series>/*.dcm`` below it), and its
    series when metadata.csv lists them (empty: every ``<study>/<series>`` folder)."""

    patient_id: str
    directory: Path
    series: tuple[Series, ...] = ()

    def series_folders(self) -> tuple[Series, ...]:
        return self.series or tuple(Series(p) for p in sorted(self.directory.glob("*/*")) if p.is_dir())


@dataclass(frozen=True)
class PatientFiles:
    patient_id: str
    ct_dir: Path
    seg_file: Path


@dataclass
class CTVolume:
    """A CT series on its own grid.

    hu: float32 (z, y, x). spacing: (z, y, x) mm. origin: (x, y, z) patient position of voxel 0.
    direction: 3 x 3, columns are the patient-space directions of the x, y and z array axes.
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    sop_uids: list[str]
    series_uid: str
    frame_of_reference_uid: str
    directory: Path


@dataclass
class SegMasks:
    """The SEG's segments on the CT grid: one bool (z, y, x) mask per node, None when absent."""

    nodes: dict[str, np.ndarray | None]
    tumours: list[np.ndarray] = field(default_factory=list)
    tumour_labels: list[str] = field(default_factory=list)
    ignored_labels: list[str] = field(default_factory=list)


def dicom_files(directory: Path) -> list[Path]:
    """Every *.dcm below `directory`, in a stable order."""
    return sorted(Path(directory).rglob("*.dcm"))


def _header(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    except Exception as error:  # pydicom raises several types for damaged files
        raise ImagingError(f"{path}: unreadable DICOM ({error})") from error


def _series_header(directory: Path) -> tuple[pydicom.Dataset, list[Path]]:
    """The header of the first readable file of a series folder (a damaged file is reported later)."""
    files = sorted(directory.glob("*.dcm"))
    errors = []
    for path in files:
        try:
            return _header(path), files
        except ImagingError as error:
            errors.append(str(error))
    raise ImagingError(f"{directory}: no readable DICOM file" + (f" ({errors[0]})" if errors else ""))


def find_series(patient: PatientFolder) -> PatientFiles:
    """The patient's SEG file and the CT series it was drawn on; other series (a scout, a localiser,
    reports) are ignored. Only the series whose modality or UID metadata.csv did not give are opened."""
    patient_dir = patient.directory
    cts, segs = {}, []
    for series in patient.series_folders():
        if series.modality in (None, "SEG") or (series.modality == "CT" and not series.uid):
            header, files = _series_header(series.directory)
        modality = series.modality or header.get("Modality")
        if modality == "CT":
            cts[series.uid or str(header.SeriesInstanceUID)] = series.directory
        elif modality == "SEG":
            segs += [(path, header) for path in files]
    if not segs:
        raise ImagingError(f"{patient_dir}: no SEG series")
    if len(segs) > 1:
        raise ImagingError(f"{patient_dir}: {len(segs)} SEG files, expected one ({', '.join(str(p) for p, _ in segs)})")
    if not cts:
        raise ImagingError(f"{patient_dir}: no CT series")
    seg_file, header = segs[0]
    referenced = [str(item.SeriesInstanceUID) for item in header.get("ReferencedSeriesSequence", [])]
    matching = [cts[uid] for uid in referenced if uid in cts]
    if not matching:
        raise ImagingError(f"{seg_file}: SEG references series {', '.join(referenced) or '(none)'}, "
                           f"not the patient's CT series ({', '.join(cts)})")
    return PatientFiles(patient.patient_id, matching[0], seg_file)


def _raw_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """Uncompressed 16-bit pixels straight from the buffer: pixel_array's overhead dominates a small slice."""
    if (ds.BitsAllocated, ds.BitsStored, ds.SamplesPerPixel, ds.get("NumberOfFrames", 1)) != (16, 16, 1, 1):
        return ds.pixel_array
    dtype = np.dtype("<i2" if ds.PixelRepresentation else "<u2")
    if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian:
        dtype = dtype.newbyteorder(">")
    return np.frombuffer(ds.PixelData, dtype=dtype, count=ds.Rows * ds.Columns).reshape(ds.Rows, ds.Columns)


def _read_slice(path: Path) -> tuple[pydicom.Dataset, np.ndarray]:
    try:
        ds = pydicom.dcmread(path)
        pixels = _raw_pixels(ds) if ds.file_meta.TransferSyntaxUID in _NATIVE else ds.pixel_array
    except Exception as error:
        raise ImagingError(f"{path}: unreadable DICOM ({error})") from error
    slope, intercept = float(ds.get("RescaleSlope", 1.0)), float(ds.get("RescaleIntercept", 0.0))
    return ds, pixels.astype(np.float32) * slope + intercept


def read_ct(directory: Path) -> CTVolume:
    """Read a CT series; slices ordered along the slice normal, spacing from their positions."""
    files = sorted(Path(directory).glob("*.dcm"))
    if len(files) < 2:
        raise ImagingError(f"{directory}: {len(files)} CT file(s), need at least 2 slices")
    slices = [_read_slice(path) for path in files]
    first = slices[0][0]
    for (ds, pixels), path in zip(slices, files):
        for keyword in ("SeriesInstanceUID", "FrameOfReferenceUID", "ImageOrientationPatient", "PixelSpacing"):
            if ds.get(keyword) != first.get(keyword):
                raise ImagingError(f"{path}: {keyword} differs from {files[0].name} in the same series")
        if pixels.shape != slices[0][1].shape:
            raise ImagingError(f"{path}: {pixels.shape} pixels, {files[0].name} has {slices[0][1].shape}")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    row, column = orientation[:3], orientation[3:]
    normal = np.cross(row, column)
    positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for ds, _ in slices])
    order = np.argsort(positions @ normal)
    positions = positions[order]
    steps = np.diff(positions @ normal)
    step = float(np.median(steps))
    if step <= 1e-3:
        raise ImagingError(f"{directory}: slices share a position (duplicate slice)")
    bad = np.flatnonzero(np.abs(steps - step) > SLICE_STEP_TOLERANCE * step)
    if bad.size:
        k = bad[0]
        raise ImagingError(f"{directory}: uneven slice spacing ({steps[k]:.2f} mm between "
                           f"{files[order[k]].name} and {files[order[k + 1]].name}, median {step:.2f} mm): "
                           f"missing or extra slice")
    in_plane = positions - np.outer(positions @ normal, normal)
    if np.abs(in_plane - in_plane[0]).max() > 0.5:
        raise ImagingError(f"{directory}: slice origins move within the plane (gantry tilt); not supported")
    hu = np.stack([slices[k][1] for k in order])
    np.maximum(hu, AIR_HU, out=hu)  # -3024 HU field-of-view padding (and any value below air) -> air
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)
    return CTVolume(hu=hu, spacing=(step, row_spacing, column_spacing), origin=tuple(positions[0]),
                    direction=np.column_stack([row, column, normal]),
                    sop_uids=[str(slices[k][0].SOPInstanceUID) for k in order],
                    series_uid=str(first.SeriesInstanceUID),
                    frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")), directory=Path(directory))


def node_of_label(label: str) -> str | None:
    """The graph node a SEG label belongs to ("tumour" for Tumor_i), None when unknown."""
    folded = label.strip().lower().replace("_", " ")
    for node, labels in SEGMENT_LABELS.items():
        if folded in {candidate.lower().replace("_", " ") for candidate in labels}:
            return node
    return "tumour" if _TUMOUR_LABEL.match(label.strip()) else None


def _frames_by_position(seg: hd.seg.Segmentation, ct: CTVolume, numbers: list[int], path: Path) -> np.ndarray:
    """(z, y, x, segment) masks for a SEG whose frames do not name their CT instance."""
    normal, origin = ct.direction[:, 2], np.asarray(ct.origin)
    out = np.zeros((*ct.hu.shape, len(numbers)), dtype=bool)
    column_of = {number: i for i, number in enumerate(numbers)}
    for index, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.asarray(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        k = (position - origin) @ normal / ct.spacing[0]
        if abs(k - round(k)) > 0.1 or not 0 <= round(k) < ct.hu.shape[0]:
            raise ImagingError(f"{path}: frame {index + 1} lies at no CT slice position")
        if number in column_of:
            out[round(k), :, :, column_of[number]] |= seg.get_frame(index + 1) > 0
    return out


def read_seg(path: Path, ct: CTVolume) -> SegMasks:
    """Read a SEG and return its segments on the CT grid, checked against the CT."""
    try:
        seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(path), copy=False)
    except Exception as error:
        raise ImagingError(f"{path}: unreadable SEG ({error})") from error
    if str(seg.get("FrameOfReferenceUID", "")) != ct.frame_of_reference_uid:
        raise ImagingError(f"{path}: frame of reference {seg.get('FrameOfReferenceUID')} differs from the CT's "
                           f"{ct.frame_of_reference_uid}")
    if (seg.Rows, seg.Columns) != ct.hu.shape[1:]:
        raise ImagingError(f"{path}: frames are {seg.Rows}x{seg.Columns}, CT slices {ct.hu.shape[1]}x{ct.hu.shape[2]}")
    sources = seg.get_source_image_uids()
    ct_instances = set(ct.sop_uids)
    foreign = sorted({sop for _, series, sop in sources if series != ct.series_uid or sop not in ct_instances})
    if foreign:
        raise ImagingError(f"{path}: frames reference {len(foreign)} instance(s) not in CT series {ct.series_uid} "
                           f"({ct.directory})")

    labels = {int(item.SegmentNumber): str(item.SegmentLabel) for item in seg.SegmentSequence}
    numbers = sorted(labels)
    try:
        if sources:
            pixels = seg.get_pixels_by_source_instance(ct.sop_uids, segment_numbers=numbers,
                                                       assert_missing_frames_are_empty=True)
        else:
            pixels = _frames_by_position(seg, ct, numbers, path)
    except ImagingError:
        raise
    except Exception as error:
        raise ImagingError(f"{path}: frames cannot be mapped onto the CT ({error})") from error
    masks = pixels >= (0.5 if pixels.dtype.kind == "f" else 1)

    result = SegMasks(nodes=dict.fromkeys(SEGMENT_LABELS))
    for column, number in enumerate(numbers):
        label, node = labels[number], node_of_label(labels[number])
        if node == "tumour":
            result.tumours.append(masks[..., column])
            result.tumour_labels.append(label)
        elif node is None:
            result.ignored_labels.append(label)
        elif result.nodes[node] is not None:
            raise ImagingError(f"{path}: two segments for {node!r} (second: {label!r})")
        else:
            result.nodes[node] = masks[..., column]
    return result
