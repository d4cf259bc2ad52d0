"""Square face crops and the transform that maps points, boxes, masks and heatmaps between photo and crop.

One implementation for training, the CLI and the dashboard, so a heatmap computed on a crop lands on
the same photo pixels everywhere.

Coordinates. Points and boxes are ``(x, y)`` floats in pixels with the *edge* convention: pixel
``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``, so its centre is ``(j + 0.5, i + 0.5)`` and the
box ``(0, 0, W, H)`` is the whole photo. Detectors that report normalised coordinates times the image
size use the same convention. OpenCV samples at pixel centres (integers), so the matrices are
shifted by half a pixel where they meet ``cv2`` (:func:`cv2_matrix`).

Pixels outside the photo. A face near the border gives a square that reaches past the photo. Those
pixels are filled by *edge replication*, not a constant grey: a constant fill draws a sharp straight
edge whose position says where the face sat in the photo, a cue a CNN (and its Grad-CAM) latches onto
and that differs between the small UNIFESP frames and the large iCOPE photos. Replication adds no
new edge, and it is what the paper's augmentation (Keras ``fill_mode='nearest'``) does to the
borders of its samples, so padded crops and augmented samples look alike. Region label maps are the
exception: outside the photo there is no region, so they are filled with 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from painxai.errors import RequestError

Box = tuple[float, float, float, float]

#: The crop's margin when a run or profile names none: a quarter of the face box's longer side on each
#: side keeps the forehead, chin and cheeks that the NFCS cues need (the paper states no value; docs/TRAINING.md).
DEFAULT_MARGIN = 0.25


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 image of shape (H, W, 3), got {getattr(image, 'dtype', type(image))} "
            f"{getattr(image, 'shape', '')}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"the image is empty: shape {image.shape}")


def _check_box(box: Box) -> Box:
    values = tuple(float(v) for v in box)
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"a box is 4 finite numbers (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = values
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box {values} must have x0 < x1 and y0 < y1")
    return values


def as_box(values: Iterable[float]) -> Box:
    """Four numbers ``(x0, y0, x1, y1)`` (a manifest's, a detector's, a caller's) as a Box of Python floats."""
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``matrix`` to ``points`` (N, 2) float ``(x, y)``; returns (N, 2) float64."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {points.shape}")
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse (2, 3) of an invertible 2x3 affine ``matrix``."""
    full = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_box(matrix: np.ndarray, box: Box) -> Box:
    """Bounding box ``(x0, y0, x1, y1)`` of the 4 corners of ``box`` moved by the 2x3 ``matrix``."""
    x0, y0, x1, y1 = _check_box(box)
    corners = apply_affine(matrix, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    low, high = corners.min(axis=0), corners.max(axis=0)
    return (float(low[0]), float(low[1]), float(high[0]), float(high[1]))


def cv2_matrix(matrix: np.ndarray) -> np.ndarray:
    """Convert an edge-convention 2x3 matrix (see the module doc) to OpenCV's pixel-centre convention.

    ``q = A p`` with ``p = p_cv + 0.5`` and ``q_cv = q - 0.5`` gives ``q_cv = A p_cv + (A·(0.5, 0.5) - 0.5)``.
    """
    matrix = np.asarray(matrix, dtype=np.float64).copy()
    matrix[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return matrix


def square_box(box: Box | None, margin: float, shape: tuple[int, ...]) -> Box:
    """The square crop window around a face box, in photo pixels (it may reach past the photo).

    Parameters
    ----------
    box: face box ``(x0, y0, x1, y1)`` in photo pixels, or ``None`` for the centred square of side
        ``min(H, W)`` (the fallback when no face is found).
    margin: fraction of the box's longer side added on *each* side (0.25 makes the square 1.5 times
        the longer side).
    shape: the photo's shape ``(H, W, ...)``.

    Returns the square ``(x0, y0, x1, y1)`` with integer corners (so the crop is an exact pixel window,
    shifted by at most half a pixel from the ideal centre). Raises ``ValueError`` for a negative
    margin, ``RequestError`` for a box that does not overlap the photo.
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"the photo is empty: shape {tuple(shape)}")
    if not np.isfinite(margin) or margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if box is None:
        side = min(height, width)
        left, top = (width - side) // 2, (height - side) // 2
        return (float(left), float(top), float(left + side), float(top + side))
    x0, y0, x1, y1 = _check_box(box)
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise RequestError(f"face box {(x0, y0, x1, y1)} lies outside the {width}x{height} photo")
    side = max(1, round(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)))
    left = round((x0 + x1) / 2.0 - side / 2.0)
    top = round((y0 + y1) / 2.0 - side / 2.0)
    return (float(left), float(top), float(left + side), float(top + side))


@dataclass(frozen=True)
class CropTransform:
    """Where a square crop came from: the affine map photo -> crop and the sizes.

    ``matrix`` is the 2x3 map from photo pixels to crop pixels (edge convention, see the module doc);
    ``window`` the square in photo pixels; ``photo_shape`` the photo's ``(H, W)``; ``size`` the crop's side.
    """

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    window: Box
    photo_shape: tuple[int, int]
    size: int

    @property
    def array(self) -> np.ndarray:
        """The photo -> crop matrix as a (2, 3) float64 array."""
        return np.array(self.matrix, dtype=np.float64)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo pixels (N, 2) ``(x, y)`` -> crop pixels (N, 2)."""
        return apply_affine(self.array, points)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Crop pixels (N, 2) ``(x, y)`` -> photo pixels (N, 2)."""
        return apply_affine(invert_affine(self.array), points)

    def box_to_crop(self, box: Box) -> Box:
        """A box in photo pixels -> the same box in crop pixels."""
        return transform_box(self.array, box)

    def map_to_original(self, heatmap: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Put a map computed on the crop (h, w) float (any resolution covering the whole crop, e.g. a
        7x7 Grad-CAM) back onto the photo: returns (H, W) float32, bilinear inside the crop window and
        exactly 0 on photo pixels whose centre lies outside it.

        ``shape`` is the photo's ``(H, W, ...)``; it defaults to the photo this transform was made for.
        """
        import cv2

        heatmap = np.asarray(heatmap, dtype=np.float32)
        if heatmap.ndim != 2 or min(heatmap.shape) < 1:
            raise ValueError(f"a map must have shape (h, w), got {heatmap.shape}")
        height, width = (int(shape[0]), int(shape[1])) if shape is not None else self.photo_shape
        if (height, width) != self.photo_shape:
            raise ValueError(f"this crop was made from a {self.photo_shape} photo, not {(height, width)}")
        map_h, map_w = heatmap.shape
        # photo -> crop -> map grid (the map covers the crop's size x size pixels).
        to_map = np.diag([map_w / self.size, map_h / self.size]) @ self.array
        # Replicate at the map's border so the crop edge keeps its value instead of fading to 0
        # over half a map cell; the window mask below sets the outside to exactly 0.
        photo_map = cv2.warpAffine(
            heatmap,
            cv2_matrix(to_map),
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        x0, y0, x1, y1 = self.window
        columns = np.arange(width) + 0.5
        rows = np.arange(height) + 0.5
        inside = ((rows >= y0) & (rows < y1))[:, None] & ((columns >= x0) & (columns < x1))[None, :]
        photo_map[~inside] = 0.0
        return photo_map

    def crop_label_map(self, label_map: np.ndarray) -> np.ndarray:
        """Crop a region label map (H, W) uint8 of the photo like the image (nearest neighbour, 0 outside
        the photo); returns (size, size) uint8."""
        import cv2

        label_map = np.asarray(label_map)
        if label_map.ndim != 2 or label_map.shape != self.photo_shape:
            raise ValueError(f"label map must have the photo's shape {self.photo_shape}, got {label_map.shape}")
        return cv2.warpAffine(
            label_map.astype(np.uint8),
            cv2_matrix(self.array),
            (self.size, self.size),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )


def crop_face(
    image: np.ndarray, box: Box | None, size: int, margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, CropTransform]:
    """Square crop around a face, enlarged by ``margin`` per side, resized to ``size`` x ``size``.

    Parameters
    ----------
    image: the photo, (H, W, 3) uint8 RGB.
    box: face box ``(x0, y0, x1, y1)`` in photo pixels, or ``None`` for a centred square crop.
    size: side of the returned crop in pixels.
    margin: fraction of the box's longer side added on each side (see :func:`square_box`).

    Returns the crop (size, size, 3) uint8 and its :class:`CropTransform`. Pixels of the window that
    fall outside the photo are edge-replicated (see the module doc for why). Shrinking uses area
    averaging (no aliasing on multi-megapixel photos), enlarging bilinear interpolation.
    """
    import cv2

    _check_image(image)
    if int(size) != size or size < 1:
        raise ValueError(f"crop size must be a positive integer, got {size}")
    size = int(size)
    height, width = image.shape[:2]
    window = square_box(box, margin, image.shape)
    left, top, right, bottom = (int(v) for v in window)
    side = right - left
    # Cut the part of the window inside the photo, then replicate its edges to fill the rest.
    inner = image[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    if inner.size == 0:
        raise ValueError(f"the crop window {window} does not overlap the {width}x{height} photo")
    padded = cv2.copyMakeBorder(
        inner,
        max(0, -top),
        max(0, bottom - height),
        max(0, -left),
        max(0, right - width),
        cv2.BORDER_REPLICATE,
    )
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    crop = cv2.resize(padded, (size, size), interpolation=interpolation)
    scale = size / side
    matrix = ((scale, 0.0, -left * scale), (0.0, scale, -top * scale))
    return crop, CropTransform(matrix=matrix, window=window, photo_shape=(height, width), size=size)
