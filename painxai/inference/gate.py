"""The input gate: a photo is scored only when it shows a usable face, or the user drew the box by hand.

Any image given to a classifier gets a probability, even noise; so before any probability is shown,
the detected face must pass four checks (the thresholds below were chosen from the measurements in
docs/GATE.md, made with ``bench/bench_gate.py``):

* the detector's score is at least ``MIN_DETECTOR_SCORE``;
* the face box's shorter side is at least ``MIN_FACE_SIDE`` pixels (the models read crops of 64-224
  px; a smaller face would be mostly upsampling);
* that side is at least ``MIN_FACE_SHARE`` of the photo's shorter side (a tiny face in a large scene
  is more often a false detection than a patient);
* the FaceMesh landmarks placed on it pass their quality check (face presence >= 0.5 and the eyes,
  nose, mouth and chin in a face's order: :class:`painxai.faces.landmarks.Landmarks`).

A box drawn by hand is the user's statement that the face is there: only the pixel minimum applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from painxai.errors import PainxaiError
from painxai.faces.crop import Box, as_box

if TYPE_CHECKING:
    from painxai.faces.detection import Face, FaceSearch
    from painxai.faces.landmarks import Landmarks


MIN_DETECTOR_SCORE = 0.6
MIN_FACE_SIDE = 32  # pixels, the box's shorter side
MIN_FACE_SHARE = 0.15  # of the photo's shorter side
HOW_TO_GO_ON = "if a face is there, draw the box around it by hand"


class PhotoRefusedError(PainxaiError):
    """The photo shows no usable face (the message says why and what to do); nothing was scored."""


@dataclass(frozen=True)
class Screening:
    """The gate's verdict on one photo.

    ``box``: the face box to crop (None when refused); ``face``: the face used; ``search``: the
    detection (None for a hand-drawn box); ``landmarks``: FaceMesh points of the face (None when not
    placed); ``reason``: why it was refused, in plain words ("" when accepted); ``by_hand``: the box
    came from the user.
    """

    box: Box | None
    face: Face | None
    search: FaceSearch | None
    landmarks: Landmarks | None
    reason: str
    by_hand: bool = False

    @property
    def accepted(self) -> bool:
        """True when the photo may be scored."""
        return not self.reason

    def require(self) -> Screening:
        """This screening, or PhotoRefusedError with the reason."""
        if self.reason:
            raise PhotoRefusedError(self.reason)
        return self


def size_problem(box: Box, shape: tuple[int, ...], by_hand: bool) -> str:
    """Why ``box`` (x0, y0, x1, y1) is too small in a photo of ``shape`` (H, W, ...), or ""."""
    side = min(box[2] - box[0], box[3] - box[1])
    if side < MIN_FACE_SIDE:
        return f"the face box is {side:.0f} pixels across; at least {MIN_FACE_SIDE} are needed"
    share = side / min(shape[:2])
    if not by_hand and share < MIN_FACE_SHARE:
        return (f"the face found covers {share:.0%} of the photo's shorter side; at least {MIN_FACE_SHARE:.0%} "
                "is needed (crop the photo closer to the face)")
    return ""


def screen_photo(image: np.ndarray, box: Box | None = None) -> Screening:
    """Detect the face in an (H, W, 3) uint8 RGB photo (or take the hand-drawn ``box``) and check it.

    Never raises for an unusable photo: the refusal is in ``reason``. Landmarks are placed on an
    accepted face (the region shares need them) and on a detected face (the gate needs them).
    """
    from painxai.faces.detection import Face, check_photo, detect_faces

    image = np.asarray(image)
    if image.ndim == 3 and min(image.shape[:2]) < MIN_FACE_SIDE:
        height, width = image.shape[:2]
        problem = f"the photo is {width} x {height} pixels, too small to hold a face of {MIN_FACE_SIDE}"
        return Screening(None, None, None, None, _refusal(problem), by_hand=box is not None)
    image = check_photo(image)
    if box is not None:
        box = as_box(box)
        given = Face(box=box, score=1.0, keypoints=None)
        problem = size_problem(box, image.shape, by_hand=True)
        landmarks = None if problem else _landmarks(image, given)
        return Screening(None if problem else box, given, None, landmarks, _refusal(problem), by_hand=True)
    # Only faces the detector is sure of compete; the largest of them is used (the baby nearest the camera).
    search = detect_faces(image, min_score=MIN_DETECTOR_SCORE)
    face = search.primary
    if face is None:
        return Screening(None, None, search, None, _refusal(
            f"no face was found (none with a detector score of at least {MIN_DETECTOR_SCORE})"))
    problem = size_problem(face.box, image.shape, by_hand=False)
    landmarks = None if problem else _landmarks(image, face)
    if not problem and (landmarks is None or not landmarks.ok):
        failed = "the landmark model is missing" if landmarks is None else ", ".join(landmarks.problems)
        problem = f"the facial landmarks could not be placed on it ({failed})"
    return Screening(None if problem else face.box, face, search, landmarks, _refusal(problem))


def _refusal(problem: str) -> str:
    return f"This photo is not scored: {problem}; {HOW_TO_GO_ON}." if problem else ""


def _landmarks(image: np.ndarray, face: Face) -> Landmarks | None:
    """FaceMesh points of ``face``, or None when the landmark model file is missing."""
    from painxai.faces.landmarks import face_landmarks
    from painxai.faces.model_files import ModelFileError

    try:
        return face_landmarks(image, face)
    except ModelFileError:
        return None
