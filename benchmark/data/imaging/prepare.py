"""Prepare a TCIA-format cohort's images: resample, crop to the liver, cache, and attach to the Cohort.

Per patient: read the CT and SEG (tcia_reader), measure the morphometry row on the SEG's native grid,
resample both onto an axis-aligned patient-space grid of the configured spacing (linear for HU,
linear-then-0.5 for masks) that covers the liver's bounding box plus a margin, compute the geometry
row, and save a PreparedCase npz named by a hash of the DICOM bytes and the options. The grid is
anchored on the CT's first voxel, so a spacing equal to the CT's reproduces its voxels exactly.

Cache lookup must be cheap (every worker process of a run loads the cohort): an index maps each
patient to a fingerprint of file names, sizes and mtimes; only a changed fingerprint costs a
content hash, and only a changed content hash costs a new preparation. Unusable patients are
excluded with the reason (file and problem) and listed in ``manifest.csv``; one bad patient never
stops the others. Each CT's slice spacing (from its slice positions) is kept in the npz and the
manifest, so thick-slice acquisitions can be counted and, with a limit, excluded by reason.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from joblib import Parallel, delayed

from benchmark.data.imaging.geometry import geometry_row
from benchmark.data.imaging.morphometry import LESION_COLUMNS, MORPHOMETRY_COLUMNS, measure
from benchmark.data.imaging.prepared import NODE_NAMES, Grid, PreparedCase, geometry_columns
from benchmark.data.imaging.tcia_reader import (
    AIR_HU,
    CTVolume,
    ImagingError,
    PatientFolder,
    SegMasks,
    dicom_files,
    find_series,
    read_ct,
    read_seg,
)
from benchmark.files import atomic_write_bytes, atomic_write_text
from benchmark.progress import bar

#: Bump when the prepared output changes for the same input, so old cache entries are not reused.
PREPARE_VERSION = 6
INDEX_NAME, MANIFEST_NAME = "index.json", "manifest.csv"
NO_IMAGES = "no images in the download"
MANIFEST_COLUMNS = ["patient_id", "status", "reason", "file", "content_hash", "slice_mm", "n_tumours", "notes"]


#: The isotropic spacing (mm) of the texture grid radiomics and the CT encoder read, for CTs whose pixels are finer
#: than it. IBSI practice resamples to a fixed isotropic spacing, often 1 mm. On three real-size synthetic CTs (512 x
#: 512, 0.5-0.75 mm pixels; `python -m perf.texture_grid`), the radiomics of every node of a patient take 0.2-0.4 s on
#: the 4 mm grid, 1.3-3.5 s at 2 mm and 16-48 s at 1 mm on one core, and the prepared case 0.2-0.4, 1.8-3.7 and 13-27
#: MB of cache: 1 mm would cost the 197-patient cohort one to three hours of extraction. At 2 mm a 7.5 mm lesion keeps
#: some 28 voxels (3 at 4 mm; one of the three patients' tumours had 2 voxels there, too few for features, and 22 at 2
#: mm) and a 7 mm texture is 3-4 voxels wide.
#: A CT no finer than that (the synthetic cohort's small images: 4-6 mm pixels, 5 mm slices) keeps its own voxels on
#: the texture grid, cropped like the prepared grid and not resampled: on the 4 mm grid every voxel would be an
#: interpolation, which averages a voxel-scale texture away and mixes each tumour's edge with the liver around it
#: (what each family's inputs then show of the texture hazard: results/tables/scenario_inputs.md).
TEXTURE_SPACING_MM = 2.0


@dataclass(frozen=True)
class PrepareOptions:
    """spacing: (z, y, x) mm of the prepared grid; margin_mm: added around the liver's bounding box;
    texture_spacing_mm: the isotropic spacing of the texture grid stored beside the prepared grid when the CT's
    pixels are finer than it; a coarser CT's texture grid is its own voxels (None: no texture grid)."""

    spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)
    margin_mm: float = 12.0
    texture_spacing_mm: float | None = TEXTURE_SPACING_MM

    def key(self) -> str:
        return json.dumps({"version": PREPARE_VERSION, **asdict(self)}, sort_keys=True)


def _image(array: np.ndarray, ct: CTVolume, origin) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in ct.spacing[::-1]])
    image.SetOrigin([float(v) for v in origin])
    image.SetDirection([float(v) for v in ct.direction.ravel()])
    return image


def _box_corners(ct: CTVolume, low_zyx, high_zyx) -> np.ndarray:
    """(8, 3) patient positions of the corners of the CT index box [low, high] (z, y, x)."""
    corners = np.array(np.meshgrid(*zip(low_zyx[::-1], high_zyx[::-1]))).reshape(3, -1).T  # (x, y, z) indices
    return np.asarray(ct.origin) + (corners * np.asarray(ct.spacing[::-1])) @ ct.direction.T


def output_grid(ct: CTVolume, region: np.ndarray, spacing, margin_mm: float) -> tuple[np.ndarray, list[int]]:
    """Origin (x, y, z) and size (x, y, z) of the prepared grid around the voxels of `region`.

    The grid's lattice is anchored on the CT voxel centre nearest patient (-inf, -inf, -inf), so
    a scan and its mirrored (prone) acquisition give the same grid."""
    zyx = np.argwhere(region)
    points = _box_corners(ct, zyx.min(axis=0) - 0.5, zyx.max(axis=0) + 0.5)
    lo, hi = points.min(axis=0) - margin_mm, points.max(axis=0) + margin_mm
    step = np.asarray(spacing[::-1], float)
    anchor = _box_corners(ct, np.zeros(3), np.array(ct.hu.shape) - 1).min(axis=0)
    first = np.ceil((lo - anchor) / step - 1e-6)
    size = np.floor((hi - anchor) / step + 1e-6) - first + 1
    return anchor + first * step, [int(n) for n in size]


def _input_crop(ct: CTVolume, origin: np.ndarray, size, step: np.ndarray) -> tuple[slice, ...]:
    """The (z, y, x) slices of the CT that the output grid can sample (plus one voxel for interpolation)."""
    box = np.array(np.meshgrid(*[(0.0, (n - 1) * s) for n, s in zip(size, step)])).reshape(3, -1).T + origin
    index = ((box - np.asarray(ct.origin)) @ ct.direction) / np.asarray(ct.spacing[::-1])  # (x, y, z)
    low = np.maximum(np.floor(index.min(axis=0)) - 1, 0).astype(int)
    high = np.minimum(np.ceil(index.max(axis=0)) + 2, ct.hu.shape[::-1]).astype(int)
    return tuple(slice(a, b) for a, b in zip(low[::-1], high[::-1]))


def _crop_region(ct: CTVolume, seg: SegMasks) -> np.ndarray:
    """The voxels the prepared grids cover: the liver, else whatever was segmented, else the whole scan."""
    present = [m for m in (*seg.nodes.values(), *seg.tumours) if m is not None and m.any()]
    liver = seg.nodes["liver"]
    if liver is not None and liver.any():
        return liver
    if present:
        return np.logical_or.reduce(present)
    return np.ones(ct.hu.shape, dtype=bool)


def resample_case(ct: CTVolume, seg: SegMasks, region: np.ndarray, spacing, margin_mm: float
                  ) -> tuple[Grid, list[np.ndarray]]:
    """The CT and every node mask on the axis-aligned grid of `spacing` (z, y, x mm) around `region`, and each
    tumour's mask on it."""
    origin, size = output_grid(ct, region, spacing, margin_mm)
    step = np.asarray(spacing[::-1], float)
    crop = _input_crop(ct, origin, size, step)
    crop_origin = np.asarray(ct.origin) + ct.direction @ (np.array([s.start for s in crop[::-1]]) * ct.spacing[::-1])

    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(size)
    resampler.SetOutputOrigin([float(v) for v in origin])
    resampler.SetOutputSpacing([float(s) for s in step])
    resampler.SetOutputDirection([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetOutputPixelType(sitk.sitkFloat32)

    def resample(array: np.ndarray, default: float) -> np.ndarray:
        resampler.SetDefaultPixelValue(default)
        return sitk.GetArrayFromImage(resampler.Execute(_image(array[crop], ct, crop_origin)))

    volume = resample(ct.hu, AIR_HU).astype(np.float32)
    empty = np.zeros(volume.shape, dtype=bool)

    def resample_mask(mask: np.ndarray | None) -> np.ndarray:
        if mask is None or not mask.any():
            return empty.copy()
        return resample(mask.astype(np.uint8), 0.0) >= 0.5

    masks = {node: resample_mask(seg.nodes[node]) for node in NODE_NAMES if node != "tumour"}
    tumours = [resample_mask(mask) for mask in seg.tumours]
    masks["tumour"] = np.logical_or.reduce(tumours) if tumours else empty.copy()
    return Grid(volume, tuple(float(s) for s in spacing), tuple(float(v) for v in origin), masks), tumours


def prepare_case(patient_id: str, ct: CTVolume, seg: SegMasks, options: PrepareOptions) -> PreparedCase:
    """Resample the CT and every mask onto the cropped, axis-aligned grid and onto the texture grid
    (`texture_grid_spacing`); the morphometry (row and per-lesion rows) is measured on the native masks."""
    region = _crop_region(ct, seg)
    grid, tumours = resample_case(ct, seg, region, options.spacing, options.margin_mm)
    spacing = texture_grid_spacing(ct, options)
    texture = None if spacing is None else resample_case(ct, seg, region, spacing, options.margin_mm)[0]
    morphometry = measure(seg, ct.spacing)
    return PreparedCase(patient_id, grid.volume, grid.spacing, grid.origin, grid.masks, tumours,
                        tuple(float(s) for s in ct.spacing), morphometry.row, morphometry.lesions, texture)


def texture_grid_spacing(ct: CTVolume, options: PrepareOptions) -> tuple[float, float, float] | None:
    """(z, y, x) mm of the texture grid: isotropic `texture_spacing_mm` for a CT whose pixels are finer, else the
    CT's own spacing, whose lattice the grid keeps (its voxels are the CT's, unresampled); None without one."""
    if options.texture_spacing_mm is None:
        return None
    if min(ct.spacing[1:]) < options.texture_spacing_mm:
        return (options.texture_spacing_mm,) * 3
    return tuple(float(s) for s in ct.spacing)


def fingerprint(files: list[Path], root: Path, options: PrepareOptions) -> str:
    """Cheap identity of a patient's files: names, sizes and modification times."""
    digest = hashlib.sha1(options.key().encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def content_hash(files: list[Path], root: Path, options: PrepareOptions) -> str:
    """Identity of what a patient's files contain (and of the options), for the npz name."""
    digest = hashlib.sha256(options.key().encode())
    for path in files:
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def prepare_patient(patient: PatientFolder, cache_dir: Path, options: PrepareOptions) -> dict:
    """Prepare one patient into the cache; returns its index record (never raises)."""
    patient_id, patient_dir = patient.patient_id, patient.directory
    try:
        files = find_series(patient)
        digest = content_hash(dicom_files(patient_dir), patient_dir, options)
        path = cache_dir / f"{patient_id}-{digest[:16]}.npz"
        notes = ""
        if path.is_file():
            case = PreparedCase.load(path)
        else:
            ct = read_ct(files.ct_dir)
            seg = read_seg(files.seg_file, ct)
            case = prepare_case(patient_id, ct, seg, options)
            notes = "; ".join(f"ignored segment {label!r}" for label in seg.ignored_labels)
            buffer = io.BytesIO()
            case.save(buffer)
            atomic_write_bytes(path, buffer.getvalue())
        return {"status": "prepared", "reason": "", "file": path.name, "content_hash": digest,
                "slice_mm": round(case.ct_spacing[0], 3), "geometry": geometry_row(case),
                "morphometry": case.morphometry, "lesions": case.lesions, "notes": notes}
    except ImagingError as error:
        return {"status": "excluded", "reason": str(error)}
    except Exception as error:  # an unforeseen defect in one patient's files must not stop the cohort
        return {"status": "excluded", "reason": f"{patient_dir}: {type(error).__name__}: {error}"}


def _read_index(cache_dir: Path) -> dict:
    try:
        return json.loads((cache_dir / INDEX_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _is_current(record: dict | None, stamp: str, cache_dir: Path) -> bool:
    if not record or record.get("fingerprint") != stamp:
        return False
    return record["status"] != "prepared" or (cache_dir / record["file"]).is_file()


def _prepare_all(todo: dict[str, PatientFolder], cache_dir: Path, options: PrepareOptions, n_jobs: int,
                 label: str) -> dict[str, dict]:
    def job(patient):
        return patient.patient_id, prepare_patient(patient, cache_dir, options)

    if n_jobs > 1 and len(todo) > 1:
        runs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(job)(p) for p in todo.values())
    else:
        runs = (job(patient) for patient in todo.values())
    out = {}
    with bar(total=len(todo), desc=f"prepare {label}", unit="patient") as prepared:
        for patient_id, record in runs:
            out[patient_id] = record
            prepared.update()
            if record["status"] == "excluded":
                prepared.write(f"excluded {patient_id}: {record['reason']}", file=sys.stderr)
    return out


def manifest_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / MANIFEST_NAME


def _relative(reason: str, root: Path) -> str:
    """A reason with paths relative to the dataset root: table footers and committed results stay
    free of this machine's directories (the manifest keeps the full paths)."""
    return reason.replace(f"{Path(root).resolve()}{os.sep}", "").replace(f"{root}{os.sep}", "")


def thicker_than(slice_mm: float | None, max_slice_mm: float | None) -> str:
    """Why a prepared CT is left out by the slice-spacing limit; empty when it is kept."""
    if max_slice_mm is None or slice_mm is None or slice_mm <= max_slice_mm:
        return ""
    return f"slice spacing {slice_mm:g} mm > {max_slice_mm:g} mm"


def attach_images(cohort, patients: dict[str, PatientFolder], cache_dir, n_jobs: int = 1,
                  options: PrepareOptions = PrepareOptions(), max_slice_mm: float | None = None) -> pd.DataFrame:
    """Validate and prepare each patient's CT + SEG (`patients`: the download's patient folders);
    record them on `cohort.images`; exclude, with the reason, the patients whose images cannot be
    used, who have none, or (with `max_slice_mm`) whose CT slices are thicker than that.

    Sets ``cohort.artefacts["geometry"]`` (one row per prepared patient, `geometry_columns()`),
    ``cohort.artefacts["morphometry"]`` (the same patients, `MORPHOMETRY_COLUMNS`, measured before resampling) and
    ``cohort.artefacts["lesions"]`` (their lesions, `LESION_COLUMNS`, one row each, indexed by patient: a patient
    without lesions has no row), writes ``manifest.csv`` in `cache_dir` (one row per patient, with the CT's slice
    spacing) and returns it.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    clinical_ids = [str(pid) for pid in cohort.patient_ids]
    manifest = []
    for pid in clinical_ids:
        if pid not in patients:
            manifest.append({"patient_id": pid, "status": "excluded", "reason": NO_IMAGES})
            cohort.exclude(pid, NO_IMAGES)
    for pid in sorted(set(patients) - set(clinical_ids)):
        reason = f"{patients[pid].directory}: images but no clinical row"
        manifest.append({"patient_id": pid, "status": "skipped", "reason": reason})
        cohort.exclude(pid, _relative(reason, cohort.root))

    wanted = [pid for pid in clinical_ids if pid in patients]
    index = _read_index(cache_dir)
    stamps = {pid: fingerprint(dicom_files(patients[pid].directory), patients[pid].directory, options)
              for pid in wanted}
    todo = {pid: patients[pid] for pid in wanted if not _is_current(index.get(pid), stamps[pid], cache_dir)}
    if todo:
        for pid, record in _prepare_all(todo, cache_dir, options, n_jobs, cohort.name).items():
            old = index.get(pid, {}).get("file")
            if old and old != record.get("file"):
                (cache_dir / old).unlink(missing_ok=True)
            index[pid] = {"fingerprint": stamps[pid], **record}
        atomic_write_text(cache_dir / INDEX_NAME, json.dumps(index, indent=1, sort_keys=True))

    kept = {}
    for pid in wanted:
        record = index[pid]
        reason = record["reason"] or thicker_than(record.get("slice_mm"), max_slice_mm)
        manifest.append({"patient_id": pid, **{k: v for k, v in record.items() if k in MANIFEST_COLUMNS},
                         "status": "excluded" if reason else "prepared", "reason": reason,
                         "n_tumours": record.get("geometry", {}).get("n_tumours")})
        if reason:
            cohort.exclude(pid, _relative(reason, cohort.root))
        else:
            cohort.images[pid] = cache_dir / record["file"]
            kept[pid] = record
    for name, columns in (("geometry", geometry_columns()), ("morphometry", MORPHOMETRY_COLUMNS)):
        table = pd.DataFrame.from_dict({pid: record[name] for pid, record in kept.items()}, orient="index")
        table = table.reindex(columns=columns)
        table.index.name = cohort.clinical.index.name
        cohort.artefacts[name] = table.astype(float)
    rows = [{"patient_id": pid, **lesion} for pid, record in kept.items() for lesion in record["lesions"]]
    lesions = pd.DataFrame(rows, columns=["patient_id", *LESION_COLUMNS]).set_index("patient_id")
    lesions.index.name = cohort.clinical.index.name
    cohort.artefacts["lesions"] = lesions.astype(float)

    frame = pd.DataFrame(manifest).reindex(columns=MANIFEST_COLUMNS).sort_values("patient_id")
    text = frame.to_csv(index=False)
    path = manifest_path(cache_dir)
    if not path.is_file() or path.read_text() != text:
        atomic_write_text(path, text)
    return frame
