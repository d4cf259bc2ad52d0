"""Procedural drawing of one synthetic swaddled-newborn photo for :mod:`painxai.synth.twin`.

Only :mod:`painxai.synth.twin` imports this package's drawing modules (they need OpenCV). Everything is
drawn on an upright canvas a little larger than the frame, then the whole canvas is rotated by the
camera roll with one affine warp; the region label map is drawn from the same geometry on the same
canvas and goes through the same warp, so masks match the pixels.

The parts: :mod:`~painxai.synth.raster` (drawing in face units), :mod:`~painxai.synth.look` (the random
appearance and shot), :mod:`~painxai.synth.face` (skin, features, cues, region map) and
:mod:`~painxai.synth.scene` (background, blanket, headwear, props, camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from painxai.faces.crop import apply_affine
from painxai.synth.face import FaceLayout, draw_face
from painxai.synth.look import Shot, SubjectLook
from painxai.synth.raster import Raster
from painxai.synth.scene import backdrop, blanket_rim, camera, distractors, headwear

_MAX_UNIT = 260.0  # pixels per face unit above which a photo is drawn smaller and enlarged


@dataclass(frozen=True)
class Rendering:
    """One drawn photo, its region label map, face box and keypoints."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    label_map: np.ndarray  # (H, W) uint8, value i + 1 = REGIONS[i], 0 elsewhere
    face_box: tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels, tight box of the visible face
    keypoints: dict[str, tuple[float, float]]  # right_eye, left_eye, nose, mouth, chin -> (x, y) pixels


def render(look: SubjectLook, shot: Shot, cues: dict[str, float]) -> Rendering:
    """Draw one photo.

    ``cues`` maps ``brow``, ``eyes``, ``nasolabial`` and ``mouth`` to an intensity in [0, 1]
    (0: relaxed). Returns the RGB image, the region label map, the face box and the keypoints.
    """
    for name in ("brow", "eyes", "nasolabial", "mouth"):
        if not 0.0 <= cues[name] <= 1.0:
            raise ValueError(f"cue {name!r} must be in [0, 1], got {cues[name]}")
    width, height = shot.frame
    # Big photos are drawn at about 300 pixels per face unit and enlarged by the same warp that
    # applies the roll: the drawing cost stays bounded, and the label map goes through the same warp.
    zoom = min(1.0, _MAX_UNIT / shot.unit)
    margin = round(0.08 * max(width, height) * zoom)
    canvas_shape = (math.ceil(height * zoom) + 2 * margin, math.ceil(width * zoom) + 2 * margin)
    center = (shot.center[0] * zoom + margin, shot.center[1] * zoom + margin)
    layout = FaceLayout(look, shot, cues)
    full = Raster(center, shot.unit * zoom, (0, 0), canvas_shape)

    canvas = backdrop(full, look, shot)
    visible = np.zeros(canvas_shape, np.uint8)
    labels = np.zeros(canvas_shape, np.uint8)
    draw_face(canvas, visible, labels, full, layout, look, shot)
    headwear(canvas, visible, full, layout, look, shot)
    blanket_rim(canvas, visible, full, layout, look)
    distractors(canvas, full, layout, look, shot)
    labels[visible == 0] = 0

    # The camera's light fall-off, blur and noise are applied before the enlargement, so that big
    # photos cost no more than small ones; the enlarged noise looks like a compressed sensor's.
    canvas = camera(canvas, shot, zoom)
    matrix: np.ndarray = cv2.getRotationMatrix2D(center, shot.roll, 1.0 / zoom)
    matrix[:, 2] += (shot.center[0] - center[0], shot.center[1] - center[1])
    image = cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    label_map = cv2.warpAffine(labels, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    face = cv2.warpAffine(visible, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    x, y, w, h = cv2.boundingRect(face)
    if w == 0 or h == 0:
        raise RuntimeError("the drawn face left the frame; the framing in draw_shot is wrong")
    points = np.array(list(layout.keypoints().values()))
    keypoints = dict(zip(layout.keypoints(), apply_affine(matrix, full.px(points)), strict=True))
    return Rendering(
        image=image,
        label_map=label_map,
        face_box=(float(x), float(y), float(x + w), float(y + h)),
        keypoints={k: (float(v[0]), float(v[1])) for k, v in keypoints.items()},
    )
