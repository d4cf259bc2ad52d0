"""The 468 FaceMesh landmarks of a detected face, the NFCS region masks they draw, and the one rule that
chooses a photo's regions (:func:`region_map`: stored region masks, else landmark regions).

``face_landmark.tflite`` (:mod:`painxai.faces.model_files`) runs through ``cv2.dnn`` on a 192x192 crop
rotated so the eyes are level, as MediaPipe's own face-mesh graph does; the points are mapped back into
the photo.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from painxai.data.regions import LANDMARKS, PAINT_ORDER, REGION_GROUPS, REGIONS, read_label_map
from painxai.faces.crop import apply_affine
from painxai.faces.detection import Face, check_photo, shrink_by_blocks
from painxai.faces.model_files import MODEL_CACHE, ModelFileError, model_path

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
        return apply_affine(self.crop_matrix, self.points)


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
    corners = apply_affine(cv2.invertAffineTransform(matrix),
                            np.array([[0, 0], [LANDMARK_INPUT, 0], [0, LANDMARK_INPUT], [LANDMARK_INPUT] * 2], float))
    height, width = image.shape[:2]
    left, top = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    right, bottom = np.minimum(np.ceil(corners.max(axis=0)).astype(int), [width, height])
    if right - left < 2 * step or bottom - top < 2 * step:  # the face lies outside the photo: nothing to reduce
        return cv2.warpAffine(image, matrix, (LANDMARK_INPUT, LANDMARK_INPUT), borderMode=cv2.BORDER_REPLICATE)
    reduced = shrink_by_blocks(image[top:bottom, left:right], step)
    # Reduced pixel i averages photo pixels [left + i*step, left + (i+1)*step), centred on left + i*step + (step-1)/2
    # (OpenCV puts pixel centres on integers); substituting that photo position into M gives the region's matrix.
    block_origin = np.array([left, top]) + (step - 1) / 2
    region_matrix = np.hstack([matrix[:, :2] * step, (matrix[:, :2] @ block_origin + matrix[:, 2])[:, None]])
    return cv2.warpAffine(reduced, region_matrix, (LANDMARK_INPUT, LANDMARK_INPUT), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)



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
    image = check_photo(image)
    landmarks = _mesh_pass(image, alignment_matrix(face))
    if refine and "no face" not in landmarks.problems:
        landmarks = _mesh_pass(image, refined_matrix(landmarks.points))
    return landmarks


def _mesh_pass(image: np.ndarray, matrix: np.ndarray) -> Landmarks:
    """One run of the mesh model on the crop that ``matrix`` (2, 3) cuts from the (H, W, 3) photo."""
    import cv2

    crop = _aligned_crop(image, matrix)
    blob = np.ascontiguousarray(crop.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)  # (1, 3, 192, 192)
    mesh, presence_logit = MODEL_CACHE.call(f"landmarks:{model_path('landmarks')}", _landmark_net,
                                       lambda net: _run_landmark_net(net, blob))
    crop_points = mesh.reshape(468, 3)[:, :2].astype(np.float64)
    presence = 1.0 / (1.0 + math.exp(-float(np.ravel(presence_logit)[0])))
    problems = _geometry_problems(crop_points)
    checks_total = 5
    quality = presence * (checks_total - len(problems)) / checks_total
    if presence < 0.5:
        problems.insert(0, "no face")
    points = apply_affine(cv2.invertAffineTransform(matrix), crop_points)
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


def photo_regions(image: np.ndarray, face: Face | None) -> tuple[Landmarks | None, np.ndarray | None]:
    """FaceMesh landmarks of ``face`` and the region label map (H, W) they draw, when trustworthy.

    The label map is None when there is no face, the landmark model file is missing, or the
    landmarks fail their quality checks (a wrong mask would give wrong shares).
    """
    if face is None:
        return None, None
    try:
        landmarks = face_landmarks(image, face)
    except ModelFileError:
        return None, None
    label_map = landmark_region_masks(landmarks.points, image.shape) if landmarks.ok else None
    return landmarks, label_map


MASKS, FROM_LANDMARKS = "masks", "landmarks"


@dataclass(frozen=True)
class RegionMap:
    """A photo's NFCS region label map (H, W) uint8 (value ``i + 1`` = ``REGIONS[i]``), or None, and its
    ``source``: "masks" (stored beside the image), "landmarks" (drawn from FaceMesh points) or None."""

    label_map: np.ndarray | None
    source: str | None


def region_map(
    image: np.ndarray,
    image_path: str | os.PathLike[str] | None = None,
    landmarks: Landmarks | None = None,
    face: Face | None = None,
) -> RegionMap:
    """The regions of one RGB photo (H, W, 3): the region masks stored beside ``image_path``
    (:func:`painxai.data.regions.read_label_map`, e.g. the synthetic twin's; a damaged file raises
    RegionMaskError) when there are any, else the regions the FaceMesh ``landmarks`` draw (or, without them,
    those of landmarks placed on ``face``) when they are trustworthy, else none."""
    truth = None if image_path is None else read_label_map(image_path, image.shape)
    if truth is not None:
        return RegionMap(truth, MASKS)
    if landmarks is not None:
        drawn = landmark_region_masks(landmarks.points, image.shape) if landmarks.ok else None
    else:
        drawn = photo_regions(image, face)[1]
    return RegionMap(drawn, None if drawn is None else FROM_LANDMARKS)
