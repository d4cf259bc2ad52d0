"""The iCOPE subset: every pain/rest image by default, or exactly the list a researcher passes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from painxai.cli import app
from painxai.data import adapters
from painxai.data import manifest as mf

VECTOR = Path(__file__).resolve().parent / "vectors" / "icope_unifesp_filenames.csv"


@pytest.fixture(scope="module")
def icope_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny JPEGs named exactly as iCOPE's files (the public list), under ``<root>/pilot``."""
    vector = pd.read_csv(VECTOR, dtype=str, keep_default_na=False)
    root = tmp_path_factory.mktemp("real") / "iCOPE"
    for relative in vector.loc[vector["dataset"] == "iCOPE", "original_path"]:
        path = root / Path(relative).relative_to("iCOPE")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 3), (200, 150, 120)).save(path, format="JPEG")
    return root


def _manifest(root: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["manifest", "icope", "--root", str(root), "--out", str(out), *extra])
    return result.exit_code, result.output


def test_include_keeps_exactly_the_listed_images_and_subjects(icope_root: Path, tmp_path: Path) -> None:
    include = tmp_path / "paper-subset.txt"
    include.write_text(
        "# the images the study used\n"
        "S04\n"  # a subject: its 7 pain and rest images
        "\n"
        "S40_M_pain _1.jpg\n"  # a file name with iCOPE's inner space
        f"{icope_root / 'pilot' / 'S08_F_rest_1.jpg'}\n"  # an absolute path
        "pilot/S08_F_pain.jpg\n"  # a path under --root
    )
    code, output = _manifest(icope_root, tmp_path / "icope.csv", "--include", str(include))
    assert code == 0, output
    frame = mf.read_manifest(tmp_path / "icope.csv")
    names = sorted(Path(p).name for p in frame["path"])
    assert len(frame) == 10 and frame["subject"].value_counts().to_dict() == {"S04": 7, "S08": 2, "S40": 1}
    assert {"S40_M_pain _1.jpg", "S08_F_rest_1.jpg", "S08_F_pain.jpg"} <= set(names)
    assert "not in the include list: 154" in output  # 164 pain + rest images, 10 kept
    assert "the paper used 26, 60 / 63" in output


def test_an_entry_matching_nothing_names_the_file_and_line(icope_root: Path, tmp_path: Path) -> None:
    include = tmp_path / "list.txt"
    include.write_text("S04\n# a comment\nS08_F_cry.jpg\n")  # crying is neither pain nor rest
    code, output = _manifest(icope_root, tmp_path / "icope.csv", "--include", str(include))
    assert code == 2 and "Traceback" not in output
    assert f"{include}, line 3" in output.replace("\n", "") and "S08_F_cry.jpg" in output
    assert not (tmp_path / "icope.csv").exists()
    include.write_text("# nothing\n\n")
    code, output = _manifest(icope_root, tmp_path / "icope.csv", "--include", str(include))
    assert code == 2 and "empty" in output


def test_without_include_every_image_is_kept_and_the_difference_is_said(icope_root: Path) -> None:
    frame, _skipped = adapters.icope_manifest(icope_root)
    assert (frame["subject"].nunique(), (frame["label"] == "pain").sum(), (frame["label"] == "nopain").sum()) == (
        27, 76, 88)
    (note,) = adapters.composition_notes(frame)
    assert note.startswith("iCOPE: 27 subjects, 76 pain / 88 no-pain images; the paper used 26, 60 / 63")
    assert "--include" in note


def test_the_paper_composition_gives_no_note() -> None:
    rows = [("s", "iCOPE", "pain")] * 60 + [("s", "iCOPE", "nopain")] * 63
    frame = pd.DataFrame(rows, columns=["subject", "dataset", "label"])
    frame["subject"] = [f"S{i % 26:02d}" for i in range(len(frame))]
    assert adapters.composition_notes(frame) == []
    assert adapters.composition_notes(frame.assign(dataset="twin-iCOPE")) == []  # the twin is not judged
