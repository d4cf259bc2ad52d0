"""Manifest validation and the adapters for the real databases, against the public test vector."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from painxai.cli import app
from painxai.data import adapters
from painxai.data import manifest as mf

#: The 645 original file names of both databases with their curators' labels (a public list; no images).
TEST_VECTOR = Path(__file__).resolve().parent / "vectors" / "icope_unifesp_filenames.csv"


def _tiny_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".bmp": "BMP", ".jpg": "JPEG"}[path.suffix.lower()]
    Image.new("RGB", (4, 3), (200, 150, 120)).save(path, format=fmt)


@pytest.fixture(scope="module")
def real_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Tiny valid images named exactly as the 645 files of the two databases."""
    if not TEST_VECTOR.is_file():
        pytest.fail(f"the test vector {TEST_VECTOR} is missing (it ships with the tests)")
    root = tmp_path_factory.mktemp("real")
    vector = pd.read_csv(TEST_VECTOR, dtype=str, keep_default_na=False)
    for relative in vector["original_path"]:
        _tiny_image(root / relative)
    return root, vector


def test_icope_adapter_reproduces_the_test_vector(real_tree, tmp_path):
    root, vector = real_tree
    out = tmp_path / "icope.csv"
    result = CliRunner().invoke(app, ["manifest", "icope", "--root", str(root / "iCOPE"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = mf.read_manifest(out)
    assert frame["subject"].nunique() == 27
    assert (frame["label"] == "pain").sum() == 76
    assert (frame["label"] == "nopain").sum() == 88
    expected = vector[(vector["dataset"] == "iCOPE") & vector["class"].isin(["pain", "nopain"])]
    got = {Path(p).name: label for p, label in zip(frame["path"], frame["label"], strict=True)}
    assert got == {Path(p).name: c for p, c in zip(expected["original_path"], expected["class"], strict=True)}
    subjects = {Path(p).name: s for p, s in zip(frame["path"], frame["subject"], strict=True)}
    assert all(subjects[Path(p).name] == s for p, s in zip(expected["original_path"], expected["subject"], strict=True))
    # The other stimuli are reported, pain_post_sucrose among them (it is not pain).
    assert "pain_post_sucrose: 3" in result.output
    assert "sucrose: 15" in result.output


def _unifesp_labels(unifesp: pd.DataFrame, column: str, values: pd.Series, path: Path) -> Path:
    """A UNIFESP labels CSV with the columns ``file`` and ``column`` (``label`` or ``nfcs``)."""
    pd.DataFrame({"file": [Path(p).name for p in unifesp["original_path"]], column: values}).to_csv(path, index=False)
    return path


def test_unifesp_adapter_reproduces_the_test_vector(real_tree, tmp_path):
    root, vector = real_tree
    unifesp = vector[vector["dataset"] == "UNIFESP"]
    labels = _unifesp_labels(unifesp, "label", unifesp["class"], tmp_path / "labels.csv")
    out = tmp_path / "unifesp.csv"
    result = CliRunner().invoke(
        app, ["manifest", "unifesp", "--root", str(root / "UNIFESP"), "--labels", str(labels), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = mf.read_manifest(out)
    assert frame["subject"].nunique() == 30
    assert (frame["label"] == "pain").sum() == 162
    assert (frame["label"] == "nopain").sum() == 195
    got = {Path(p).name: (s, label) for p, s, label in frame[["path", "subject", "label"]].itertuples(index=False)}
    for path, subject, label in unifesp[["original_path", "subject", "class"]].itertuples(index=False):
        assert got[Path(path).name] == (subject, label)


def test_unifesp_nfcs_labels_use_the_documented_threshold(real_tree, tmp_path):
    root, vector = real_tree
    unifesp = vector[vector["dataset"] == "UNIFESP"]
    labels = _unifesp_labels(unifesp, "nfcs", unifesp["nfcs"], tmp_path / "nfcs.csv")
    frame, unlabelled = adapters.unifesp_manifest(root / "UNIFESP", labels)
    assert not unlabelled
    scores = {Path(p).name: float(s) for p, s in zip(unifesp["original_path"], unifesp["nfcs"], strict=True)}
    for path, label in zip(frame["path"], frame["label"], strict=True):
        assert label == ("pain" if scores[Path(path).name] >= adapters.NFCS_PAIN_THRESHOLD else "nopain")


def test_merge_and_relative_paths(real_tree, tmp_path):
    root, _ = real_tree
    icope, _ = adapters.icope_manifest(root / "iCOPE")
    mf.write_manifest(icope, root / "icope.csv")
    text = (root / "icope.csv").read_text()
    assert "iCOPE/pilot/S04_M_pain_1.jpg" in text and str(root) not in text  # relative inside the folder
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n01_113607.bmp,nopain\n01_113538.bmp,pain\n")
    unifesp, unlabelled = adapters.unifesp_manifest(root / "UNIFESP", labels)
    assert len(unifesp) == 2 and len(unlabelled) == 355
    mf.write_manifest(unifesp, tmp_path / "unifesp.csv")
    merged = adapters.merge_manifests([root / "icope.csv", tmp_path / "unifesp.csv"])
    assert len(merged) == 164 + 2
    assert set(merged["dataset"]) == {"iCOPE", "UNIFESP"}
    with pytest.raises(mf.ManifestError, match="same image"):
        adapters.merge_manifests([root / "icope.csv", root / "icope.csv"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("S40_M_pain _1.jpg", ("S40", "pain")),
        ("S14_M_pain2.jpg", ("S14", "pain")),
        ("S04_M_succrose.jpg", ("S04", "sucrose")),
        ("S08_F_friction_2b.jpg", ("S08", "friction")),
        ("S12_F_friciton_3.jpg", ("S12", "friction")),
        ("S12_F_pain_post_sucrose_1.jpg", ("S12", "pain_post_sucrose")),
        ("S07_F_rest_1.jpg", ("S07", "rest")),
        ("notes.jpg", None),
    ],
)
def test_icope_names(name, expected):
    assert adapters.icope_stimulus(name) == expected


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"this is not an image")
    return tmp_path


HEADER = ["path", "subject", "dataset", "label", "face_box"]


def test_valid_manifest_parses_boxes(images):
    path = _write_csv(
        images / "m.csv", [HEADER, ["a.png", "s1", "d", "pain", "1 2 5 6"], ["b.png", "s2", "d", "nopain", ""]]
    )
    frame = mf.read_manifest(path)
    assert frame["face_box"].tolist() == [(1.0, 2.0, 5.0, 6.0), None]
    assert Path(frame["path"][0]).is_absolute()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["path", "subject", "label"], ["a.png", "s1", "pain"]], r"line 1.*missing column\(s\) dataset"),
        ([HEADER], "lists no images"),
        ([HEADER, ["a.png", "s1", "d", "hurts", ""]], r"line 2, column 'label': unknown label 'hurts'"),
        ([HEADER, ["missing.png", "s1", "d", "pain", ""]], r"line 2, column 'path'.*file not found"),
        ([HEADER, ["broken.png", "s1", "d", "pain", ""]], r"line 2, column 'path'.*not a readable image"),
        ([HEADER, ["a.png", "s1", "d", "pain", ""], ["a.png", "s1", "d", "pain", ""]], r"line 3, column 'path'.*dup"),
        (
            [HEADER, ["a.png", "s1", "UNIFESP", "pain", ""], ["b.png", "s1", "iCOPE", "pain", ""]],
            r"line 3, column 'subject'.*two|line 3, column 'subject'.*'UNIFESP' on line 2",
        ),
        ([HEADER, ["a.png", "s1", "d", "pain", "5 5 1 1"]], r"line 2, column 'face_box'"),
        ([HEADER, ["a.png", "s1", "d", "pain", "5 five 9 9"]], r"line 2, column 'face_box': '5 five 9 9' is not 4"),
        ([HEADER, ["a.png", "", "d", "pain", ""]], r"line 2, column 'subject': empty value"),
    ],
)
def test_bad_manifests_name_line_and_column(images, rows, message):
    path = _write_csv(images / "bad.csv", rows)
    with pytest.raises(mf.ManifestError, match=message):
        mf.read_manifest(path)


def test_missing_manifest_and_cli_error_without_traceback(images):
    with pytest.raises(mf.ManifestError, match="not found"):
        mf.read_manifest(images / "nope.csv")
    path = _write_csv(images / "bad.csv", [HEADER, ["a.png", "s1", "d", "hurts", ""]])
    result = CliRunner().invoke(app, ["manifest", "check", str(path)])
    assert result.exit_code == 2
    assert "unknown label" in result.output and "Traceback" not in result.output
