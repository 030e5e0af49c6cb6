"""In-memory node features and geometry with exactly the imaging contracts' schemas, for STG tests.

Built from the synthetic cohort's latent anatomy when the cohort has it, so the prognostic signal
the generator put into the anatomy reaches the graphs (the same signal real imaging would carry).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.data.imaging.morphometry import LESION_COLUMNS
from benchmark.data.imaging.prepared import NODE_NAMES, NODE_PAIRS, geometry_columns
from benchmark.features.feature_table import NODE_COLUMNS, FeatureTable

FEATURES = ("log_volume", "f1", "f2", "f3")


def fake_geometry(ids, truth: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(ids)
    liver = truth["liver_volume_ml"].to_numpy() if truth is not None else rng.uniform(1000, 2000, n)
    volumes = {
        "liver": liver,
        "remnant": liver * (truth["remnant_fraction"].to_numpy() if truth is not None else rng.uniform(0.2, 0.8, n)),
        "hepatic": rng.uniform(20, 40, n),
        "portal": rng.uniform(30, 50, n),
        "tumour": truth["total_tumour_volume_ml"].to_numpy() if truth is not None else rng.lognormal(2, 1, n),
    }
    table = {}
    centroids = {node: rng.normal(0, 40, (n, 3)) for node in NODE_NAMES}
    for node in NODE_NAMES:
        table[f"{node}_present"] = np.ones(n)
        table[f"{node}_volume_ml"] = volumes[node]
        for i, axis in enumerate("xyz"):
            table[f"{node}_centroid_{axis}_mm"] = centroids[node][:, i]
    near = {("portal", "tumour"): "min_dist_portal_mm", ("hepatic", "tumour"): "min_dist_hepatic_mm"}
    for a, b in NODE_PAIRS:
        if truth is not None and (a, b) in near:
            mindist = truth[near[(a, b)]].to_numpy()
        else:
            mindist = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(1, 30, n))
        table[f"mindist_{a}_{b}_mm"] = mindist
        table[f"contact_{a}_{b}"] = (mindist == 0).astype(float)
        table[f"centroid_dist_{a}_{b}_mm"] = np.linalg.norm(centroids[a] - centroids[b], axis=1)
    table["n_tumours"] = truth["n_tumours"].to_numpy() if truth is not None else rng.integers(1, 5, n)
    return pd.DataFrame(table, index=pd.Index(ids, name="patient_id"))[geometry_columns()]


def fake_features(geometry: pd.DataFrame, source: str = "radiomics", seed: int = 0) -> FeatureTable:
    rng = np.random.default_rng(seed)
    n = len(geometry)
    columns, values = [], []
    for node in NODE_COLUMNS:
        volume = geometry[f"{'liver' if node == 'ct_global' else node}_volume_ml"].to_numpy()
        for feature in FEATURES:
            columns.append((node, feature))
            values.append(np.log(volume) if feature == "log_volume" else rng.normal(0, 1, n))
    frame = pd.DataFrame(np.column_stack(values), index=geometry.index,
                         columns=pd.MultiIndex.from_tuples(columns, names=["node", "feature"]))
    present = pd.DataFrame(True, index=geometry.index, columns=list(NODE_COLUMNS))
    return FeatureTable(source, frame, present, ["fake features"])


def fake_lesions(tumours: pd.DataFrame) -> pd.DataFrame:
    """The per-lesion rows (LESION_COLUMNS) of a synthetic draw's latent tumours, as the SEG would show them."""
    table = pd.DataFrame({
        "segment": tumours["tumour_index"] - 1, "volume_ml": 4 / 3 * np.pi * tumours["radius_mm"] ** 3 / 1000,
        "centroid_z_mm": tumours["z"], "centroid_y_mm": tumours["y"], "centroid_x_mm": tumours["x"],
        "portal_mm": tumours["dist_portal_mm"], "hepatic_mm": tumours["dist_hepatic_mm"],
        "in_remnant": tumours["in_remnant"], "lobe_side": np.where(tumours["x"] >= 0, 1.0, -1.0)})
    return table.set_index(pd.Index(tumours["patient_id"], name="patient_id"))[LESION_COLUMNS].astype(float)


def remove_mask(geometry: pd.DataFrame, table: FeatureTable, pid: str, node: str) -> None:
    """Make one node's mask empty for one patient, as the imaging contracts would report it."""
    geometry.loc[pid, f"{node}_present"] = 0
    geometry.loc[pid, f"{node}_volume_ml"] = 0.0
    for a, b in NODE_PAIRS:
        if node in (a, b):
            geometry.loc[pid, [f"mindist_{a}_{b}_mm", f"centroid_dist_{a}_{b}_mm"]] = np.nan
            geometry.loc[pid, f"contact_{a}_{b}"] = 0
    table.values.loc[pid, node] = np.nan
    table.present.loc[pid, node] = False


def attach_fakes(cohort, sources=("radiomics",), seed: int = 0) -> None:
    """Put fake geometry and feature tables into the cohort's artefacts (what imaging would provide)."""
    geometry = fake_geometry(cohort.patient_ids, cohort.truth, seed)
    cohort.artefacts["geometry"] = geometry
    for source in sources:
        cohort.artefacts[source] = fake_features(geometry, source, seed)


def fake_cohort(drawn, name: str = "stg-test"):
    """A clinical-only Cohort from a synthetic draw, with fake imaging artefacts and its graphs (with and
    without lesion nodes)."""
    from benchmark.datasets.tcia import cohort_from_clinical
    from benchmark.features import graphs

    cohort = cohort_from_clinical(drawn.clinical, name, None)
    cohort.truth = drawn.patients
    attach_fakes(cohort)
    cohort.artefacts["lesions"] = fake_lesions(drawn.tumours)
    for lesions in (None, cohort.artefacts["lesions"]):
        cohort.artefacts[graphs.artefact_name("radiomics", lesions is not None)] = graphs.build(
            cohort.patient_ids, cohort.artefacts["radiomics"], cohort.artefacts["geometry"], lesions)
    return cohort
