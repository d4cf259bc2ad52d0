"""Face detection, offline: MediaPipe's BlazeFace when its model file is there, else OpenCV's Haar cascade.

Detection runs the MediaPipe Tasks ``FaceDetector`` (BlazeFace short range, IMAGE mode) when its model
file (:mod:`painxai.faces.model_files`) is in place and MediaPipe works; otherwise OpenCV's Haar
cascade. Every result says which detector ran and, in plain words, whether it found none, one or
several faces: detectors trained on adults often miss newborns (docs/PROTOCOL.md#face-cropping), so
callers must let the user confirm or draw the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from painxai.errors import RequestError
from painxai.faces.crop import Box, as_box
from painxai.faces.model_files import MODEL_CACHE, ModelFileError, model_path
from painxai.native_logs import native_stderr

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
METHODS: tuple[Method, ...] = ("auto", "mediapipe", "haar")


def check_method(name: str) -> Method:
    """``name`` as a detection :data:`Method`; RequestError for any other name (a command line's text)."""
    for method in METHODS:
        if name == method:
            return method
    raise RequestError(f"method must be 'auto', 'mediapipe' or 'haar', got {name!r}")


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
    import cv2.data  # binds cv2 too; cv2.data is where the cascades are

    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise ModelFileError("OpenCV's Haar face cascade could not be loaded (is opencv-contrib-python installed?)")
    return cascade


def _detect_mediapipe(small: np.ndarray, min_score: float) -> list[Face]:
    """BlazeFace on an (h, w, 3) uint8 image; faces in that image's pixels."""
    import mediapipe as mp

    path = model_path("detector")
    frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
    # LiteRT logs from C++ straight to descriptor 2 (INFO lines on creation, an alignment warning on the
    # first detection); native_stderr keeps those lines from the user's terminal and lets ours through.
    with native_stderr():
        result = MODEL_CACHE.call(f"mediapipe:{path}", lambda: _mediapipe_detector(path),
                                  lambda model: model.detect(frame))
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
    boxes, neighbours = MODEL_CACHE.call("haar", _haar_detector, lambda cascade: cascade.detectMultiScale2(
        gray, scaleFactor=1.1, minNeighbors=1, minSize=(smallest, smallest)))
    found = []
    for (x, y, w, h), count in zip(np.reshape(boxes, (-1, 4)), np.ravel(neighbours), strict=True):
        score = float(count) / (float(count) + _HAAR_HALF_SCORE_NEIGHBOURS)
        if score >= min_score:
            found.append(Face(box=(float(x), float(y), float(x + w), float(y + h)), score=score))
    return found


def check_photo(image: np.ndarray) -> np.ndarray:
    """``image`` as an array, checked to be an (H, W, 3) uint8 RGB photo of at least 8x8 pixels."""
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

    image = check_photo(image)
    if not 0.0 <= min_score <= 1.0:
        raise RequestError(f"min_score must be in [0, 1], got {min_score}")
    check_method(method)
    height, width = image.shape[:2]
    # An integer box filter first (fast and alias-free), then at most a 2x bilinear step to the target size.
    step = max(1, max(height, width) // DETECTION_LONG_SIDE)
    small = shrink_by_blocks(image, step)
    factor = min(1.0, DETECTION_LONG_SIDE / max(small.shape[:2]))
    if factor < 1.0:
        small = cv2.resize(small, (max(1, round(small.shape[1] * factor)), max(1, round(small.shape[0] * factor))),
                           interpolation=cv2.INTER_LINEAR)
    # shrink_by_blocks drops the last (width mod step) columns and rows, so scale by what it kept.
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
    status: Literal["none", "one", "several"]
    if not faces:
        status, text = "none", "No face found: draw the box by hand."
    elif len(faces) == 1:
        status, text = "one", f"One face found (score {faces[0].score:.2f}): check the box."
    else:
        status, text = "several", f"{len(faces)} faces found: the largest is used; check it."
    if detector == "haar":
        text += f" {fallback_reason}OpenCV's Haar cascade was used; it is less reliable on newborns."
    return FaceSearch(faces, detector, status, text)


def shrink_by_blocks(image: np.ndarray, step: int) -> np.ndarray:
    """Average ``step`` x ``step`` pixel blocks of an (H, W, 3) image, dropping the incomplete last ones."""
    import cv2

    if step <= 1:
        return image
    rows, cols = image.shape[0] // step, image.shape[1] // step
    return cv2.resize(image[: rows * step, : cols * step], (cols, rows), interpolation=cv2.INTER_AREA)


def locate_face(image: np.ndarray, box: Box | None = None) -> tuple[Box | None, FaceSearch | None, Face | None]:
    """The face box to crop: the caller's ``box`` if given, else the detector's primary face.

    Returns (box or None when nothing was found, the search or None when not run, the Face used).
    """
    if box is not None:
        return box, None, Face(box=as_box(box), score=1.0, keypoints=None)
    search = detect_faces(image)
    face = search.primary
    return (None if face is None else face.box), search, face
