"""The regression guard fails on a broken method and names it; the smoke test catches bad outputs."""
import json

import numpy as np
import pytest

from baselines.coxph import CoxPH
from benchmark import cli, methods
from benchmark.harness import check
from benchmark.methods import Method, Registered, survival_prediction
from benchmark.scoring.metrics import Prediction


class Rising(Method):
    """Breaks the Prediction contract: its survival curves increase."""

    name = "rising"

    def fit(self, data):
        return self

    def predict(self, data):
        n = len(data)
        return Prediction(np.zeros(n), np.tile(np.linspace(0.2, 0.9, len(data.time_grid)), (n, 1)), np.ones(n))

    def n_params(self):
        return 0


class Unseeded(Rising):
    """Ignores data.seed: two fits give different risks."""

    name = "unseeded"

    def predict(self, data):
        risk = np.random.default_rng().normal(size=len(data))
        return survival_prediction(risk, np.ones((len(data), len(data.time_grid))), data)


@pytest.fixture
def registry(monkeypatch):
    """A registry of the named methods only, on a fast tabular CI profile."""
    monkeypatch.setattr(check, "PROFILES", [{**check.PROFILES[0], "dataset": "veterans"}])

    def use(*classes):
        monkeypatch.setattr(methods, "_REGISTRY", {c.name: Registered(c.name, c, c.__module__) for c in classes})
    return use


def run_check(tmp_path, capsys, update=False):
    # -j 1: the tests patch methods in this process, which worker processes would not see
    status = cli.main(["check", "-j", "1", "--reference", str(tmp_path / "ci.json"),
                       "--data-dir", str(tmp_path / "data")] + (["--update", "--reason", "test"] if update else []))
    return status, capsys.readouterr().out


def test_a_method_whose_risk_sign_flips_fails_the_check_by_name(tmp_path, capsys, monkeypatch, registry):
    registry(CoxPH, methods.get("rsf"))
    monkeypatch.setattr(methods.get("rsf"), "ci_params", {"n_estimators": 20}, raising=False)
    assert run_check(tmp_path, capsys, update=True)[0] == 0
    reference = json.loads((tmp_path / "ci.json").read_text())
    kinds = {name: entry["kind"] for name, entry in reference["methods"].items()}
    assert kinds == {"coxph": "deterministic", "rsf": "stochastic"}
    assert reference["deterministic_tolerance"] == 1e-6
    rsf = reference["methods"]["rsf"]
    assert set(rsf["tolerances"]) == {*check.COMPARED_METRICS, "n_params"}, "a forest's node count moves with its seed"
    assert rsf["model_seeds"] == check.REFERENCE_SEEDS and all(t >= 0.005 for t in rsf["tolerances"].values())
    status, out = run_check(tmp_path, capsys)
    assert status == 0 and "check passed" in out

    predict = CoxPH.predict_survival
    monkeypatch.setattr(CoxPH, "predict_survival", lambda self, data: (-predict(self, data)[0], predict(self, data)[1]))
    status, out = run_check(tmp_path, capsys)
    print(out)
    assert status == 1
    assert "check FAILED for: coxph" in out
    moved = [line for line in out.splitlines() if line.startswith("coxph") and "MOVED (worse)" in line]
    assert any("cindex_harrell" in line for line in moved)


def test_errors_and_methods_missing_from_the_reference_fail(tmp_path, capsys, registry):
    registry(CoxPH)
    run_check(tmp_path, capsys, update=True)
    registry(CoxPH, Rising)
    status, out = run_check(tmp_path, capsys)
    assert status == 1 and "check FAILED for: rising" in out and "survival curve increases" in out
    assert run_check(tmp_path, capsys, update=True)[0] == 1, "a reference is never written over an errored method"
    registry(CoxPH, Unseeded)
    status, out = run_check(tmp_path, capsys)
    assert status == 1 and "MISSING" in out and "check --update" in out


def test_smoke_validates_one_method(tmp_path, capsys, registry):
    registry(CoxPH, Rising, Unseeded)
    assert cli.main(["check", "-m", "coxph", "--data-dir", str(tmp_path)]) == 0
    assert "coxph: ok" in capsys.readouterr().out
    assert cli.main(["check", "-m", "rising", "-m", "unseeded", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "rising: FAILED: ValueError: invalid prediction: survival curve increases" in out
    assert "unseeded: FAILED: two fits with the same seed differ" in out


def test_the_real_cohort_profile_guards_the_clinical_methods_per_endpoint(tmp_path, capsys, monkeypatch, registry):
    assert check.REAL_PROFILE["dataset"] == "mskcc-crlm"
    registry(CoxPH, methods.get("oracle"))
    monkeypatch.setattr(check, "PROFILES", [*check.PROFILES, check.REAL_PROFILE])
    assert run_check(tmp_path, capsys, update=True)[0] == 0
    entries = json.loads((tmp_path / "ci.json").read_text())["methods"]
    assert set(entries) == {"coxph", "oracle", "coxph @ mskcc-crlm/os", "coxph @ mskcc-crlm/dfs"}
    assert entries["oracle"]["status"] == "not applicable"
    assert 0.5 < entries["coxph @ mskcc-crlm/dfs"]["metrics"]["cindex_harrell"] < 0.7
