"""The face box on Assess: the centred fallback square, the box adjusted by hand, and drawing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from painxai.faces.crop import Box


def centred_square_box(shape: Sequence[int], fraction: float = 0.9) -> Box:
    """A centred square box covering ``fraction`` of the photo's shorter side, for photos where no face was
    found; the user then moves and resizes it. ``shape`` is the photo's (H, W[, C]); the box is
    ``(x0, y0, x1, y1)`` in pixels."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"a photo needs a positive size, got {height}x{width}")
    side = fraction * min(height, width)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return (x0, y0, x0 + side, y0 + side)


def box_from_centre(centre_x: float, centre_y: float, side: float, shape: Sequence[int]) -> Box:
    """A square box of ``side`` pixels centred on (``centre_x``, ``centre_y``), moved (not shrunk) to stay
    inside a photo of ``shape`` (H, W[, C]) when possible; the form in which the Assess page lets users adjust
    the face box."""
    height, width = int(shape[0]), int(shape[1])
    side = float(min(max(side, 8.0), min(height, width)))
    x0 = float(np.clip(centre_x - side / 2, 0, width - side))
    y0 = float(np.clip(centre_y - side / 2, 0, height - side))
    return (x0, y0, x0 + side, y0 + side)


def box_centre_and_side(box: Box) -> tuple[float, float, float]:
    """Centre x, centre y and side (the longer side of the box) in pixels; the inverse of
    :func:`box_from_centre` for square boxes."""
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)


def draw_box(image: np.ndarray, box: Box, colour: tuple[int, int, int] = (0, 200, 255)) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with ``box`` (pixels) outlined; the line is about 0.5 % of the
    photo's longer side thick so it shows on phone snapshots and multi-megapixel photos alike."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    out = image.copy()
    height, width = image.shape[:2]
    thickness = max(2, round(0.005 * max(height, width)))
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = int(np.clip(x0, 0, width - 1)), int(np.clip(x1, 0, width - 1))
    y0, y1 = int(np.clip(y0, 0, height - 1)), int(np.clip(y1, 0, height - 1))
    out[y0 : min(y0 + thickness, height), x0 : x1 + 1] = colour
    out[max(y1 - thickness + 1, 0) : y1 + 1, x0 : x1 + 1] = colour
    out[y0 : y1 + 1, x0 : min(x0 + thickness, width)] = colour
    out[y0 : y1 + 1, max(x1 - thickness + 1, 0) : x1 + 1] = colour
    return out


def face_and_regions(image: np.ndarray, box: Box | None, image_path: str | None = None) -> tuple[Box | None, Any]:
    """The face box and region label map (H, W) uint8 (or None) of one photo for the Compare grid.

    ``box`` from the manifest wins, else the detector's face (None: centred square). Regions come from the
    ground-truth label map stored beside a twin image (``painxai.data.regions.read_label_map``) when there is one,
    else from FaceMesh landmarks when they pass their quality checks.
    """

    from painxai.data.regions import read_label_map
    from painxai.faces.detection import locate_face
    from painxai.faces.landmarks import photo_regions

    used_box, _search, face = locate_face(image, box)
    truth = None if image_path is None else read_label_map(image_path, image.shape)
    return used_box, truth if truth is not None else photo_regions(image, face)[1]

