"""Anti-aliased drawing in *face units* on OpenCV rasters, for the synthetic twin's photos.

A face is laid out in face units: the origin is the centre of the face, x grows to the right of the
picture, y grows downwards, and the chin is at y = 0.5. A :class:`Raster` maps face units to the pixels
of a canvas (or of a region of it); shapes become :class:`Patch` coverages over their bounding box only,
so a small feature stays cheap on a big photo; :func:`blend` paints a colour through a coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Color = tuple[float, float, float]  # RGB in [0, 1]

SHIFT = 4  # fractional bits of the fixed-point coordinates given to OpenCV's drawing functions
ONE = 1 << SHIFT


class Raster:
    """Maps face units to the pixels of one raster (the canvas, or a region of interest in it)."""

    def __init__(
        self, center: tuple[float, float], unit: float, origin: tuple[int, int], shape: tuple[int, int]
    ) -> None:
        self.center = center
        self.unit = unit
        self.origin = origin  # (x, y) of the raster's top-left pixel on the canvas
        self.shape = shape  # (height, width)

    def around(self, canvas_shape: tuple[int, ...], left: float, right: float, up: float, down: float) -> Raster:
        """The region of a canvas of ``canvas_shape`` from ``left``/``right``/``up``/``down`` face units
        around the centre, clipped to the canvas (its shape may be empty)."""
        height, width = canvas_shape[:2]
        x0 = max(0, int(self.center[0] - left * self.unit))
        x1 = min(width, int(self.center[0] + right * self.unit) + 1)
        y0 = max(0, int(self.center[1] - up * self.unit))
        y1 = min(height, int(self.center[1] + down * self.unit) + 1)
        return Raster(self.center, self.unit, (x0, y0), (max(0, y1 - y0), max(0, x1 - x0)))

    @property
    def window(self) -> tuple[slice, slice]:
        """This raster's (rows, columns) slices of the canvas."""
        x0, y0 = self.origin
        return slice(y0, y0 + self.shape[0]), slice(x0, x0 + self.shape[1])

    def px(self, points: np.ndarray) -> np.ndarray:
        """Face-unit points (N, 2) -> float pixel coordinates (N, 2) on this raster."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        x = points[:, 0] * self.unit + self.center[0] - self.origin[0]
        y = points[:, 1] * self.unit + self.center[1] - self.origin[1]
        return np.stack([x, y], axis=1)

    def fixed(self, points: np.ndarray) -> np.ndarray:
        """Face-unit points (N, 2) -> int32 fixed-point pixel coordinates for OpenCV (shift = SHIFT)."""
        return np.round(self.px(points) * ONE).astype(np.int32)

    def width(self, length: float) -> int:
        """A stroke width in face units -> whole pixels (at least 1)."""
        return max(1, round(length * self.unit))

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Face-unit coordinates (H, W) of every pixel centre of this raster."""
        height, width = self.shape
        xs = (np.arange(width, dtype=np.float32) + self.origin[0] - self.center[0]) / self.unit
        ys = (np.arange(height, dtype=np.float32) + self.origin[1] - self.center[1]) / self.unit
        return np.meshgrid(xs, ys)

    def mask(self, draw: str, points: np.ndarray | list[np.ndarray], width: float = 0.0, blur: float = 0.0) -> Patch:
        """Anti-aliased coverage of a filled polygon or a stroke, over the shape's bounding box only.

        ``draw`` is ``"fill"``, ``"stroke"`` or ``"closed"`` (closed stroke); ``points`` one (N, 2) array
        of face units or a list of them; ``width`` the stroke width and ``blur`` a Gaussian sigma, both in
        face units. Working on the bounding box keeps a small feature cheap on a big photo.
        """
        polygons = points if isinstance(points, list) else [points]
        sigma = max(0.5, blur * self.unit) if blur > 0 else 0.0
        stroke = 0 if draw == "fill" else self.width(width)
        pad = stroke / 2 + 3 * sigma + 2
        corners = self.px(np.concatenate(polygons))
        height, width_px = self.shape
        c0 = int(np.clip(np.floor(corners[:, 0].min() - pad), 0, width_px))
        c1 = int(np.clip(np.ceil(corners[:, 0].max() + pad), c0, width_px))
        r0 = int(np.clip(np.floor(corners[:, 1].min() - pad), 0, height))
        r1 = int(np.clip(np.ceil(corners[:, 1].max() + pad), r0, height))
        canvas = np.zeros((r1 - r0, c1 - c0), np.uint8)
        if canvas.size:
            offset = np.array([c0, r0]) * ONE
            polylines = [self.fixed(p) - offset for p in polygons]
            if draw == "fill":
                cv2.fillPoly(canvas, polylines, 255, cv2.LINE_AA, SHIFT)
            else:
                cv2.polylines(canvas, polylines, draw == "closed", 255, stroke, cv2.LINE_AA, SHIFT)
        values: np.ndarray = canvas.astype(np.float32) / 255.0
        if sigma and values.size:
            values = cv2.GaussianBlur(values, (0, 0), sigma)
        return Patch(values, slice(r0, r1), slice(c0, c1))


@dataclass
class Patch:
    """Coverage in [0, 1] of a shape over the box ``rows`` x ``cols`` of a raster (zero outside)."""

    values: np.ndarray  # (h, w) float32
    rows: slice
    cols: slice

    def times(self, other: Patch | np.ndarray) -> Patch:
        """This coverage multiplied by another patch or by a raster-sized array (H, W)."""
        if isinstance(other, np.ndarray):
            return Patch(self.values * other[self.rows, self.cols], self.rows, self.cols)
        result = np.zeros_like(self.values)
        r0, r1 = max(self.rows.start, other.rows.start), min(self.rows.stop, other.rows.stop)
        c0, c1 = max(self.cols.start, other.cols.start), min(self.cols.stop, other.cols.stop)
        if r1 > r0 and c1 > c0:
            mine = (slice(r0 - self.rows.start, r1 - self.rows.start),
                    slice(c0 - self.cols.start, c1 - self.cols.start))
            theirs = (slice(r0 - other.rows.start, r1 - other.rows.start),
                      slice(c0 - other.cols.start, c1 - other.cols.start))
            result[mine] = self.values[mine] * other.values[theirs]
        return Patch(result, self.rows, self.cols)


def ellipse_points(cx: float, cy: float, ax: float, ay: float, n: int = 48) -> np.ndarray:
    """Points (n, 2) on an axis-aligned ellipse."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)


def superellipse_points(cx: float, cy: float, ax: float, ay: float, exponent: float, n: int = 64) -> np.ndarray:
    """Points (n, 2) on a superellipse |x/ax|^e + |y/ay|^e = 1; e = 2 is an ellipse, larger is squarer."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    power = 2.0 / exponent
    return np.stack([cx + ax * np.sign(c) * np.abs(c) ** power, cy + ay * np.sign(s) * np.abs(s) ** power], axis=1)


def bezier_points(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 24) -> np.ndarray:
    """Points (n, 2) on the quadratic Bezier curve p0 -> p2 pulled towards p1."""
    t = np.linspace(0, 1, n)[:, None]
    a, b, c = np.array(p0), np.array(p1), np.array(p2)
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def band_polygon(curve: np.ndarray, half_width: float) -> np.ndarray:
    """Polygon (2N, 2) of a band of ``half_width`` on both sides of the open curve (N, 2)."""
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return np.concatenate([curve + half_width * normal, (curve - half_width * normal)[::-1]])


def angular_bump(theta: np.ndarray, at: float, width: float) -> np.ndarray:
    """A Gaussian bump in angle (radians), wrapped around the circle."""
    delta = (theta - at + np.pi) % (2 * np.pi) - np.pi
    return np.exp(-((delta / width) ** 2))


def ramp(value: float, start: float, end: float) -> float:
    """0 below ``start``, 1 above ``end``, linear in between."""
    return float(np.clip((value - start) / (end - start), 0.0, 1.0))


def blend(target: np.ndarray, patch: Patch, color: Color | np.ndarray, alpha: float = 1.0) -> None:
    """Blend ``color`` into ``target`` (H, W, 3) float32 under ``patch``'s coverage times ``alpha``.

    ``color`` is one RGB triple or an array (H, W, 3) the size of ``target``.
    """
    region = target[patch.rows, patch.cols]
    if not region.size:
        return
    weight = patch.values * alpha if alpha != 1.0 else patch.values
    if isinstance(color, np.ndarray) and color.ndim == 3:
        paint = np.ascontiguousarray(color[patch.rows, patch.cols], dtype=np.float32)
    else:
        paint = np.empty_like(region)
        paint[:] = np.asarray(color, dtype=np.float32)
    # OpenCV's per-pixel blend is several times faster than numpy broadcasting over 3 channels.
    region[:] = cv2.blendLinear(paint, np.ascontiguousarray(region), weight, 1.0 - weight)


def whole(values: np.ndarray) -> Patch:
    """A patch covering a whole raster."""
    return Patch(values, slice(0, values.shape[0]), slice(0, values.shape[1]))


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise (H, W) float32 in about [-1, 1], with ``cells`` bumps across the width."""
    height, width = shape
    small = rng.uniform(-1, 1, (max(2, cells * height // max(width, 1) + 2), cells + 2)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
