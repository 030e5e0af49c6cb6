"""The scenario-inputs study: its R² finds a signal the inputs hold and none they lack, is measured on rows
no learner saw, says why a flat target has none, and its tables and family inputs are what they claim."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsRegressor
from stg_fakes import fake_features, fake_geometry

from benchmark import cli
from benchmark.data import clinical
from benchmark.data.cohort import Cohort
from benchmark.data.imaging.morphometry import LESION_COLUMNS, MORPHOMETRY_COLUMNS
from benchmark.data.imaging.prepared import NODE_NAMES
from benchmark.features import artefacts, graphs
from benchmark.harness import inputs_study
from benchmark.harness.inputs_study import Family

N = 150


def frame(values: np.ndarray, prefix: str) -> pd.DataFrame:
    ids = pd.Index([f"P{i:03d}" for i in range(len(values))], name="patient_id")
    return pd.DataFrame(values, index=ids, columns=[f"{prefix}{j}" for j in range(values.shape[1])])


@pytest.fixture(scope="module")
def signal_and_noise():
    """A family holding the target's generating columns, one of unrelated noise, and the target."""
    rng = np.random.default_rng(0)
    signal = frame(rng.normal(size=(N, 4)), "signal")
    noise = frame(rng.normal(size=(N, 20)), "noise")
    target = pd.Series(signal.to_numpy() @ np.array([1.0, -0.5, 0.3, 0.8]), index=signal.index)
    return Family("signal", signal), Family("noise", noise), target


def test_the_columns_that_generate_the_target_linearly_explain_nearly_all_of_it(signal_and_noise):
    signal, _, target = signal_and_noise
    scored = inputs_study.scores([signal], target)
    assert scored["ridge"] > 0.97
    assert scored["explained"] == max(scored["ridge"], scored["boosting"])
    assert scored["note"] == ""


def test_noise_columns_explain_next_to_nothing(signal_and_noise):
    _, noise, target = signal_and_noise
    scored = inputs_study.scores([noise], target)
    assert abs(scored["explained"]) < 0.1
    assert scored["ridge"] < 0.1 and scored["boosting"] < 0.1


def test_a_target_without_variance_has_no_r2_and_says_why(signal_and_noise):
    signal, _, target = signal_and_noise
    scored = inputs_study.scores([signal], pd.Series(0.0, index=target.index))
    assert np.isnan(scored["ridge"]) and np.isnan(scored["boosting"]) and np.isnan(scored["explained"])
    assert scored["note"] == inputs_study.NOTHING_TO_EXPLAIN


def test_every_prediction_comes_from_a_fit_without_its_row():
    """A one-nearest-neighbour learner on a patient id column recalls the target exactly (R² 1) for a row it
    was fitted on, and only a neighbour's unrelated value for any other row (R² about -1)."""
    rng = np.random.default_rng(1)
    ids = Family("ids", frame(np.arange(N, dtype=float)[:, None], "id"))
    target = pd.Series(rng.normal(size=N), index=ids.table.index)
    scored = inputs_study.scores([ids], target, learners={"recall": KNeighborsRegressor(n_neighbors=1)})
    assert scored["recall"] < 0


def test_the_markdown_has_one_row_per_scenario_and_the_null_row_says_why(signal_and_noise, tmp_path):
    signal, noise, target = signal_and_noise
    targets = {scenario: target * (scenario != "null") for scenario in inputs_study.SCENARIOS}
    table = inputs_study.score_table([signal, noise], targets).assign(dataset="fake", patients=N)
    inputs_study.write_tables(table, tmp_path)
    lines = (tmp_path / "tables" / f"{inputs_study.TABLE}.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| ")][1:]   # the header row aside
    assert [row.split("|")[1].strip() for row in rows] == list(inputs_study.SCENARIOS)
    assert inputs_study.NOTHING_TO_EXPLAIN in rows[-1] and "—" in rows[-1]
    written = pd.read_csv(tmp_path / "tables" / f"{inputs_study.TABLE}.csv")
    assert len(written) == len(inputs_study.SCENARIOS) * 3   # each family, then both together
    assert written.set_index(["scenario", "family"]).loc[("mixed", "signal"), "explained"] > 0.97


@pytest.fixture(scope="module")
def imaged_cohort():
    """Four patients with a clinical table and the imaging artefacts the families read: 2, 0, 1 and 3 lesions."""
    ids = [f"CRLM-CT-{1001 + i}" for i in range(4)]
    rng = np.random.default_rng(2)
    table = pd.DataFrame(rng.integers(0, 2, size=(4, len(clinical.PREOPERATIVE_FEATURES))).astype(float),
                         index=pd.Index(ids, name="patient_id"), columns=clinical.PREOPERATIVE_FEATURES)
    outcome = pd.DataFrame({"time": [10.0, 20.0, 30.0, 40.0], "event": [1, 0, 1, 0]}, index=table.index)
    cohort = Cohort("inputs-test", table, {"dfs": outcome}, {"preoperative": clinical.PREOPERATIVE_FEATURES})
    geometry = fake_geometry(ids)
    counts = {ids[0]: 2, ids[2]: 1, ids[3]: 3}
    lesions = pd.DataFrame(
        [{"segment": k, "volume_ml": 1.0 + k, "centroid_z_mm": 10.0 * k, "centroid_y_mm": 0.0, "centroid_x_mm": 5.0,
          "portal_mm": 4.0 * k, "hepatic_mm": 0.0, "in_remnant": k % 2,
          "lobe_side": 1.0 - 2 * (k % 2)}
         for pid, count in counts.items() for k in range(count)],
        index=pd.Index([pid for pid, count in counts.items() for _ in range(count)], name="patient_id"))[LESION_COLUMNS]
    cohort.artefacts.update(geometry=geometry, radiomics=fake_features(geometry), lesions=lesions,
                            morphometry=pd.DataFrame(1.0, index=table.index, columns=MORPHOMETRY_COLUMNS))
    cohort.artefacts["graphs_radiomics_lesions"] = graphs.build(ids, cohort.artefacts["radiomics"], geometry, lesions)
    return cohort


def test_the_graph_summary_counts_and_reduces_each_patients_nodes_and_edges(imaged_cohort):
    summary = inputs_study.graph_summary(imaged_cohort.artefacts["graphs_radiomics_lesions"])
    first, without, _, last = imaged_cohort.patient_ids
    assert summary["lesion:count"].tolist() == [2, 0, 1, 3]
    assert summary.loc[first, "lesion:log_volume:sum"] == pytest.approx(np.log(1.0) + np.log(2.0))
    assert summary.loc[last, "lesion:log_volume:max"] == pytest.approx(np.log(3.0))
    assert summary.loc[last, "lesion_lesion:count"] == 6                    # every ordered pair of 3 lesions
    assert np.isnan(summary.loc[without, "lesion:log_volume:mean"])        # no lesion: missing, imputed later
    assert (summary["anatomy:count"] == len(NODE_NAMES)).all()
    assert summary.loc[first, "anatomy:present:sum"] == len(NODE_NAMES)


def test_the_families_read_their_methods_inputs_without_the_clinical_columns(imaged_cohort):
    configured = inputs_study.family_methods()
    assert set(inputs_study.needed_artefacts(configured)) >= {"morphometry", "radiomics", "graphs_radiomics_lesions"}
    families = inputs_study.family_tables(imaged_cohort, configured, artefacts.BuildContext())
    assert [family.name for family in families] == list(inputs_study.FAMILY_METHODS)
    tables = {family.name: family.table for family in families}
    assert list(tables["clinical"].columns) == clinical.PREOPERATIVE_FEATURES
    for name in ("morphometry", "radiomics", "lesion graph"):
        assert not set(tables[name].columns) & set(clinical.PREOPERATIVE_FEATURES)
        assert tables[name].index.equals(imaged_cohort.clinical.index)
    assert all(column.startswith("morphometry:") for column in tables["morphometry"].columns)


def test_the_command_refuses_a_cohort_without_a_true_log_hazard(capsys):
    assert cli.main(["inputs", "-d", "gbsg2", "--no-progress"]) == 2
    assert "only synthetic cohorts have a true log-hazard" in capsys.readouterr().err
