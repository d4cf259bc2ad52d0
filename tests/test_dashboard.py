"""The dashboard's page logic outside Streamlit (painxai.dashboard): the face-box check, what a session keeps,
the grids of maps, the run folders; and the one-owner rules they use (regions, faithfulness, provenance)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from painxai.dashboard import assess as state
from painxai.dashboard import face_box, grid
from painxai.data.regions import REGIONS, RegionMaskError, mask_path
from painxai.faces.detection import FaceSearch
from painxai.inference.assess import AssessRequest
from painxai.inference.gate import Screening

SHAPE = (120, 160, 3)


def _found(box=(40.0, 20.0, 100.0, 80.0)) -> Screening:
    return Screening(box, None, FaceSearch([], "haar", "one", "one face found"), None, "")


def _refused() -> Screening:
    return Screening(None, None, FaceSearch([], "haar", "none", "no face"), None, "No face was found.")


def test_a_face_the_gate_found_starts_the_check_and_counts_as_by_hand_only_once_moved():
    start = face_box.box_start(SHAPE, _found())
    assert start.found and not start.warning and not start.too_small
    assert (start.centre_x, start.centre_y, start.side) == (70, 50, 60)
    assert "haar" in start.title and "one face found" in start.title
    kept_as_found = face_box.box_choice(start, 70, 50, 60, confirmed=False, shape=SHAPE)
    assert kept_as_found.ready and not kept_as_found.by_hand and kept_as_found.box == (40, 20, 100, 80)
    moved = face_box.box_choice(start, 75, 50, 60, confirmed=False, shape=SHAPE)
    assert moved.ready and moved.by_hand and moved.box == (45, 20, 105, 80)


def test_without_a_face_a_centred_square_waits_for_the_user_to_confirm_it():
    start = face_box.box_start(SHAPE, _refused())
    assert not start.found and start.warning.startswith("No face was found. A centred square")
    assert start.side == int(face_box.HAND_FRACTION * 120) and (start.centre_x, start.centre_y) == (80, 60)
    waiting = face_box.box_choice(start, 90, 60, 72, confirmed=False, shape=SHAPE)
    assert not waiting.ready and not waiting.by_hand  # moved, but not confirmed: nothing is scored
    confirmed = face_box.box_choice(start, 90, 60, 72, confirmed=True, shape=SHAPE)
    assert confirmed.ready and confirmed.by_hand
    assert face_box.box_start((20, 300, 3), _refused()).too_small


def test_a_session_keeps_a_value_for_its_request_and_makes_it_again_for_another():
    session: dict = {"other": 1}
    made = []

    def make(value):
        return lambda: made.append(value) or value

    assert state.kept(session, "x", ("photo", 1), make("first")) == "first"
    assert state.kept(session, "x", ("photo", 1), make("again")) == "first" and made == ["first"]
    assert state.kept(session, "x", ("photo", 2), make("second")) == "second" and made == ["first", "second"]
    session["x"] = ("photo", 2)  # a value of an older page version under the key: made again, not trusted
    assert state.kept(session, "x", ("photo", 2), make("third")) == "third"
    request = AssessRequest(models=["ncnn"], folds=[1])  # a request keys the cache like a tuple
    assert state.kept(session, "y", request, make("a")) == state.kept(session, "y", AssessRequest(("ncnn",), (1,)),
                                                                       make("b"))


def test_an_assessment_uses_the_stored_masks_and_names_a_damaged_one(tmp_path):
    image = np.zeros(SHAPE, np.uint8)
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    labels = np.zeros(SHAPE[:2], np.uint8)
    labels[30:50] = REGIONS.index("eyes") + 1
    Image.fromarray(labels).save(mask_path(good))
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(mask_path(bad))  # another size: damaged
    request = AssessRequest(box=(40.0, 20.0, 100.0, 80.0))
    session: dict = {}
    masks = state.start_assessment(session, "p1", image, _found(), request, SimpleNamespace(path=str(good)))
    assert masks.warning == "" and masks.assessment.regions_source == "masks"
    np.testing.assert_array_equal(masks.assessment.label_map, labels)
    damaged = state.start_assessment(session, "p2", image, _found(), request, SimpleNamespace(path=str(bad)))
    assert "The regions come from the landmarks instead" in damaged.warning
    assert damaged.assessment.regions_source is None  # no landmarks on this screening either
    with pytest.raises(RegionMaskError):
        from painxai.inference.assess import begin_assessment

        begin_assessment(image, screening=_found(), masks_of=bad)  # the CLI's way: the error is the answer


def test_regions_are_the_stored_masks_else_trustworthy_landmarks_else_none(tmp_path):
    from painxai.faces.landmarks import Landmarks, region_map

    image = np.zeros(SHAPE, np.uint8)
    points = np.random.default_rng(0).uniform([20, 20], [140, 100], (468, 2))
    trusted = Landmarks(points, 1.0, True, (), np.eye(2, 3))
    doubtful = Landmarks(points, 0.2, False, ("no face",), np.eye(2, 3))
    path = tmp_path / "photo.png"
    assert region_map(image, path, landmarks=trusted).source == "landmarks"
    assert region_map(image, path, landmarks=trusted).label_map.max() > 0
    assert region_map(image, path, landmarks=doubtful) == region_map(image, None, face=None)
    assert region_map(image, None).source is None and region_map(image, None).label_map is None
    Image.fromarray(np.ones(SHAPE[:2], np.uint8)).save(mask_path(path))
    masks = region_map(image, path, landmarks=trusted)
    assert masks.source == "masks" and np.all(masks.label_map == 1)


def test_faithfulness_follows_the_explained_class():
    from painxai.explain.faithfulness import faithfulness_aucs

    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    maps = np.random.default_rng(1).random((2, 16, 16))

    def prob_pain(batch):
        return np.full(len(batch), 0.2)

    pain = faithfulness_aucs(images, maps, prob_pain, "pain", steps=4)
    nopain = faithfulness_aucs(images, maps, prob_pain, "nopain", steps=4)
    np.testing.assert_allclose(pain.deletion_auc, 0.2)
    np.testing.assert_allclose(nopain.insertion_auc, 0.8)
    assert set(pain.as_dict()) == {"deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"}


def test_assess_maps_share_one_crop_and_outline_the_regions_when_asked():
    image = np.full(SHAPE, 90, np.uint8)
    label_map = np.zeros(SHAPE[:2], np.uint8)
    label_map[40:60, 50:110] = 2
    heat = np.zeros((32, 32), np.float32)
    heat[8:16, 8:24] = 1.0
    verdicts = [SimpleNamespace(name="a", mean_map=heat), SimpleNamespace(name="b", mean_map=heat * 2)]
    plain = grid.assess_maps(image, (40.0, 20.0, 100.0, 80.0), label_map, verdicts, "shared", {}, "inferno", False, 64)
    outlined = grid.assess_maps(image, (40.0, 20.0, 100.0, 80.0), label_map, verdicts, "shared", {}, "inferno", True,
                                64)
    assert plain.face.shape == (64, 64, 3) and set(plain.maps) == {"a", "b"} and plain.regions is not None
    assert plain.vmaxes["a"] == plain.vmaxes["b"] and "shared" in plain.scale_note.lower()
    assert [c.model for c in plain.cells] == ["a", "b"] and plain.cells[0].caption.startswith("a · scale")
    np.testing.assert_array_equal(plain.cells[0].picture, plain.overlays["a"])
    assert not np.array_equal(outlined.cells[0].picture, outlined.overlays["a"])  # outlines drawn on the cell
    np.testing.assert_array_equal(outlined.overlays["a"], plain.overlays["a"])  # never on the report's overlay
    assert grid.assess_maps(image, None, None, verdicts, "per-map", {}, "inferno", True, 64).regions is None


def test_a_compare_row_captions_each_model_with_its_class_and_scale():
    faces = np.zeros((2, 8, 8, 3), np.uint8)
    maps = np.zeros((2, 8, 8), np.float32)
    maps[:, 2:4, 2:4] = 1.0
    result = grid.GridResult(faces=faces, maps={"m": maps}, prob_pain={"m": np.array([0.7, 0.2])}, shares={},
                             targets={"m": ["pain", "nopain"]}, regions=[np.ones((8, 8), np.uint8), None])
    vmaxes = {"pain": {"m": 2.0}, "nopain": {"m": None}}
    row = grid.compare_row(result, 1, vmaxes, "inferno", True, {"pain": "pain", "nopain": "no pain"})
    assert row.no_regions and len(row.cells) == 1
    assert row.cells[0].caption.startswith("m · P(pain) 20% · explains no pain · scale")
    first = grid.compare_row(result, 0, vmaxes, "inferno", False, {"pain": "pain", "nopain": "no pain"})
    assert not first.no_regions and "explains pain" in first.cells[0].caption
    np.testing.assert_array_equal(first.face, faces[0])


def test_run_folders_are_listed_newest_first_without_opening_them(tmp_path, monkeypatch):
    from painxai.dashboard import run_choice
    from painxai.runs.layout import run_folders

    root = tmp_path / "artifacts"
    for name, when in (("old", 1_000), ("new", 2_000), ("broken", 1_500)):
        (root / name).mkdir(parents=True)
        (root / name / "run.json").write_text("{}" if name != "broken" else "{ not json")
        os.utime(root / name / "run.json", (when, when))
    (root / "not_a_run").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "run.json").write_text("{}")
    assert [p.name for p in run_folders(root)] == ["new", "broken", "old"]
    assert [p.name for p in run_folders(root, also=elsewhere)] == ["elsewhere", "new", "broken", "old"]
    assert [p.name for p in run_folders(root, also=root / "old")] == ["new", "broken", "old"]
    assert run_folders(tmp_path / "missing") == []
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(root))
    assert run_choice.available_runs(None) == run_folders(root)


def test_the_reports_versions_come_from_the_runs_provenance():
    from painxai.runs.provenance import Provenance

    provenance = Provenance("twin", "demo", {"a": "random"}, {"a": "random initialisation (seed 0)"},
                            "2026-12-03", {"painxai": "0.1.0"})
    assert provenance.versions_table(["a", "b"]) == {
        "run created": "2026-12-03", "profile": "demo", "a weights": "random initialisation (seed 0)",
        "b weights": "?", "painxai": "0.1.0",
    }
