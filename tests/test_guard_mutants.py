"""The regression guard against the project's own mutants, on the committed reference.

Each test breaks the suite the way a real change could and asserts what `benchmark check` says:
a flattering metric, a shifted C-index and leakage fail; STG losing its image input (shown other
patients' images, or its image node features zeroed) fails; a change of the model seeds (what another
CPU's rounding amounts to) passes.
They run the real CI profile for the few methods concerned (`check --only`), so they share the data
directory, and its cached cohort, with `python -m benchmark check`.
"""
from __future__ import annotations

import pytest

from baselines.coxph import CoxPH
from benchmark import cli, methods
from benchmark.features.graphs import PatientGraphs
from benchmark.methods import inputs
from benchmark.scoring import metrics, year_metrics

pytestmark = pytest.mark.slow
DATA_DIR = "data"   # the check's default: the cohort is generated once for the tests and the check


def guard(capsys, *only, jobs=1, extra=()):
    """Run the guard on the committed reference for `only` these methods: (exit status, output).
    One process (-j 1): the mutants are patched into this one."""
    status = cli.main(["check", "-j", str(jobs), "--data-dir", DATA_DIR, *extra,
                       *[arg for name in only for arg in ("--only", name)]])
    return status, capsys.readouterr().out


def moved(out: str, method: str, metric: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(method) and f" {metric} " in line
            and "MOVED" in line]


@pytest.fixture(autouse=True)
def repository_root(monkeypatch, request):
    monkeypatch.chdir(request.config.rootpath)


def test_the_unmutated_deterministic_methods_pass(capsys):
    status, out = guard(capsys, "coxph", "fong")
    assert status == 0, out
    assert "check passed" in out


def test_a_flattering_taa_window_fails_in_the_better_direction(capsys, monkeypatch):
    monkeypatch.setattr(year_metrics, "TAA_WINDOW_YEARS", 2)
    status, out = guard(capsys, "coxph")
    assert status == 1, out
    assert "check FAILED for: coxph" in out
    assert moved(out, "coxph", "taa_pm1_ipcw") and "MOVED (better)" in moved(out, "coxph", "taa_pm1_ipcw")[0]


def test_a_c_index_shifted_up_fails(capsys, monkeypatch):
    evaluate = metrics.evaluate

    def flattering(*args, **kwargs):
        values, reasons = evaluate(*args, **kwargs)
        return {**values, "cindex_harrell": values["cindex_harrell"] + 0.08}, reasons
    monkeypatch.setattr("benchmark.harness.runner.evaluate", flattering)
    status, out = guard(capsys, "coxph")
    assert status == 1 and moved(out, "coxph", "cindex_harrell"), out


def test_training_on_the_test_patients_is_refused_naming_the_fold(capsys, monkeypatch):
    fit = CoxPH.fit

    def fit_on_everyone(self, data):
        everyone = methods.FoldData(data.cohort, data.cohort.patient_ids, data.endpoint, data.feature_set,
                                    data.seed, data.context)
        return fit(self, everyone)
    monkeypatch.setattr(CoxPH, "fit", fit_on_everyone)
    status, out = guard(capsys, "coxph")
    assert status == 1
    assert "check FAILED: leakage refused" in out
    assert "/coxph r0 f0: the method read the outcomes of" in out and "test patient(s)" in out


def test_stg_shown_other_patients_images_fails(capsys, monkeypatch):
    """Lost image input: every patient's graph (node features, edge geometry, lesion count) is another
    patient's, so nothing STG sees in the images belongs to the patient it predicts."""
    batch = PatientGraphs.batch

    def someone_elses(self, ids):
        shift = {pid: self.ids[(i + len(self.ids) // 2) % len(self.ids)] for i, pid in enumerate(self.ids)}
        return batch(self, [shift[pid] for pid in ids])
    monkeypatch.setattr(PatientGraphs, "batch", someone_elses)
    status, out = guard(capsys, "stg")
    assert status == 1, out
    # which metrics cross their tolerances depends on the reference; at least one moves, and for the worse
    assert [line for line in out.splitlines() if line.startswith("stg ") and "MOVED (worse)" in line], out


def test_stg_with_its_image_node_features_zeroed_fails(capsys, monkeypatch):
    """Lost node features: the anatomy, CT and lesion nodes keep their graph (count, edge geometry) but carry
    zeros, as a broken feature extractor would leave them."""
    transform = inputs.GraphInputs.transform

    def zeroed(self, data):
        out = transform(self, data)
        for node_type in ("anatomy", "ct", "lesion"):
            if node_type in out.graph.ntypes:
                out.graph.nodes[node_type].data["h0"] = out.graph.nodes[node_type].data["h0"] * 0
        return out
    monkeypatch.setattr(inputs.GraphInputs, "transform", zeroed)
    status, out = guard(capsys, "stg")
    assert status == 1 and moved(out, "stg", "cindex_harrell"), out


def test_stg_with_other_model_seeds_passes(capsys):
    status, out = guard(capsys, "stg", jobs=2, extra=("--model-seed", "1000"))
    assert status == 0, out
