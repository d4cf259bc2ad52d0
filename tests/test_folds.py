"""Leave-subjects-out folds: the paper's composition, other compositions, determinism, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from painxai.cli import app
from painxai.data import folds as fd
from painxai.data.manifest import write_manifest


def paper_composition(seed: int = 0) -> pd.DataFrame:
    """A manifest frame (no files) with the paper's subjects and class counts:
    30 UNIFESP subjects x 12 images (164 pain / 196 nopain), 26 iCOPE subjects (60 pain / 63 nopain)."""
    rng = np.random.default_rng(seed)
    rows = []
    unifesp_pain = np.full(30, 164 // 30)
    unifesp_pain[: 164 - unifesp_pain.sum()] += 1
    for s in range(30):
        for i in range(12):
            rows.append((f"U{s:02d}/{i}.png", f"U{s:02d}", "UNIFESP", "pain" if i < unifesp_pain[s] else "nopain"))
    icope_images = rng.multinomial(123 - 26 * 2, np.ones(26) / 26) + 2
    labels = ["pain"] * 60 + ["nopain"] * 63
    rng.shuffle(labels)
    start = 0
    for s, n in enumerate(icope_images):
        for i in range(n):
            rows.append((f"I{s:02d}/{i}.png", f"I{s:02d}", "iCOPE", labels[start + i]))
        start += n
    return pd.DataFrame(rows, columns=["path", "subject", "dataset", "label"])


def test_paper_composition_gives_3_unifesp_subjects_per_fold():
    manifest = paper_composition()
    assert len(manifest) == 483 and (manifest["label"] == "pain").sum() == 224
    folds = fd.make_folds(manifest, k=10, seed=3)
    listed = [s for f in folds for s in f]
    assert sorted(listed) == sorted(manifest["subject"].unique())  # every subject exactly once
    dataset_of = manifest.groupby("subject")["dataset"].first()
    for members in folds:
        assert len(members) in (5, 6)
        assert sum(dataset_of[s] == "UNIFESP" for s in members) == 3
    # Classes spread: every fold has both classes.
    for members in folds:
        assert manifest[manifest["subject"].isin(members)]["label"].nunique() == 2


def test_folds_are_deterministic_and_seed_dependent():
    manifest = paper_composition()
    assert fd.make_folds(manifest, 10, seed=1) == fd.make_folds(manifest, 10, seed=1)
    assert fd.make_folds(manifest, 10, seed=1) != fd.make_folds(manifest, 10, seed=2)


def test_other_compositions_spread_evenly():
    rows = [(f"{d}{s}/{i}", f"{d}{s}", d, "pain" if (s + i) % 2 else "nopain") for d, n in (("A", 7), ("B", 5))
            for s in range(n) for i in range(3)]
    manifest = pd.DataFrame(rows, columns=["path", "subject", "dataset", "label"])
    folds = fd.make_folds(manifest, k=4, seed=0)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for dataset in "AB":
        counts = [sum(s.startswith(dataset) for s in f) for f in folds]
        assert max(counts) - min(counts) <= 1


def test_impossible_requests_fail_clearly():
    manifest = paper_composition()
    with pytest.raises(fd.FoldError, match="cannot make 57 folds from 56 subjects"):
        fd.make_folds(manifest, k=57)
    with pytest.raises(fd.FoldError, match="at least 2"):
        fd.make_folds(manifest, k=1)


def test_validation_split_is_by_subject_and_from_training_subjects():
    manifest = paper_composition()
    folds = fd.make_folds(manifest, 10, seed=0)
    train = sorted(set(manifest["subject"]) - set(folds[0]))
    val = fd.validation_subjects(manifest, train, fraction=0.1, seed=0)
    assert set(val) <= set(train)
    assert not set(val) & set(folds[0])
    datasets = set(manifest[manifest["subject"].isin(val)]["dataset"])
    assert datasets == {"UNIFESP", "iCOPE"}
    assert 4 <= len(val) <= 6


def test_cli_writes_the_documented_folds_file(tmp_path):
    manifest = paper_composition()
    for path in manifest["path"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (2, 2)).save(tmp_path / path)
    manifest["path"] = [str(tmp_path / p) for p in manifest["path"]]
    manifest["face_box"] = None
    write_manifest(manifest, tmp_path / "manifest.csv")
    out = tmp_path / "folds.json"
    result = CliRunner().invoke(app, ["folds", "--manifest", str(tmp_path / "manifest.csv"), "--k", "10",
                                      "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["k"] == 10 and document["seed"] == 7 and len(document["manifest_sha256"]) == 64
    assert [f["fold"] for f in document["folds"]] == list(range(10))
    assert sum(f["test_images"] for f in document["folds"]) == 483
    assert fd.read_folds(out, manifest)["k"] == 10
    result = CliRunner().invoke(app, ["folds", "--manifest", str(tmp_path / "manifest.csv"), "--k", "99",
                                      "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and "cannot make 99 folds" in result.output
