"""The face box on Assess: where its check starts (the gate's box, else a centred square to place by hand), the
box the user leaves on the sliders, drawing it; and the face and regions of a Compare image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from painxai.faces.crop import Box

if TYPE_CHECKING:
    from painxai.inference.gate import Screening

#: The centred square shown when the gate finds no face covers this fraction of the photo's shorter side.
HAND_FRACTION = 0.6
MIN_SIDE = 8  # pixels: the smallest box the size slider offers


@dataclass(frozen=True)
class BoxStart:
    """Where the face-box check of one photo starts.

    ``screening``: the input gate's verdict on the whole photo. ``centre_x``, ``centre_y``, ``side``: the
    sliders' start in pixels (the gate's box, else a centred square to move onto the face). ``title``: the
    check's one line; ``warning``: why the box must be placed by hand ("" when the gate found the face);
    ``too_small``: the photo is smaller than any usable box (the gate's reason says so).
    """

    screening: Screening
    centre_x: int
    centre_y: int
    side: int
    title: str
    warning: str
    too_small: bool

    @property
    def found(self) -> bool:
        """The gate found and accepted a face: the box needs no confirmation."""
        return self.screening.accepted


@dataclass(frozen=True)
class BoxChoice:
    """The face box left on the sliders: ``box`` (x0, y0, x1, y1) pixels; ``by_hand``: moved from the gate's box
    or confirmed by the user; ``ready``: the photo may be scored (the gate's box, or one confirmed by hand)."""

    box: Box
    by_hand: bool
    ready: bool


def box_start(shape: Sequence[int], screening: Screening) -> BoxStart:
    """The start of the face-box check of a photo of ``shape`` (H, W[, C]) whose gate verdict is ``screening``."""
    from painxai.inference.gate import MIN_FACE_SIDE

    height, width = int(shape[0]), int(shape[1])
    if screening.accepted and screening.box is not None and screening.search is not None:
        found, warning = screening.box, ""
        title = f"Face box ({screening.search.detector}): {screening.search.message}"
    else:
        found = centred_square_box(shape, fraction=HAND_FRACTION)
        title = "Face box: placed by hand. Open to check or move it."
        warning = (f"{screening.reason} A centred square is shown instead: move and resize it onto the face, then "
                   "confirm it below.")
    centre_x, centre_y, side = (int(v) for v in box_centre_and_side(found))
    return BoxStart(screening, centre_x, centre_y, min(side, height, width), title, warning,
                    too_small=min(height, width) < MIN_FACE_SIDE)


def box_choice(start: BoxStart, centre_x: int, centre_y: int, side: int, confirmed: bool,
               shape: Sequence[int]) -> BoxChoice:
    """The box on the sliders (centre and side in pixels) of a photo of ``shape``. A box the gate found counts
    as by hand once it is moved; one the gate did not find only once the user ``confirmed`` it."""
    moved = (centre_x, centre_y, side) != (start.centre_x, start.centre_y, start.side)
    by_hand = moved if start.found else confirmed
    return BoxChoice(box_from_centre(centre_x, centre_y, side, shape), by_hand, start.found or by_hand)


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
    side = float(min(max(side, float(MIN_SIDE)), min(height, width)))
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


def face_and_regions(
    image: np.ndarray, box: Box | None, image_path: str | None = None
) -> tuple[Box | None, np.ndarray | None]:
    """The face box and region label map (H, W) uint8 (or None) of one photo for the Compare grid.

    ``box`` from the manifest wins, else the detector's face (None: centred square). Regions: the one rule
    of :func:`painxai.faces.landmarks.region_map` (the masks stored beside ``image_path``, else FaceMesh
    landmark regions when they pass their quality checks).
    """
    from painxai.faces.detection import locate_face
    from painxai.faces.landmarks import region_map

    used_box, _search, face = locate_face(image, box)
    return used_box, region_map(image, image_path, face=face).label_map
