"""What the per-node feature extractors (radiomics, CT encoder) share: masks, caching, parallel map.

An extractor turns one prepared case into a `CaseFeatures`: one vector per node of NODE_COLUMNS,
or None with the reason it could not be computed. `build_table` runs it over a cohort (in
parallel, with a progress bar) and assembles the FeatureTable. Results are cached per patient
under a key of the case's content (volume, spacing, node masks) and the extractor's `salt`
(configuration and library versions), so a changed image, mask or setting recomputes only what
it touches. An index of (file size, mtime) -> content digest spares warm reruns from
decompressing every case just to hash it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.imaging.prepared import NODE_NAMES, Grid, PreparedCase
from benchmark.features.artefacts import ArtefactError
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.files import atomic_write_text
from benchmark.progress import bar

#: Below this many voxels a mask has no texture, shape or extent to describe.
MIN_VOXELS = 2


def node_masks(case: PreparedCase | Grid) -> dict[str, np.ndarray]:
    """NODE_COLUMNS -> bool mask (z, y, x) of a case or of its texture grid; ct_global is the whole liver, the
    union of every node mask."""
    masks = {name: case.masks[name] for name in NODE_NAMES}
    masks["ct_global"] = np.logical_or.reduce([masks[name] for name in NODE_NAMES])
    return masks


def mask_problem(mask: np.ndarray) -> str | None:
    """Why a mask cannot be described (None when it can)."""
    count = int(np.count_nonzero(mask))
    if count == 0:
        return "empty mask"
    if count < MIN_VOXELS:
        return "one-voxel mask"
    return None


def case_digest(case: PreparedCase) -> str:
    """Content hash of what the features read: the volume, its spacing and the node masks, on the prepared grid
    and on the texture grid when there is one."""
    digest = hashlib.sha256()
    for grid in (case, case.texture):
        if grid is None:
            continue
        digest.update(np.ascontiguousarray(grid.volume, dtype=np.float32).tobytes())
        digest.update(np.asarray(grid.spacing, dtype=float).tobytes())
        for name in NODE_NAMES:
            digest.update(name.encode())
            digest.update(np.packbits(grid.masks[name]).tobytes())
    return digest.hexdigest()


@dataclass
class CaseFeatures:
    """One patient's features: `values[node]` is a vector over `names`, or None with `reasons[node]`."""

    names: list[str]
    values: dict[str, list[float] | None]
    reasons: dict[str, str]
    present: dict[str, bool]

    def to_json(self) -> str:
        return json.dumps({"names": self.names, "values": self.values, "reasons": self.reasons,
                           "present": self.present})

    @classmethod
    def from_json(cls, text: str) -> "CaseFeatures":
        data = json.loads(text)
        return cls(data["names"], data["values"], data["reasons"], data["present"])


#: case -> CaseFeatures for a batch of cases (a batch lets the encoder run several at once).
Extractor = Callable[[Sequence[PreparedCase]], list[CaseFeatures]]


class CaseCache:
    """Per-patient CaseFeatures on disk under `directory`, keyed by case content and extractor salt."""

    def __init__(self, directory: Path, salt: str):
        self.directory, self.salt = Path(directory), salt
        self.directory.mkdir(parents=True, exist_ok=True)
        self.index_path = self.directory / "digests.json"
        self.index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    def path(self, patient_id: str, digest: str) -> Path:
        key = hashlib.sha256(f"{digest}:{self.salt}".encode()).hexdigest()[:24]
        return self.directory / f"{patient_id}-{key}.json"

    def known_digest(self, case_path: Path) -> str | None:
        """The content digest recorded for this file, if it has not changed since."""
        stat = Path(case_path).stat()
        entry = self.index.get(str(Path(case_path).resolve()))
        return entry[2] if entry and entry[:2] == [stat.st_size, stat.st_mtime_ns] else None

    def remember(self, case_path: Path, digest: str) -> None:
        stat = Path(case_path).stat()
        self.index[str(Path(case_path).resolve())] = [stat.st_size, stat.st_mtime_ns, digest]

    def save_index(self) -> None:
        atomic_write_text(self.index_path, json.dumps(self.index, indent=0))


def require_images(cohort, source: str) -> None:
    if not cohort.images:
        raise ArtefactError(f"{source} features need CT images; cohort {cohort.name!r} has none "
                            f"(a tabular dataset, or an imaging cohort whose DICOM tree is missing)")


def _run_batch(items: list[tuple[str, Path]], directory: Path, salt: str, extractor: Extractor):
    """Load a batch of cases, extract those not cached, store them: [(pid, path, digest, CaseFeatures)]."""
    cache = CaseCache(directory, salt)
    loaded = []
    for patient_id, case_path in items:
        try:
            case = PreparedCase.load(case_path)
        except Exception as error:
            raise ArtefactError(f"{patient_id}: cannot read prepared case {case_path}: {error}") from error
        loaded.append((patient_id, case_path, case, case_digest(case)))
    todo = [entry for entry in loaded if not cache.path(entry[0], entry[3]).exists()]
    computed = dict(zip((entry[0] for entry in todo), extractor([entry[2] for entry in todo])))
    out = []
    for patient_id, case_path, _, digest in loaded:
        target = cache.path(patient_id, digest)
        if patient_id in computed:
            atomic_write_text(target, computed[patient_id].to_json())
            out.append((patient_id, case_path, digest, computed[patient_id]))
        else:
            out.append((patient_id, case_path, digest, CaseFeatures.from_json(target.read_text())))
    return out


def build_table(cohort, directory: Path, salt: str, extractor: Extractor, source: str, n_jobs: int = 1,
                batch_size: int = 1, notes: Sequence[str] = (), worker_setup: Callable[[], None] | None = None,
                ) -> FeatureTable:
    """Features of every imaged patient of the cohort, from cache where possible (see module doc)."""
    require_images(cohort, source)
    ids = [pid for pid in cohort.patient_ids if pid in cohort.images]
    missing = [pid for pid in cohort.patient_ids if pid not in cohort.images]
    if missing:
        raise ArtefactError(f"{source}: no prepared images for {len(missing)} patient(s): {', '.join(missing[:5])}")
    cache = CaseCache(directory, salt)
    results: dict[str, CaseFeatures] = {}
    pending = []
    for pid in ids:
        digest = cache.known_digest(cohort.images[pid])
        target = cache.path(pid, digest) if digest else None
        if target is not None and target.exists():
            results[pid] = CaseFeatures.from_json(target.read_text())
        else:
            pending.append((pid, Path(cohort.images[pid])))
    batches = [pending[i:i + batch_size] for i in range(0, len(pending), batch_size)]
    with bar(total=len(pending), desc=f"{source} features", unit="patient") as extracted:
        for batch in _map_batches(batches, directory, salt, extractor, n_jobs, worker_setup):
            for pid, case_path, digest, features in batch:
                cache.remember(case_path, digest)
                results[pid] = features
            extracted.update(len(batch))
    if pending:
        cache.save_index()
    return assemble(source, ids, results, notes)


def _map_batches(batches, directory, salt, extractor, n_jobs, worker_setup):
    if n_jobs == 1 or len(batches) <= 1:
        for batch in batches:
            yield _run_batch(batch, directory, salt, extractor)
        return

    def run(batch):
        if worker_setup is not None:
            worker_setup()
        return _run_batch(batch, directory, salt, extractor)

    from joblib import Parallel, delayed
    yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(run)(b) for b in batches)


def assemble(source: str, ids: Sequence[str], results: dict[str, CaseFeatures], notes: Sequence[str] = ()
             ) -> FeatureTable:
    """The FeatureTable of these patients; every node gets every feature name (NaN where not computed)."""
    names = list(dict.fromkeys(name for pid in ids for name in results[pid].names))
    if not names:
        raise ArtefactError(f"{source}: no feature could be computed for any node of any patient")
    blocks = []
    for pid in ids:
        case = results[pid]
        row = np.full((len(NODE_COLUMNS), len(names)), np.nan)
        position = [names.index(name) for name in case.names]
        for i, node in enumerate(NODE_COLUMNS):
            if case.values.get(node) is not None:
                row[i, position] = case.values[node]
        blocks.append(row.ravel())
    columns = pd.MultiIndex.from_product([NODE_COLUMNS, names], names=["node", "feature"])
    values = pd.DataFrame(np.vstack(blocks), index=pd.Index(ids, name="patient_id"), columns=columns)
    present = pd.DataFrame([[bool(results[pid].present[node]) for node in NODE_COLUMNS] for pid in ids],
                           index=values.index, columns=list(NODE_COLUMNS))
    return FeatureTable(source, values, present, [*notes, *_reason_notes(ids, results)])


def _reason_notes(ids, results: dict[str, CaseFeatures]) -> list[str]:
    """One note per (node, reason): which patients have NaN features there and why."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for pid in ids:
        for node, reason in results[pid].reasons.items():
            grouped.setdefault((node, reason), []).append(pid)
    notes = []
    for (node, reason), pids in sorted(grouped.items()):
        shown = ", ".join(pids[:10]) + (f", ... ({len(pids)} in all)" if len(pids) > 10 else "")
        notes.append(f"{node}: NaN features ({reason}) for {shown}")
    return notes
