"""pyradiomics features per graph node: the five anatomical masks and the whole liver (ct_global).

Settings live in `radiomics.yaml` next to this file (image types, feature classes, bin width,
resampling, each choice explained there). The features are computed on the case's texture grid as it is, not
resampled again: isotropic 2 mm (`prepare.TEXTURE_SPACING_MM`) when the CT's pixels were finer than that, so
millimetre-scale texture and small lesions keep their voxels, else the CT's own voxels, so no interpolation
blurs a texture at the voxel scale. A case without a texture grid is read on its 4 mm prepared grid. A node whose mask
is empty, one voxel, or too thin for 3D features gets NaN features and the reason, in the table's notes; it
never stops the run.
Results are cached per patient under (case content, YAML, pyradiomics version); see
`benchmark.features.node_features`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from benchmark.data.imaging.prepared import Grid, PreparedCase
from benchmark.features import artefacts
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable
from benchmark.features.node_features import CaseFeatures, build_table, mask_problem, node_masks
from benchmark.files import file_digest

PARAMS = Path(__file__).with_name("radiomics.yaml")
#: Bump when the extraction code changes what it stores, so caches from older code are not reused.
CODE_VERSION = 3


def quiet_radiomics() -> None:
    """pyradiomics logs every extraction at INFO and warns per feature class; keep errors only."""
    import radiomics
    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)


@lru_cache(maxsize=4)
def extractor(params: Path = PARAMS, resample: bool = True):
    """The extractor of `params`; `resample=False` reads the image on its own grid (no resampledPixelSpacing)."""
    from radiomics import featureextractor
    quiet_radiomics()
    configured = featureextractor.RadiomicsFeatureExtractor(str(params))
    if not resample:
        configured.settings["resampledPixelSpacing"] = None
    return configured


def to_images(volume: np.ndarray, mask: np.ndarray, spacing, origin) -> tuple[sitk.Image, sitk.Image]:
    """(z, y, x) arrays -> SimpleITK image and label map on the same grid (SimpleITK is x, y, z)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in reversed(spacing)))
    image.SetOrigin(tuple(float(o) for o in origin))
    label = sitk.GetImageFromArray(np.ascontiguousarray(mask, dtype=np.uint8))
    label.CopyInformation(image)
    return image, label


def node_radiomics(grid: PreparedCase | Grid, mask: np.ndarray, params: Path = PARAMS, resample: bool = True
                   ) -> tuple[dict[str, float] | None, str | None]:
    """(feature name -> value, None) for one mask on a grid (the case's, or its texture grid with resample=False),
    or (None, reason) when undefined."""
    problem = mask_problem(mask)
    if problem:
        return None, problem
    image, label = to_images(grid.volume, mask, grid.spacing, grid.origin)
    try:
        result = extractor(params, resample).execute(image, label, label=1)
    except (ValueError, RuntimeError) as error:  # pyradiomics' verdict on a degenerate ROI
        return None, f"pyradiomics: {str(error).splitlines()[0]}"
    return {key: _real(value) for key, value in result.items() if not key.startswith("diagnostics_")}, None


def _real(value) -> float:
    """A feature value as float; pyradiomics returns a complex number where a feature is undefined
    (e.g. elongation of a degenerate shape): NaN, not its real part."""
    value = np.asarray(value).item()
    return float("nan") if isinstance(value, complex) and value.imag != 0 else float(np.real(value))


def extract_cases(cases: Sequence[PreparedCase], params: Path = PARAMS) -> list[CaseFeatures]:
    out = []
    for case in cases:
        grid, resample = (case, True) if case.texture is None else (case.texture, False)
        masks = node_masks(grid)
        features, reasons = {}, {}
        for node in NODE_COLUMNS:
            if node == "ct_global" and np.array_equal(masks[node], masks["liver"]):
                features[node], reason = features["liver"], reasons.get("liver")
            else:
                features[node], reason = node_radiomics(grid, masks[node], params, resample)
            if reason:
                reasons[node] = reason
        names = next((list(f) for f in features.values() if f is not None), [])
        values = {node: None if f is None else [f[name] for name in names] for node, f in features.items()}
        out.append(CaseFeatures(names, values, reasons, {n: bool(masks[n].any()) for n in NODE_COLUMNS}))
    return out


def cache_salt(params: Path = PARAMS) -> str:
    import radiomics
    return f"radiomics-{radiomics.__version__}-code{CODE_VERSION}-{file_digest(Path(params))}"


def radiomics_table(cohort, cache_dir: Path, n_jobs: int = 1) -> FeatureTable:
    """Radiomics FeatureTable of every patient of an imaging cohort, `n_jobs` patients at a time."""
    return build_table(cohort, Path(cache_dir) / "radiomics", cache_salt(), extract_cases, "radiomics",
                       n_jobs=n_jobs, worker_setup=quiet_radiomics)


@artefacts.provider("radiomics")
def _provide(cohort, cache_dir: Path, inputs: dict, context: artefacts.BuildContext) -> FeatureTable:
    return radiomics_table(cohort, cache_dir, context.n_jobs)
