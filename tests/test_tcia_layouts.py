"""A TCIA download in every shape users have it: the same patients found in each, never "0 patients".

Each test writes its own tiny tree: two patients with CT + SEG (CRLM-CT-1001 supine, CRLM-CT-1002
prone) and a clinical table listing a third, CRLM-CT-1003, who has no images.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from tcia_fakes import SEED, prone_case, supine_case, write_patient

from benchmark import cli, datasets
from benchmark.data import clinical, synthetic
from benchmark.data.imaging import discovery, prepare, writer
from benchmark.data.imaging.prepared import PreparedCase

IMAGED = ["CRLM-CT-1001", "CRLM-CT-1002"]
LISTED = [*IMAGED, "CRLM-CT-1003"]
SPACED_NAME = "Colorectal Liver Metastases Clinical data April 2023.xlsx"
METADATA_COLUMNS = ["Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID",
                    "Study UID", "Study Description", "Study Date", "Series Description", "Manufacturer",
                    "Modality", "SOP Class Name", "SOP Class UID", "Number of Images", "File Size",
                    "File Location", "Download Timestamp"]


def write_table(path: Path, ids=LISTED) -> None:
    """The clinical table for `ids`: the release xlsx, or its CSV export when `path` ends in .csv."""
    table = synthetic.generate(10, seed=1).clinical.loc[ids]
    if path.suffix == ".csv":
        table.reset_index().to_csv(path, index=False)
    else:
        clinical.write_clinical_xlsx(table, path)


def write_collection(root: Path) -> Path:
    """The two imaged patients under ``root/Colorectal-Liver-Metastases`` (the NBIA retriever's layout)."""
    write_patient(root, "CRLM-CT-1001", supine_case())
    write_patient(root, "CRLM-CT-1002", prone_case())
    return root / writer.COLLECTION


def series_folders(collection: Path) -> list[Path]:
    return sorted({path.parent for path in collection.rglob("*.dcm")})


def write_metadata(manifest: Path, extra_rows=()) -> None:
    """NBIA's metadata.csv for every series under the manifest folder, locations relative to it."""
    with open(manifest / discovery.METADATA_NAME, "w", newline="") as stream:
        out = csv.DictWriter(stream, METADATA_COLUMNS, restval="")
        out.writeheader()
        for folder in series_folders(manifest / writer.COLLECTION):
            ds = pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
            out.writerow({"Series UID": ds.SeriesInstanceUID, "Collection": writer.COLLECTION,
                          "Subject ID": ds.PatientID, "Study UID": ds.StudyInstanceUID, "Modality": ds.Modality,
                          "Number of Images": len(list(folder.glob("*.dcm"))),
                          "File Location": f"./{folder.relative_to(manifest).as_posix()}/"})
        for row in extra_rows:
            out.writerow(row)


def readme_layout(tmp: Path) -> Path:
    """PATH/Colorectal-Liver-Metastases/<patient>/<study>/<series>, the release xlsx beside the collection."""
    write_collection(tmp)
    write_table(tmp / clinical.CLINICAL_FILENAME)
    return tmp


def collection_layout(tmp: Path) -> Path:
    """PATH is the collection folder, patients directly in it, the table (spaces in its name) inside."""
    collection = write_collection(tmp)
    write_table(collection / SPACED_NAME)
    return collection


def manifest_layout(tmp: Path) -> Path:
    """PATH/manifest-123/Colorectal-Liver-Metastases/<patient>/... with manifest-123/metadata.csv, which
    also lists a series of CRLM-CT-1003 that was never downloaded; the table and manifest.tcia in PATH."""
    path = tmp / writer.COLLECTION
    manifest = path / "manifest-1669817128730"
    write_collection(manifest)
    write_metadata(manifest, [{"Series UID": "1.2.3", "Subject ID": "CRLM-CT-1003", "Modality": "CT",
                               "File Location": "./Colorectal-Liver-Metastases/CRLM-CT-1003/x/y/"}])
    (path / "Colorectal Liver Metastases November 2022 manifest.tcia").write_text("downloadServerUrl=...\n")
    write_table(path / SPACED_NAME)
    return path


def nbiatoolkit_layout(tmp: Path) -> Path:
    """<folder>/<StudyInstanceUID>/<SeriesInstanceUID>/<n>.dcm with folders named by no CRLM id (the
    patients are known by their DICOM PatientID only); the table as its CSV export."""
    path = tmp / "download"
    for folder in series_folders(write_collection(tmp / "written")):
        files = sorted(folder.glob("*.dcm"))
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        target = path / f"subject-{ds.PatientID[-1]}" / ds.StudyInstanceUID / ds.SeriesInstanceUID
        target.mkdir(parents=True)
        for k, file in enumerate(files):
            shutil.move(file, target / f"{k + 1}.dcm")
    write_table(path / "Colorectal-Liver-Metastases-Clinical-data-April-2023.csv")
    return path


def localiser_layout(tmp: Path) -> Path:
    """The README layout plus, beside CRLM-CT-1001's portal-venous CT, a two-slice CT localiser
    (ImageType LOCALIZER) and a structured report (another Modality), neither referenced by the SEG."""
    path = readme_layout(tmp)
    hu, geometry, _ = supine_case()
    scout = writer.ct_slices(hu[:2], geometry, "CRLM-CT-1001", SEED, series_number=1)
    study = writer.study_directory(path, "CRLM-CT-1001", scout[0].StudyInstanceUID)
    for number, description, datasets_ in ((1, "SCOUT", scout), (5, "REPORT", scout[:1])):
        folder = writer.series_directory(study, number, description, writer.uid(number, "series"))
        folder.mkdir()
        for k, ds in enumerate(datasets_):
            ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
            if number == 5:
                ds.Modality, ds.SeriesInstanceUID = "SR", writer.uid("report")
            ds.save_as(folder / f"1-{k + 1}.dcm", enforce_file_format=True)
    return path


LAYOUTS = {"readme": readme_layout, "collection folder": collection_layout, "manifest": manifest_layout,
           "nbiatoolkit": nbiatoolkit_layout, "localiser": localiser_layout}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_same_patients(layout, tmp_path, capsys):
    path = LAYOUTS[layout](tmp_path / "tree")
    data_dir = tmp_path / "data"
    assert cli.main(["prepare", "--data", f"tcia:{path}", "--data-dir", str(data_dir), "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "tcia: 2 patient(s) with prepared images, 1 excluded" in out
    assert "images for 2 of the 3 patients of the clinical table" in out
    assert "excluded CRLM-CT-1003: no images in the download" in out
    cohort = datasets.load(f"tcia:{path}", data_dir)   # what `run` loads: the same patients
    assert sorted(cohort.images) == IMAGED and list(cohort.excluded) == ["CRLM-CT-1003"]
    assert PreparedCase.load(cohort.images["CRLM-CT-1002"]).patient_id == "CRLM-CT-1002"


@pytest.mark.parametrize(("layout", "table", "patients"), [
    ("readme", clinical.CLINICAL_FILENAME, f"2 folder(s) in {writer.COLLECTION}"),
    ("collection folder", SPACED_NAME, "2 folder(s) in ."),
    ("manifest", SPACED_NAME, "2 listed in manifest-1669817128730/metadata.csv"),
    ("nbiatoolkit", "Colorectal-Liver-Metastases-Clinical-data-April-2023.csv", "2 folder(s) in ."),
])
def test_the_description_says_which_files_were_used(layout, table, patients, tmp_path):
    found = discovery.discover(LAYOUTS[layout](tmp_path))
    assert found.describe() == f"clinical table {table}; patients: {patients}"
    assert sorted(found.patients) == IMAGED


def test_metadata_csv_maps_series_without_opening_a_file(tmp_path, monkeypatch):
    path = manifest_layout(tmp_path)
    monkeypatch.setattr(pydicom, "dcmread", lambda *a, **k: pytest.fail("a DICOM file was opened"))
    found = discovery.discover(path)
    ct, seg = found.patients["CRLM-CT-1001"].series
    assert (ct.modality, seg.modality) == ("CT", "SEG") and ct.directory.name.startswith("2.000000-")
    assert found.patients["CRLM-CT-1001"].directory.name == "CRLM-CT-1001"


def test_metadata_csv_with_windows_separators(tmp_path):
    path = manifest_layout(tmp_path)
    metadata = path / "manifest-1669817128730" / discovery.METADATA_NAME
    metadata.write_text(metadata.read_text().replace("/CRLM", "\\CRLM").replace("./Colorectal", ".\\Colorectal"))
    assert sorted(discovery.discover(path).patients) == IMAGED


def test_nbiatoolkit_patients_are_known_by_their_dicom_patient_id(tmp_path):
    found = discovery.discover(nbiatoolkit_layout(tmp_path))
    assert {pid: p.directory.name for pid, p in found.patients.items()} == {
        "CRLM-CT-1001": "subject-1", "CRLM-CT-1002": "subject-2"}


@pytest.mark.parametrize(("names", "chosen"), [
    (["notes.csv", "Colorectal Liver Metastases Clinical data April 2023.xlsx"],
     "Colorectal Liver Metastases Clinical data April 2023.xlsx"),
    (["sub/Colorectal-Liver-Metastases-Clinical-data-April-2023.csv", "old clinical export.xlsx"],
     "sub/Colorectal-Liver-Metastases-Clinical-data-April-2023.csv"),
    (["a/b/clinical.csv", "a/b/clinical.xlsx", "metadata.csv"], "a/b/clinical.xlsx"),
])
def test_clinical_table_search_prefers_the_release_name_then_xlsx(names, chosen, tmp_path):
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert discovery.find_clinical_file(tmp_path) == tmp_path / chosen


def test_clinical_table_beside_the_collection_folder_passed(tmp_path):
    collection = write_collection(tmp_path)
    write_table(tmp_path / clinical.CLINICAL_FILENAME)
    found = discovery.discover(collection)
    assert found.clinical_file == tmp_path / clinical.CLINICAL_FILENAME
    assert found.describe().startswith(f"clinical table ../{clinical.CLINICAL_FILENAME};")


def empty_folder(tmp: Path) -> Path:
    tmp.mkdir()
    return tmp


def folders_without_dicom(tmp: Path) -> Path:
    (tmp / writer.COLLECTION / "CRLM-CT-1001" / "study" / "series").mkdir(parents=True)
    write_table(tmp / clinical.CLINICAL_FILENAME)
    return tmp


def no_clinical_table(tmp: Path) -> Path:
    write_collection(tmp)
    return tmp


@pytest.mark.parametrize(("make", "problem"), [
    (lambda tmp: tmp / "nowhere", "not a folder"),
    (empty_folder, "no patient folder"),
    (folders_without_dicom, "1 patient folder(s) but no DICOM file"),
    (no_clinical_table, "no clinical table"),
])
@pytest.mark.parametrize("command", [["prepare"], ["run", "-m", "coxph", "--no-progress"]])
def test_a_wrong_path_exits_2_with_the_expected_layout_in_one_line(make, problem, command, tmp_path, capsys):
    path = make(tmp_path / "tree")
    output = tmp_path / "results"
    assert cli.main([*command, "--data", f"tcia:{path}", "--data-dir", str(tmp_path / "data"),
                     *(["--output", str(output)] if command[0] == "run" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {path}: {problem}")
    assert err.endswith(discovery.EXPECTED_LAYOUT)


def test_a_patient_in_two_downloads_is_named_not_guessed(tmp_path):
    write_collection(tmp_path / "manifest-1")
    write_collection(tmp_path / "manifest-2")
    with pytest.raises(discovery.DownloadError, match="CRLM-CT-1001 is in two folders"):
        discovery.discover(tmp_path)


@pytest.fixture(scope="module")
def thick(tmp_path_factory):
    """CRLM-CT-1001 with 3 mm slices, CRLM-CT-1002 with 7.5 mm slices."""
    root = tmp_path_factory.mktemp("thick")
    write_patient(root, "CRLM-CT-1001", supine_case())
    hu, geometry, segments = supine_case()
    geometry.spacing = (7.5, *geometry.spacing[1:])
    write_patient(root, "CRLM-CT-1002", (hu, geometry, segments))
    write_table(root / clinical.CLINICAL_FILENAME, IMAGED)
    return root


def test_slice_spacing_goes_into_the_manifest_the_case_and_the_description(thick, tmp_path):
    cohort = datasets.load(f"tcia:{thick}", tmp_path)
    assert sorted(cohort.images) == IMAGED
    manifest = pd.read_csv(prepare.manifest_path(tmp_path / "cache" / "tcia"), index_col="patient_id")
    assert manifest["slice_mm"].to_dict() == {"CRLM-CT-1001": 3.0, "CRLM-CT-1002": 7.5}
    assert PreparedCase.load(cohort.images["CRLM-CT-1002"]).ct_spacing == pytest.approx((7.5, 2.0, 2.0))
    assert cohort.description.endswith("CT slice spacing 3 mm: 1, 7.5 mm: 1")


def test_max_slice_mm_excludes_thicker_slices_with_the_reason(thick, tmp_path, capsys):
    assert cli.main(["prepare", "--data", f"tcia:{thick}", "--max-slice-mm", "5", "--data-dir", str(tmp_path),
                     "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "tcia-max-slice-5mm: 1 patient(s) with prepared images, 1 excluded" in out
    assert "excluded CRLM-CT-1002: slice spacing 7.5 mm > 5 mm" in out
    manifest = pd.read_csv(prepare.manifest_path(tmp_path / "cache" / "tcia-max-slice-5mm"), index_col="patient_id")
    assert manifest.loc["CRLM-CT-1002", "status"] == "excluded" and manifest.loc["CRLM-CT-1002", "slice_mm"] == 7.5
    cohort = datasets.load(f"tcia:{thick},max_slice_mm=5", tmp_path)
    assert list(cohort.images) == ["CRLM-CT-1001"] and cohort.excluded == {
        "CRLM-CT-1002": "slice spacing 7.5 mm > 5 mm"}


def test_max_slice_mm_is_part_of_the_spec_and_the_name(tmp_path):
    dataset = datasets.parse_spec(f"tcia:{tmp_path},max_slice_mm=7.5")
    assert (dataset.path, dataset.max_slice_mm, dataset.name) == (tmp_path, 7.5, "tcia-max-slice-7.5mm")
    assert datasets.parse_spec(dataset.spec) == dataset
    args = cli.build_parser().parse_args(["run", "--all", "--data", f"tcia:{tmp_path}", "--max-slice-mm", "5"])
    assert [dataset.spec for dataset in cli.run_config(args).datasets] == [f"tcia:{tmp_path},max_slice_mm=5"]
    for spec in (f"tcia:{tmp_path},max_slice_mm=x", f"tcia:{tmp_path},max_slice_mm=0"):
        with pytest.raises(datasets.DatasetError, match="max_slice_mm"):
            datasets.parse_spec(spec)


def test_max_slice_mm_on_a_dataset_without_ct_exits_2(tmp_path, capsys):
    assert cli.main(["run", "--all", "--max-slice-mm", "5", "--output", str(tmp_path)]) == 2
    assert "--max-slice-mm applies to a real CT download (tcia:PATH) only" in capsys.readouterr().err
