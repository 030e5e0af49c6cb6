"""Datasets are plug-ins: one file per kind, found by the registry, each keeping the Cohort contract."""
from dataclasses import dataclass

import pandas as pd
import pytest

from benchmark import cli, datasets
from benchmark.data.cohort import Cohort
from benchmark.datasets.synthetic import SyntheticCrlm


def test_every_kind_parses_names_itself_and_is_found_again_by_name(tmp_path):
    for spec in ["mskcc-crlm", "crlm-synthetic", "crlm-synthetic:n=60,seed=2,size=real", "gbsg2", "veterans"]:
        dataset = datasets.parse_spec(spec)
        assert datasets.from_name(dataset.name) == dataset
        assert datasets.parse_spec(dataset.spec) == dataset
    tcia = datasets.parse_spec(f"tcia:{tmp_path}")
    assert tcia.name == "tcia" and datasets.from_name("tcia") is None and tcia.present(tmp_path)
    assert datasets.parse_spec("crlm-synthetic").spec == "crlm-synthetic"
    assert not SyntheticCrlm(12).present(tmp_path)


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuch", "unknown dataset 'nosuch' (choose from mskcc-crlm, crlm-synthetic"),
    ("tcia", "needs a path"),
    ("crlm-synthetic:m=3", "unknown option 'm'"),
    ("mskcc-crlm:x", "takes no options"),
])
def test_bad_specs_name_what_is_wrong(spec, message):
    with pytest.raises(datasets.DatasetError, match=message.replace("(", r"\(")):
        datasets.parse_spec(spec)


@dataclass(frozen=True)
class Broken(datasets.Dataset):
    """A dataset whose outcomes do not match its patients."""

    kinds = ("broken",)
    usage = "broken"
    description = "breaks the contract"

    @classmethod
    def parse(cls, kind, argument):
        return cls()

    @property
    def name(self):
        return "broken"

    def load(self, data_dir, n_jobs=1):
        table = pd.DataFrame({"age": [60.0, 70.0]}, index=pd.Index(["a", "b"], name="patient_id"))
        outcome = pd.DataFrame({"time": [5.0, -1.0], "event": [0, 0]}, index=["a", "c"])
        return Cohort("broken", table, {"os": outcome}, {"clinical": ["age", "bmi"]}, primary_endpoint="os")


def test_check_d_passes_a_real_dataset_and_names_what_a_broken_one_breaks(monkeypatch, capsys, tmp_path):
    assert cli.main(["check", "-d", "mskcc-crlm", "--data-dir", str(tmp_path)]) == 0
    assert "mskcc-crlm: ok: mskcc-crlm, 197 patients" in capsys.readouterr().out
    monkeypatch.setattr(datasets, "_REGISTRY", {**datasets.registry(), "broken": Broken})
    assert cli.main(["check", "-d", "broken", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    for problem in ("outcome patients differ", "times must be finite", "at least one event", "['bmi'] absent"):
        assert problem in out
    assert cli.main(["list"]) == 0 and "broken" in capsys.readouterr().out
