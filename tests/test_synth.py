"""The synthetic twin: composition, determinism, masks that match the drawing, files on disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from painxai.data.manifest import read_manifest
from painxai.data.regions import REGIONS, label_map_to_masks, mask_path
from painxai.synth import twin as synth

SCALE = 0.1


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("twin")
    synth.generate_twin(out, seed=3, size_scale=SCALE)
    return out


def _plan(label: str, dataset: str = "twin-UNIFESP", cues: tuple[float, ...] | None = None) -> synth.ImagePlan:
    cues = cues if cues is not None else ((0.9, 0.9, 0.9, 0.95) if label == "pain" else (0.0, 0.0, 0.0, 0.0))
    index = [spec.name for spec in synth.DATASETS].index(dataset)
    return synth.ImagePlan(index, 0, 0, dataset, "X01", label, cues)


def test_full_scale_plan_has_the_papers_composition() -> None:
    plans = synth.plan_twin(seed=0, size_scale=1.0)
    counts = Counter((plan.dataset, plan.label) for plan in plans)
    assert counts == {("twin-UNIFESP", "pain"): 164, ("twin-UNIFESP", "nopain"): 196,
                      ("twin-iCOPE", "pain"): 60, ("twin-iCOPE", "nopain"): 63}
    subjects = {name: {p.subject for p in plans if p.dataset == name} for name in ("twin-UNIFESP", "twin-iCOPE")}
    assert len(subjects["twin-UNIFESP"]) == 30 and len(subjects["twin-iCOPE"]) == 26
    assert not subjects["twin-UNIFESP"] & subjects["twin-iCOPE"]
    per_subject = Counter(plan.subject for plan in plans)
    assert all(per_subject[s] == 12 for s in subjects["twin-UNIFESP"])
    assert all(2 <= per_subject[s] <= 8 for s in subjects["twin-iCOPE"])
    pain_per_subject = Counter(plan.subject for plan in plans if plan.label == "pain")
    assert len({pain_per_subject[s] for s in subjects["twin-UNIFESP"]}) > 3  # spread unevenly


def test_cues_follow_the_class_rules() -> None:
    for plan in synth.plan_twin(seed=1, size_scale=1.0):
        cues = np.array(plan.cues)
        assert ((cues >= 0) & (cues <= 1)).all()
        if plan.label == "pain":
            assert (cues >= 0.45).sum() >= 3
        else:
            assert (cues > 0).sum() <= 1 and cues.max() <= 0.35


def test_small_scale_keeps_three_subjects_and_both_classes() -> None:
    plans = synth.plan_twin(seed=0, size_scale=0.01)
    for spec in synth.DATASETS:
        mine = [p for p in plans if p.dataset == spec.name]
        assert len({p.subject for p in mine}) == 3
        assert {p.label for p in mine} == {"pain", "nopain"}


def test_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="size_scale"):
        synth.plan_twin(0, 0.0)
    with pytest.raises(ValueError, match="seed"):
        synth.plan_twin(-1, 1.0)


def test_manifest_truth_and_files(twin: Path) -> None:
    frame = read_manifest(twin / "manifest.csv")
    plans = synth.plan_twin(seed=3, size_scale=SCALE)
    assert len(frame) == len(plans)
    assert Counter(frame["label"]) == Counter(p.label for p in plans)
    truth = pd.read_csv(twin / "truth.csv")
    assert list(truth.columns) == list(synth.TRUTH_COLUMNS)
    assert [str(twin / p) for p in truth["path"]] == list(frame["path"])
    for row, plan in zip(truth.itertuples(index=False), plans, strict=True):
        assert np.allclose([row.cue_brow, row.cue_eyes, row.cue_nasolabial, row.cue_mouth], plan.cues, atol=1e-4)
    for record in frame.itertuples(index=False):
        image = cv2.imread(record.path)
        spec = next(s for s in synth.DATASETS if s.name == record.dataset)
        assert image.shape[:2] == spec.frame[::-1]
        label_map = cv2.imread(str(mask_path(record.path)), cv2.IMREAD_UNCHANGED)
        assert label_map.shape == image.shape[:2] and label_map.dtype == np.uint8
        assert set(np.unique(label_map)) <= set(range(len(REGIONS) + 1))
        x0, y0, x1, y1 = record.face_box
        # The face box is tight around the face, which fills the planned share of the frame height.
        assert 0 <= x0 < x1 <= spec.frame[0] and 0 <= y0 < y1 <= spec.frame[1]
        assert spec.face_fraction[0] * 0.9 <= (y1 - y0) / spec.frame[1] <= 1.0


def test_keypoints_fall_inside_their_regions(twin: Path) -> None:
    truth = pd.read_csv(twin / "truth.csv")
    region_of = {"right_eye": "eyes", "left_eye": "eyes", "nose": "nose", "mouth": "mouth", "chin": "chin"}
    for row in truth.itertuples(index=False):
        label_map = cv2.imread(str(mask_path(twin / row.path)), cv2.IMREAD_UNCHANGED)
        masks = label_map_to_masks(label_map)
        for point, region in region_of.items():
            x, y = getattr(row, f"{point}_x"), getattr(row, f"{point}_y")
            assert masks[region][round(y), round(x)], f"{row.path}: {point} outside {region}"
        # The newborn's right eye is on the left of the picture (the roll is at most 15 degrees).
        assert row.right_eye_x < row.left_eye_x


def test_mouth_mask_covers_the_dark_open_mouth() -> None:
    image, label_map, info = synth.draw_image(0, _plan("pain"))
    masks = label_map_to_masks(label_map)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
    x0, y0, x1, y1 = (int(v) for v in info["face_box"])
    face = np.zeros_like(masks["mouth"])
    face[y0:y1, x0:x1] = True
    # The darkest face pixels below the nose are the inside of the open mouth.
    below_nose = face & (np.arange(gray.shape[0])[:, None] > info["keypoints"]["nose"][1] + 5)
    threshold = np.percentile(gray[below_nose], 3)
    dark = below_nose & (gray <= threshold)
    assert masks["mouth"][dark].mean() > 0.9
    assert gray[masks["mouth"]].mean() < gray[masks["chin"]].mean() - 20


def test_eye_masks_cover_the_eyes() -> None:
    for label in ("pain", "nopain"):
        image, label_map, info = synth.draw_image(5, _plan(label))
        masks = label_map_to_masks(label_map)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
        for eye in ("right_eye", "left_eye"):
            x, y = (round(v) for v in info["keypoints"][eye])
            assert masks["eyes"][y, x]
        # The lid line or the iris makes the eye region darker than the forehead above it.
        assert gray[masks["eyes"]].min() < np.median(gray[masks["forehead_brow"]]) - 40


def test_pain_cues_change_their_own_regions() -> None:
    """A cue alters the pixels of its region much more than those of the other regions."""
    relaxed, label_map, _ = synth.draw_image(2, _plan("nopain"))
    masks = label_map_to_masks(label_map)
    far_from = {"forehead_brow": ("chin", "mouth"), "eyes": ("chin", "mouth"),
                "nasolabial": ("forehead_brow", "eyes"), "mouth": ("forehead_brow", "eyes")}
    for index, region in enumerate(("forehead_brow", "eyes", "nasolabial", "mouth")):
        cues = [0.0] * 4
        cues[index] = 0.9
        cued, _, _ = synth.draw_image(2, _plan("nopain", cues=tuple(cues)))
        change = np.abs(cued.astype(float) - relaxed.astype(float)).mean(axis=2)
        inside = change[masks[region]].mean()
        elsewhere = change[masks[far_from[region][0]] | masks[far_from[region][1]]].mean()
        assert inside > 2.5 and inside > 3 * elsewhere, f"{region}: {inside:.1f} inside, {elsewhere:.1f} elsewhere"


def test_same_seed_same_bytes_other_seed_differs(twin: Path) -> None:
    plans = synth.plan_twin(seed=3, size_scale=SCALE)
    for plan in (plans[0], plans[-1]):  # one UNIFESP-like, one iCOPE-like
        image, label_map, _ = synth.draw_image(3, plan)
        on_disk = cv2.cvtColor(cv2.imread(str(twin / plan.relative_path)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(image, on_disk)
        assert np.array_equal(label_map, cv2.imread(str(mask_path(twin / plan.relative_path)), cv2.IMREAD_UNCHANGED))
        other, _, _ = synth.draw_image(4, plan)
        assert not np.array_equal(image, other)
    assert synth.plan_twin(3, SCALE) == plans
    assert synth.plan_twin(4, SCALE) != plans


def test_second_call_returns_without_regenerating(twin: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in twin.rglob("*.png")}
    summary = synth.generate_twin(twin, seed=3, size_scale=SCALE)
    assert summary.n_images == len(before) // 2
    assert summary.seconds < 1.0
    assert {p: p.stat().st_mtime_ns for p in twin.rglob("*.png")} == before


def test_unfinished_twin_is_regenerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small frames and few photos keep this test fast; the logic does not depend on the sizes.
    small = tuple(
        synth.DatasetSpec(spec.name, spec.prefix, 3, 6, 3, (2, 2), (160, 120), spec.face_fraction)
        for spec in synth.DATASETS
    )
    monkeypatch.setattr(synth, "DATASETS", small)
    synth.generate_twin(tmp_path, seed=0, workers=1)
    (tmp_path / "manifest.csv").unlink()  # as if killed before the end
    first = tmp_path / synth.plan_twin(0)[0].relative_path
    first.unlink()
    summary = synth.generate_twin(tmp_path, seed=0, workers=1)
    assert first.is_file() and summary.manifest_path.is_file()
    assert len(read_manifest(summary.manifest_path)) == summary.n_images == 12
    # Another seed replaces the twin rather than mixing two.
    other = synth.generate_twin(tmp_path, seed=1, workers=1)
    assert other.n_images == 12 and len(list(tmp_path.rglob("*.regions.png"))) == 12
