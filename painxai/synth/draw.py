"""Procedural drawing of one synthetic swaddled-newborn photo for :mod:`painxai.synth.twin`.

Only :mod:`painxai.synth.twin` imports this module (it needs OpenCV). A face is laid out in *face units*:
the origin is the centre of the face, x grows to the right of the picture, y grows downwards, and the
chin is at y = 0.5. Everything is drawn on an upright canvas a little larger than the frame, then the
whole canvas is rotated by the camera roll with one affine warp; the region label map is drawn from
the same geometry on the same canvas and goes through the same warp, so masks match the pixels.

Skin is shaded from a height field (a head ellipsoid with cheek, nose, lip and brow bumps, minus the
creases of the pain cues), so creases and bulges look like relief rather than painted lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from painxai.data.regions import REGIONS

Color = tuple[float, float, float]  # RGB in [0, 1]

_SHIFT = 4  # fractional bits of the fixed-point coordinates given to OpenCV's drawing functions
_ONE = 1 << _SHIFT
# Newborn skin, light to dark (RGB in [0, 1]); newborn skin is redder than an adult's of the same tone.
_SKIN_TONES: tuple[Color, ...] = (
    (0.97, 0.80, 0.74), (0.94, 0.72, 0.64), (0.88, 0.70, 0.58), (0.80, 0.59, 0.46), (0.64, 0.44, 0.33),
    (0.47, 0.31, 0.23),
)
_PASTELS: tuple[Color, ...] = (
    (0.96, 0.96, 0.94), (0.93, 0.80, 0.84), (0.76, 0.86, 0.95), (0.97, 0.93, 0.72), (0.80, 0.92, 0.82),
    (0.88, 0.82, 0.93), (0.95, 0.88, 0.80),
)
_STRONG: tuple[Color, ...] = (
    (0.85, 0.20, 0.25), (0.25, 0.45, 0.80), (0.95, 0.60, 0.75), (0.40, 0.70, 0.45), (0.95, 0.75, 0.20),
    (0.55, 0.35, 0.70),
)
_HAIR: tuple[Color, ...] = ((0.10, 0.07, 0.05), (0.22, 0.14, 0.08), (0.40, 0.27, 0.15), (0.62, 0.48, 0.30))
_IRIS: tuple[Color, ...] = ((0.20, 0.22, 0.28), (0.16, 0.11, 0.08), (0.28, 0.30, 0.36))
_DARK_LINE: Color = (0.16, 0.09, 0.08)
_MOUTH_INSIDE: Color = (0.30, 0.07, 0.08)
_TONGUE: Color = (0.86, 0.44, 0.48)
_MAX_UNIT = 260.0  # pixels per face unit above which a photo is drawn smaller and enlarged
_REGION_ID = {name: index + 1 for index, name in enumerate(REGIONS)}


@dataclass(frozen=True)
class SubjectLook:
    """What stays the same across the photos of one newborn (face units unless noted)."""

    skin: Color
    blotch: float  # strength of the blotchy tint of newborn skin, 0..1
    head_width: float  # head half-width / half-height; a newborn's head is a wide oval
    cheek: float  # how far the chubby cheeks bulge out of the oval, fraction of the radius
    eye_gap: float  # half the distance between the eye centres
    eye_width: float  # half-width of one eye
    eye_y: float
    iris: Color
    brow: float  # eyebrow darkness, 0..1 (newborn brows are faint)
    nose_width: float  # half-width of the nose at the nostrils
    nose_y: float
    mouth_width: float  # half-width of the relaxed mouth
    mouth_y: float
    lip: Color
    hair: Color
    cap: Color | None  # knitted cap colour, None: bare head with hair
    cap_stripe: Color | None
    hairline: float  # y of the cap edge or hairline at the centre of the forehead
    bow: Color | None  # hair bow or cap flower
    blanket: Color
    blanket_stripe: Color | None
    incubator: bool  # incubator walls behind, otherwise a printed cot sheet
    sheet: Color
    sheet_print: Color | None
    tube_side: int  # nasal tube with tape: -1 picture-left, +1 picture-right, 0 none
    tape: Color
    pacifier: Color | None  # this baby's pacifier, None when it has none
    texture_seed: int  # seeds the blanket folds and sheet print, fixed per subject


@dataclass(frozen=True)
class Shot:
    """What changes from photo to photo of the same newborn."""

    frame: tuple[int, int]  # (width, height) in pixels
    center: tuple[float, float]  # face centre in the frame, pixels
    unit: float  # pixels per face unit (before the roll)
    roll: float  # in-plane rotation, degrees, counter-clockwise
    yaw: float  # small head turn, sine of the angle; > 0 turns the features to the picture's right
    light: tuple[float, float, float]  # unit direction towards the light (x right, y down, z to the camera)
    exposure: float
    tint: Color  # white balance multiplier
    noise: float  # sensor noise, standard deviation in 0..255 units
    blur: float  # Gaussian blur sigma, pixels
    relaxed_eyes: str  # "open", "half" or "sleep": how the eyes look without the eye-squeeze cue
    ajar: float  # opening of a relaxed mouth (0: closed), face units
    gaze: float  # horizontal iris offset of open eyes, fraction of the eye half-width
    pacifier: bool
    tongue: bool  # a taut tongue shows in a wide-open mouth
    blush: float  # redness of the cheeks and nose, 0..1
    background_shift: tuple[float, float]  # small shift of the background pattern, pixels
    noise_seed: int


@dataclass(frozen=True)
class Rendering:
    """One drawn photo, its region label map, face box and keypoints."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    label_map: np.ndarray  # (H, W) uint8, value i + 1 = REGIONS[i], 0 elsewhere
    face_box: tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels, tight box of the visible face
    keypoints: dict[str, tuple[float, float]]  # right_eye, left_eye, nose, mouth, chin -> (x, y) pixels


def draw_look(rng: np.random.Generator) -> SubjectLook:
    """Draw the appearance of one newborn (skin, face proportions, headwear, blanket, cot)."""
    tone = np.array(_SKIN_TONES[rng.integers(len(_SKIN_TONES))]) * rng.uniform(0.95, 1.04, 3)
    with_cap = rng.random() < 0.65
    return SubjectLook(
        skin=_color(np.clip(tone, 0, 1)),
        blotch=float(rng.uniform(0.0, 0.6)),
        head_width=float(rng.uniform(0.90, 1.02)),
        cheek=float(rng.uniform(0.05, 0.14)),
        eye_gap=float(rng.uniform(0.16, 0.20)),
        eye_width=float(rng.uniform(0.065, 0.080)),
        eye_y=float(rng.uniform(-0.03, 0.02)),
        iris=_pick(rng, _IRIS),
        brow=float(rng.uniform(0.25, 0.7)),
        nose_width=float(rng.uniform(0.050, 0.065)),
        nose_y=float(rng.uniform(0.12, 0.15)),
        mouth_width=float(rng.uniform(0.070, 0.090)),
        mouth_y=float(rng.uniform(0.245, 0.27)),
        lip=_color(np.clip(np.array([0.80, 0.40, 0.42]) * rng.uniform(0.85, 1.05, 3), 0, 1)),
        hair=_pick(rng, _HAIR),
        cap=_pick(rng, _PASTELS + _STRONG) if with_cap else None,
        cap_stripe=_pick(rng, _STRONG) if with_cap and rng.random() < 0.4 else None,
        hairline=float(rng.uniform(-0.36, -0.28) if with_cap else rng.uniform(-0.42, -0.34)),
        bow=_pick(rng, _STRONG) if rng.random() < (0.15 if with_cap else 0.45) else None,
        blanket=_pick(rng, _PASTELS),
        blanket_stripe=_pick(rng, ((0.35, 0.55, 0.85), (0.90, 0.45, 0.55))) if rng.random() < 0.45 else None,
        incubator=bool(rng.random() < 0.4),
        sheet=_pick(rng, _PASTELS),
        sheet_print=_pick(rng, _STRONG) if rng.random() < 0.5 else None,
        tube_side=int(rng.choice([-1, 1])) if rng.random() < 0.3 else 0,
        tape=_pick(rng, ((0.95, 0.93, 0.88), (0.90, 0.80, 0.70), (0.85, 0.90, 0.95))),
        pacifier=_pick(rng, (*_STRONG, (0.9, 0.9, 0.92))) if rng.random() < 0.35 else None,
        texture_seed=int(rng.integers(2**31)),
    )


def draw_shot(
    rng: np.random.Generator,
    look: SubjectLook,
    frame: tuple[int, int],
    face_fraction: tuple[float, float],
    cues: dict[str, float],
) -> Shot:
    """Draw the pose, framing, light and camera of one photo.

    ``frame`` is (width, height) in pixels; ``face_fraction`` the range of the face box height as a
    fraction of the frame height; ``cues`` the four cue intensities (brow, eyes, nasolabial, mouth).
    """
    width, height = frame
    face_height = rng.uniform(*face_fraction) * height
    unit = face_height / (0.5 - look.hairline)
    half_width = 0.62 * unit  # the face with the blanket rim, so that it stays inside the frame
    top, bottom = (look.hairline - 0.05) * unit, 0.55 * unit
    cx = rng.uniform(min(half_width, width / 2), max(width - half_width, width / 2))
    cy = rng.uniform(min(-top, height / 2), max(height - bottom, -top + 1))
    azimuth = rng.uniform(0, 2 * math.pi)
    elevation = rng.uniform(0.55, 0.85)  # z component: mostly frontal hospital light
    side = math.sqrt(1 - elevation**2)
    light = (side * math.cos(azimuth), side * math.sin(azimuth) - 0.15, elevation)
    norm = math.sqrt(sum(v * v for v in light))
    warm = rng.uniform(-0.06, 0.06)
    relaxed_eyes = str(rng.choice(["open", "half", "sleep"], p=[0.35, 0.15, 0.5]))
    return Shot(
        frame=(width, height),
        center=(float(cx), float(cy)),
        unit=float(unit),
        roll=float(rng.uniform(-15, 15)),
        yaw=float(rng.uniform(-0.2, 0.2)),
        light=(light[0] / norm, light[1] / norm, light[2] / norm),
        exposure=float(rng.uniform(0.85, 1.12)),
        tint=(1 + warm, 1.0, 1 - warm),
        noise=float(rng.uniform(1.0, 5.0)),
        blur=float(rng.uniform(0.0, 1.0) * unit / 200),
        relaxed_eyes=relaxed_eyes,
        ajar=float(rng.uniform(0.015, 0.03)) if rng.random() < 0.35 else 0.0,
        gaze=float(rng.uniform(-0.25, 0.25)),
        pacifier=bool(look.pacifier is not None and cues["mouth"] < 0.15 and rng.random() < 0.6),
        tongue=bool(rng.random() < 0.5),
        blush=float(rng.uniform(0.0, 1.0)),
        background_shift=(float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20))),
        noise_seed=int(rng.integers(2**31)),
    )


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
    layout = _Layout(look, shot, cues)
    full = _Raster(center, shot.unit * zoom, (0, 0), canvas_shape)

    canvas = _backdrop(full, look, shot)
    visible = np.zeros(canvas_shape, np.uint8)
    labels = np.zeros(canvas_shape, np.uint8)
    _face(canvas, visible, labels, full, layout, look, shot)
    _headwear(canvas, visible, full, layout, look, shot)
    _blanket_rim(canvas, visible, full, layout, look)
    _distractors(canvas, full, layout, look, shot)
    labels[visible == 0] = 0

    # The camera's light fall-off, blur and noise are applied before the enlargement, so that big
    # photos cost no more than small ones; the enlarged noise looks like a compressed sensor's.
    canvas = _camera(canvas, shot, zoom)
    matrix = cv2.getRotationMatrix2D(center, shot.roll, 1.0 / zoom)
    matrix[:, 2] += (shot.center[0] - center[0], shot.center[1] - center[1])
    image = cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    label_map = cv2.warpAffine(labels, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    face = cv2.warpAffine(visible, matrix, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    x, y, w, h = cv2.boundingRect(face)
    if w == 0 or h == 0:
        raise RuntimeError("the drawn face left the frame; the framing in draw_shot is wrong")
    points = np.array(list(layout.keypoints().values()))
    keypoints = dict(zip(layout.keypoints(), _transform(matrix, full.px(points)), strict=True))
    return Rendering(
        image=image,
        label_map=label_map,
        face_box=(float(x), float(y), float(x + w), float(y + h)),
        keypoints={k: (float(v[0]), float(v[1])) for k, v in keypoints.items()},
    )


# ---------------------------------------------------------------------------------------------------
# Geometry


class _Raster:
    """Maps face units to the pixels of one raster (the canvas, or a region of interest in it)."""

    def __init__(
        self, center: tuple[float, float], unit: float, origin: tuple[int, int], shape: tuple[int, int]
    ) -> None:
        self.center = center
        self.unit = unit
        self.origin = origin  # (x, y) of the raster's top-left pixel on the canvas
        self.shape = shape  # (height, width)

    def around(self, canvas_shape: tuple[int, ...], left: float, right: float, up: float, down: float) -> _Raster:
        """The region of a canvas of ``canvas_shape`` from ``left``/``right``/``up``/``down`` face units
        around the centre, clipped to the canvas (its shape may be empty)."""
        height, width = canvas_shape[:2]
        x0 = max(0, int(self.center[0] - left * self.unit))
        x1 = min(width, int(self.center[0] + right * self.unit) + 1)
        y0 = max(0, int(self.center[1] - up * self.unit))
        y1 = min(height, int(self.center[1] + down * self.unit) + 1)
        return _Raster(self.center, self.unit, (x0, y0), (max(0, y1 - y0), max(0, x1 - x0)))

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
        """Face-unit points (N, 2) -> int32 fixed-point pixel coordinates for OpenCV (shift = _SHIFT)."""
        return np.round(self.px(points) * _ONE).astype(np.int32)

    def width(self, length: float) -> int:
        """A stroke width in face units -> whole pixels (at least 1)."""
        return max(1, round(length * self.unit))

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Face-unit coordinates (H, W) of every pixel centre of this raster."""
        height, width = self.shape
        xs = (np.arange(width, dtype=np.float32) + self.origin[0] - self.center[0]) / self.unit
        ys = (np.arange(height, dtype=np.float32) + self.origin[1] - self.center[1]) / self.unit
        return np.meshgrid(xs, ys)

    def mask(self, draw: str, points: np.ndarray | list[np.ndarray], width: float = 0.0, blur: float = 0.0) -> _Patch:
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
            offset = np.array([c0, r0]) * _ONE
            polylines = [self.fixed(p) - offset for p in polygons]
            if draw == "fill":
                cv2.fillPoly(canvas, polylines, 255, cv2.LINE_AA, _SHIFT)
            else:
                cv2.polylines(canvas, polylines, draw == "closed", 255, stroke, cv2.LINE_AA, _SHIFT)
        values = canvas.astype(np.float32) / 255.0
        if sigma and values.size:
            values = cv2.GaussianBlur(values, (0, 0), sigma)
        return _Patch(values, slice(r0, r1), slice(c0, c1))


@dataclass
class _Patch:
    """Coverage in [0, 1] of a shape over the box ``rows`` x ``cols`` of a raster (zero outside)."""

    values: np.ndarray  # (h, w) float32
    rows: slice
    cols: slice

    def times(self, other: _Patch | np.ndarray) -> _Patch:
        """This coverage multiplied by another patch or by a raster-sized array (H, W)."""
        if isinstance(other, np.ndarray):
            return _Patch(self.values * other[self.rows, self.cols], self.rows, self.cols)
        result = np.zeros_like(self.values)
        r0, r1 = max(self.rows.start, other.rows.start), min(self.rows.stop, other.rows.stop)
        c0, c1 = max(self.cols.start, other.cols.start), min(self.cols.stop, other.cols.stop)
        if r1 > r0 and c1 > c0:
            mine = (slice(r0 - self.rows.start, r1 - self.rows.start),
                    slice(c0 - self.cols.start, c1 - self.cols.start))
            theirs = (slice(r0 - other.rows.start, r1 - other.rows.start),
                      slice(c0 - other.cols.start, c1 - other.cols.start))
            result[mine] = self.values[mine] * other.values[theirs]
        return _Patch(result, self.rows, self.cols)


def _ellipse(cx: float, cy: float, ax: float, ay: float, n: int = 48) -> np.ndarray:
    """Points (n, 2) on an axis-aligned ellipse."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], axis=1)


def _superellipse(cx: float, cy: float, ax: float, ay: float, exponent: float, n: int = 64) -> np.ndarray:
    """Points (n, 2) on a superellipse |x/ax|^e + |y/ay|^e = 1; e = 2 is an ellipse, larger is squarer."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    power = 2.0 / exponent
    return np.stack([cx + ax * np.sign(c) * np.abs(c) ** power, cy + ay * np.sign(s) * np.abs(s) ** power], axis=1)


def _bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 24) -> np.ndarray:
    """Points (n, 2) on the quadratic Bezier curve p0 -> p2 pulled towards p1."""
    t = np.linspace(0, 1, n)[:, None]
    a, b, c = np.array(p0), np.array(p1), np.array(p2)
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def _band(curve: np.ndarray, half_width: float) -> np.ndarray:
    """Polygon (2N, 2) of a band of ``half_width`` on both sides of the open curve (N, 2)."""
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return np.concatenate([curve + half_width * normal, (curve - half_width * normal)[::-1]])


def _transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points (N, 2)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


class _Layout:
    """Where every part of one face is, in face units, for one photo (pose and cues applied)."""

    def __init__(self, look: SubjectLook, shot: Shot, cues: dict[str, float]) -> None:
        self.look, self.cues = look, cues
        self.half_width = 0.5 * look.head_width
        self.head_center_y = -0.06
        self.half_height = 0.56
        self._table_theta = np.linspace(0, 2 * np.pi, 2049)
        self._table_radius = self._exact_radius(self._table_theta)
        yaw = shot.yaw
        # Features nearer the camera move further with a head turn: the nose tip most.
        self.nose_x = 0.2 * yaw
        self.mouth_x = 0.12 * yaw
        self.eyes = []
        squeeze = _ramp(cues["eyes"], 0.1, 1.0)
        for side in (-1, 1):
            half = look.eye_width * (1 - 0.6 * yaw * side) * (1 - 0.2 * squeeze)
            self.eyes.append((side, side * look.eye_gap + 0.12 * yaw, look.eye_y, half))
        mouth = cues["mouth"]
        if mouth >= 0.15:
            self.mouth_open = 0.02 + 0.10 * mouth
            self.mouth_half = look.mouth_width * (0.8 + 0.55 * mouth)
            self.mouth_exponent = 2.0 + 4.0 * mouth
        else:
            self.mouth_open = shot.ajar
            self.mouth_half = look.mouth_width * (0.6 if shot.ajar else 1.0)
            self.mouth_exponent = 2.0
        self.mouth_y = look.mouth_y + 0.3 * self.mouth_open  # the jaw drops as the mouth opens
        # The mouth region holds the lips around the widest opening, whatever is drawn.
        self.mouth_region = (self.mouth_half + 0.04, max(self.mouth_open / 2 + 0.045, 0.05))

    def _exact_radius(self, theta: np.ndarray) -> np.ndarray:
        """Radius of the face outline at angle ``theta`` (radians, y down) from the head centre."""
        a, b = self.half_width, self.half_height
        ellipse = a * b / np.sqrt((b * np.cos(theta)) ** 2 + (a * np.sin(theta)) ** 2)
        cheeks = _angular_bump(theta, math.radians(35), 0.5) + _angular_bump(theta, math.radians(145), 0.5)
        chin = _angular_bump(theta, math.radians(90), 0.25)
        return ellipse * (1 + self.look.cheek * cheeks - 0.04 * chin)

    def radius(self, theta: np.ndarray) -> np.ndarray:
        """Radius of the face outline at angles ``theta`` (radians, any range), from a fine table."""
        return np.interp(np.mod(theta, 2 * np.pi), self._table_theta, self._table_radius).astype(np.float32)

    def hairline_y(self, x: np.ndarray) -> np.ndarray:
        """y of the cap edge or hairline above ``x``: it curves down towards the temples."""
        return self.look.hairline + 0.16 * (x / self.half_width) ** 2

    def nasolabial_curve(self, side: int) -> np.ndarray:
        """The furrow from the nose wing to beyond the mouth corner on one side (N, 2)."""
        look = self.look
        wing = (self.nose_x + side * (look.nose_width + 0.012), look.nose_y + 0.005)
        pull = (self.nose_x + side * (look.nose_width + 0.075), look.nose_y + 0.06)
        end = (self.mouth_x + side * (self.mouth_half + 0.05), self.mouth_y + 0.04)
        return _bezier(wing, pull, end)

    def chin_point(self) -> tuple[float, float]:
        """The keypoint of the chin: between the mouth region and the chin's edge."""
        top = self.mouth_y + self.mouth_region[1]
        return (self.mouth_x * 0.5, (top + 0.47) / 2)

    def keypoints(self) -> dict[str, tuple[float, float]]:
        """Face-unit keypoints; "right_eye" is the newborn's right, on the left of the picture."""
        (_, rx, ry, _), (_, lx, ly, _) = self.eyes
        return {
            "right_eye": (rx, ry),
            "left_eye": (lx, ly),
            "nose": (self.nose_x, self.look.nose_y),
            "mouth": (self.mouth_x, self.mouth_y),
            "chin": self.chin_point(),
        }

    def region_polygons(self) -> list[tuple[str, list[np.ndarray]]]:
        """Region polygons in painting order (later ones win where they overlap)."""
        look = self.look
        eye_top = look.eye_y - 0.055
        forehead = np.array([[-0.5, -0.8], [0.5, -0.8], [0.5, eye_top], [-0.5, eye_top]])
        mouth = _superellipse(self.mouth_x, self.mouth_y, *self.mouth_region, max(self.mouth_exponent, 2.5))
        chin_top = self.mouth_y + self.mouth_region[1]
        chin = np.array([[self.mouth_x - 0.2, chin_top], [self.mouth_x + 0.2, chin_top], [0.14, 0.6], [-0.14, 0.6]])
        nasolabial = [_band(self.nasolabial_curve(side), 0.035) for side in (-1, 1)]
        top_x = (self.eyes[0][1] + self.eyes[1][1]) / 2
        wide = look.nose_width + 0.015
        nose = np.array([
            [top_x - 0.035, look.eye_y + 0.01], [top_x + 0.035, look.eye_y + 0.01],
            [self.nose_x + wide, look.nose_y - 0.015], [self.nose_x + wide, look.nose_y + 0.03],
            [self.nose_x + 0.02, look.nose_y + 0.045], [self.nose_x - 0.02, look.nose_y + 0.045],
            [self.nose_x - wide, look.nose_y + 0.03], [self.nose_x - wide, look.nose_y - 0.015],
        ])
        eyes = [_ellipse(x, y, half + 0.05, 0.06) for _, x, y, half in self.eyes]
        return [
            ("forehead_brow", [forehead]), ("chin", [chin]), ("nasolabial", nasolabial), ("nose", [nose]),
            ("mouth", [mouth]), ("eyes", eyes),
        ]


def _angular_bump(theta: np.ndarray, at: float, width: float) -> np.ndarray:
    """A Gaussian bump in angle (radians), wrapped around the circle."""
    delta = (theta - at + np.pi) % (2 * np.pi) - np.pi
    return np.exp(-((delta / width) ** 2))


def _ramp(value: float, start: float, end: float) -> float:
    """0 below ``start``, 1 above ``end``, linear in between."""
    return float(np.clip((value - start) / (end - start), 0.0, 1.0))


# ---------------------------------------------------------------------------------------------------
# Drawing


def _paint(target: np.ndarray, patch: _Patch, color: Color | np.ndarray, alpha: float = 1.0) -> None:
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


def _whole(values: np.ndarray) -> _Patch:
    """A patch covering a whole raster."""
    return _Patch(values, slice(0, values.shape[0]), slice(0, values.shape[1]))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise (H, W) float32 in about [-1, 1], with ``cells`` bumps across the width."""
    height, width = shape
    small = rng.uniform(-1, 1, (max(2, cells * height // max(width, 1) + 2), cells + 2)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def _backdrop(full: _Raster, look: SubjectLook, shot: Shot) -> np.ndarray:
    """Cot sheet or incubator, and the blanket behind the head, (H, W, 3) float32 RGB on ``full``.

    Drawn at no more than about 480 pixels across and enlarged: it is smooth, and the camera focuses
    on the face anyway.
    """
    shape = full.shape
    scale = min(1.0, 480 / max(shape))
    small_shape = (max(8, round(shape[0] * scale)), max(8, round(shape[1] * scale)))
    center = (full.center[0] * scale, full.center[1] * scale)
    raster = _Raster(center, full.unit * scale, (0, 0), small_shape)
    rng = np.random.default_rng(look.texture_seed)
    canvas = _background(small_shape, look, shot, scale * full.unit / shot.unit, rng)
    _blanket_back(canvas, raster, look, rng)
    if small_shape == shape:
        return canvas
    return cv2.resize(canvas, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _background(
    shape: tuple[int, int], look: SubjectLook, shot: Shot, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """A cot sheet (folds, perhaps a print) or incubator walls, (H, W, 3) float32 RGB."""
    height, width = shape
    base = np.array(look.sheet, np.float32)
    if look.incubator:
        base = base * 0.55 + np.array([0.35, 0.38, 0.40], np.float32) * 0.45
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = base
    canvas *= (1 + 0.10 * _smooth_noise(rng, shape, 6))[..., None]
    sx, sy = shot.background_shift[0] * scale, shot.background_shift[1] * scale
    if look.sheet_print is not None and not look.incubator:
        motif = np.zeros(shape, np.uint8)
        step = max(10, int(max(shape) / 18))
        for row, y in enumerate(range(-step, height + step, step)):
            for x in range(-step, width + step, step):
                jitter = rng.uniform(-0.2, 0.2, 2) * step
                centre = (int(x + jitter[0] + sx + (step // 2) * (row % 2)), int(y + jitter[1] + sy))
                cv2.circle(motif, centre, max(2, step // 7), 255, -1, cv2.LINE_AA)
        _paint(canvas, _whole(motif.astype(np.float32) / 255), look.sheet_print, 0.45)
    if look.incubator:
        # A porthole ring and reflections on the incubator's plastic walls.
        ring = np.zeros(shape, np.uint8)
        centre = (int(rng.uniform(0, width) + sx), int(rng.uniform(-0.2, 0.3) * height + sy))
        cv2.circle(ring, centre, int(0.45 * max(shape)), 255, max(3, int(0.04 * max(shape))), cv2.LINE_AA)
        _paint(canvas, _whole(ring.astype(np.float32) / 255), (0.85, 0.87, 0.88), 0.7)
        streaks = np.zeros(shape, np.uint8)
        for _ in range(3):
            x0 = int(rng.uniform(0, width))
            end = (x0 + int(rng.uniform(-0.3, 0.3) * width), height)
            cv2.line(streaks, (x0, 0), end, 255, max(2, width // 60), cv2.LINE_AA)
        glare = cv2.GaussianBlur(streaks.astype(np.float32) / 255, (0, 0), max(2.0, width / 150))
        _paint(canvas, _whole(glare), (1.0, 1.0, 1.0), 0.35)
    return canvas


def _blanket_back(canvas: np.ndarray, raster: _Raster, look: SubjectLook, rng: np.random.Generator) -> None:
    """The blanket the baby is swaddled in, behind the head and down to the bottom of the canvas."""
    bottom = (canvas.shape[0] - raster.center[1]) / raster.unit + 1
    body = np.concatenate([
        _ellipse(0.0, 0.2, 1.0, 0.95, 64)[np.r_[32:64, 0:1]],  # the upper half (y < 0.2) of the wrap
        np.array([[1.25, 0.6], [1.25, bottom], [-1.25, bottom], [-1.25, 0.6]]),
    ])
    coverage = raster.mask("fill", body)
    cloth = np.empty_like(canvas)
    cloth[:] = np.array(look.blanket, np.float32)
    if look.blanket_stripe is not None:
        stripes = [np.array([[x, -1.0], [x + 0.05, -1.0], [x + 0.05, bottom], [x, bottom]])
                   for x in (-0.75, -0.62, 0.62, 0.75)]
        _paint(cloth, raster.mask("fill", stripes), look.blanket_stripe, 0.8)
    folds = []
    for _ in range(7):
        start = (rng.uniform(-1.2, 1.2), rng.uniform(-0.5, 2.0))
        mid = (start[0] + rng.uniform(-0.4, 0.4), start[1] + rng.uniform(0.2, 0.6))
        folds.append(_bezier(start, mid, (mid[0] + rng.uniform(-0.4, 0.4), mid[1] + rng.uniform(0.2, 0.6))))
    fold_shade = np.zeros(canvas.shape[:2], np.float32)
    patch = raster.mask("stroke", folds, 0.05, blur=0.04)
    fold_shade[patch.rows, patch.cols] = patch.values
    xs, _ = raster.grid()
    # The baby's body lifts the blanket: darker where it falls away at the sides.
    cloth *= (1 - 0.3 * fold_shade + 0.06 * _smooth_noise(rng, canvas.shape[:2], 5)
              - 0.25 * np.clip(np.abs(xs) - 0.6, 0, 1))[..., None]
    _paint(canvas, coverage, cloth)


class _Skin:
    """The face's region of interest: relief (face units), crease occlusion and albedo being built up."""

    def __init__(self, roi: _Raster, relief: np.ndarray, albedo: np.ndarray) -> None:
        self.roi = roi
        self.xs, self.ys = roi.grid()
        self.relief = relief  # (h, w) height above the image plane, face units
        self.albedo = albedo  # (h, w, 3) skin and feature colours before shading
        self.occlusion = np.zeros(relief.shape, np.float32)  # how deep in a crease each pixel lies, 0..1
        self.highlights: list[tuple[_Patch, float]] = []

    def bump(self, x: float, y: float, sx: float, sy: float, amplitude: float) -> None:
        """Add a Gaussian bump (or a dip, amplitude < 0) of sigmas (sx, sy) at (x, y) to the relief."""
        if amplitude == 0:
            return
        box = self.roi.mask("fill", np.array([[x - 3.5 * sx, y - 3.5 * sy], [x + 3.5 * sx, y + 3.5 * sy]]))
        rows, cols = box.rows, box.cols
        gauss = np.exp(-(((self.xs[rows, cols] - x) / sx) ** 2 + ((self.ys[rows, cols] - y) / sy) ** 2) / 2)
        self.relief[rows, cols] += amplitude * gauss

    def crease(self, points: np.ndarray, width: float, depth: float, darkness: float) -> None:
        """Cut a soft groove along ``points`` (face units): lowers the relief and darkens its floor."""
        groove = self.roi.mask("stroke", points, width, blur=0.35 * width)
        self.relief[groove.rows, groove.cols] -= depth * groove.values
        floor = self.occlusion[groove.rows, groove.cols]
        np.maximum(floor, darkness * groove.values, out=floor)

    def paint(self, patch: _Patch, color: Color | np.ndarray, alpha: float = 1.0) -> None:
        """Paint pigment (lips, brows, eyes) on the albedo."""
        _paint(self.albedo, patch, color, alpha)


def _face(
    canvas: np.ndarray, visible: np.ndarray, labels: np.ndarray, full: _Raster, layout: _Layout,
    look: SubjectLook, shot: Shot,
) -> None:
    """Skin, features and cues, shaded from a height field; fills ``visible`` and ``labels``."""
    unit = full.unit
    roi = full.around(canvas.shape, 0.8, 0.8, 0.75, 0.62)
    xs, ys = roi.grid()
    theta = np.arctan2(ys - layout.head_center_y, xs)
    radius = layout.radius(theta).astype(np.float32)
    rho = np.hypot(xs, ys - layout.head_center_y) / radius
    skin_alpha = np.clip((1 - rho) * radius * unit, 0, 1)
    albedo = np.empty((*xs.shape, 3), np.float32)
    albedo[:] = np.array(look.skin, np.float32)
    blotches = np.random.default_rng(look.texture_seed + 7)
    albedo *= (1 + 0.06 * look.blotch * _smooth_noise(blotches, xs.shape, 9))[..., None]
    skin = _Skin(roi, 0.45 * np.sqrt(np.clip(1 - rho**2, 0, 1)), albedo)

    nose_y = look.nose_y
    for side in (-1, 1):  # chubby cheeks
        skin.bump(side * (look.eye_gap + 0.09), look.eye_y + 0.2, 0.12, 0.1, 0.05 + 0.3 * look.cheek)
    skin.bump(layout.nose_x, nose_y - 0.005, 0.045, 0.04, 0.06)
    skin.bump(layout.nose_x * 0.7, (look.eye_y + nose_y) / 2, 0.03, 0.06, 0.02)  # the flat newborn bridge
    for side in (-1, 1):
        skin.bump(layout.nose_x + side * look.nose_width * 0.75, nose_y + 0.012, 0.022, 0.02, 0.02)
    skin.bump(layout.mouth_x, look.mouth_y - 0.03, layout.mouth_half, 0.022, 0.015)
    skin.bump(layout.mouth_x, layout.mouth_y + layout.mouth_open / 2 + 0.03, layout.mouth_half * 0.8, 0.02, 0.012)
    skin.bump(layout.mouth_x * 0.5, 0.42, 0.08, 0.05, 0.02)
    for _, ex, ey, _half in layout.eyes:
        skin.bump(ex, ey + 0.005, 0.08, 0.045, -0.06)  # the eye socket
        skin.bump(ex, ey - 0.07, 0.07, 0.025, 0.012)  # the brow ridge

    for _, ex, ey, half in layout.eyes:
        # Darker, puffy skin around the eyes: what makes a face a face to most detectors.
        skin.paint(roi.mask("fill", _ellipse(ex, ey - 0.005, half * 1.35, 0.045, 32), blur=0.025), _DARK_LINE, 0.3)
    _brows(skin, layout, look)
    _eyes(skin, layout, shot)
    # Nose: nostrils, the wings' outline and a soft furrow down to the upper lip (philtrum).
    for side in (-1, 1):
        nostril = _ellipse(layout.nose_x + side * look.nose_width * 0.5, nose_y + 0.014, 0.017, 0.010, 24)
        skin.paint(roi.mask("fill", nostril), _DARK_LINE, 0.75)
        wing = _bezier((layout.nose_x + side * look.nose_width * 0.45, nose_y - 0.02),
                       (layout.nose_x + side * look.nose_width * 1.15, nose_y - 0.01),
                       (layout.nose_x + side * look.nose_width * 0.85, nose_y + 0.025), 12)
        skin.crease(wing, 0.012, 0.01, 0.22)
    nasolabial = layout.cues["nasolabial"]
    for side in (-1, 1):
        skin.crease(layout.nasolabial_curve(side), 0.018 + 0.022 * nasolabial, 0.02 * nasolabial,
                    0.05 + 0.6 * nasolabial)
        skin.bump(layout.nose_x + side * (look.nose_width + 0.11), nose_y + 0.03, 0.06, 0.05, 0.035 * nasolabial)
    philtrum = np.array([[layout.mouth_x * 0.6 + layout.nose_x * 0.4, nose_y + 0.04],
                         [layout.mouth_x, look.mouth_y - 0.035]])
    skin.crease(philtrum, 0.02, 0.006, 0.08)
    _mouth(skin, layout, look, shot)

    # Newborn cheeks and nose tip are redder.
    redness = np.zeros(xs.shape, np.float32)
    for side in (-1, 1):
        cheek_x, cheek_y = side * (look.eye_gap + 0.08), look.eye_y + 0.17
        redness += np.exp(-(((xs - cheek_x) / 0.1) ** 2 + ((ys - cheek_y) / 0.08) ** 2))
    redness += 0.6 * np.exp(-(((xs - layout.nose_x) / 0.04) ** 2 + ((ys - nose_y) / 0.03) ** 2))
    redness *= 0.10 + 0.12 * shot.blush
    albedo[..., 1] *= 1 - redness
    albedo[..., 2] *= 1 - 0.8 * redness

    shading = _lambert(skin.relief, unit, shot.light) * (1 - skin.occlusion)
    # Soft shadow under the cap edge or hair.
    below_edge = ys - layout.hairline_y(xs)
    shading *= 1 - 0.25 * np.exp(-np.clip(below_edge, 0, None) / 0.03) * (below_edge > -0.02)
    shaded = albedo * shading[..., None]
    for patch, strength in skin.highlights:
        shaded[patch.rows, patch.cols] += strength * patch.values[..., None]
    _paint(canvas[roi.window], _whole(skin_alpha), shaded)
    face = (skin_alpha > 0.5).astype(np.uint8)
    visible[roi.window] = face
    label_roi = labels[roi.window]
    for name, polygons in layout.region_polygons():
        cv2.fillPoly(label_roi, [roi.fixed(p) for p in polygons], _REGION_ID[name], cv2.LINE_8, _SHIFT)
    label_roi[face == 0] = 0


def _lambert(relief: np.ndarray, unit: float, light: tuple[float, float, float]) -> np.ndarray:
    """Diffuse shading (H, W) of a height field given in face units (slopes capped at the outline)."""
    gy, gx = np.gradient(relief)
    gx = np.clip(gx * unit, -2.0, 2.0)
    gy = np.clip(gy * unit, -2.0, 2.0)
    lx, ly, lz = light
    diffuse = np.clip((lz - gx * lx - gy * ly) / np.sqrt(gx * gx + gy * gy + 1), 0, 1)
    return (0.45 + 0.65 * diffuse).astype(np.float32)


def _brows(skin: _Skin, layout: _Layout, look: SubjectLook) -> None:
    """Faint brows; the brow-bulge cue lowers and knits them, bulges the brow and cuts glabellar furrows."""
    bulge = layout.cues["brow"]
    eye_y = look.eye_y
    for side, ex, _ey, half in layout.eyes:
        inner = (ex - side * half * (0.9 + 0.25 * bulge), eye_y - 0.088 + 0.025 * bulge)
        middle = (ex + side * half * 0.1, eye_y - 0.11 + 0.012 * bulge)
        outer = (ex + side * half * 1.25, eye_y - 0.088 + 0.006 * bulge)
        brow = _bezier(inner, middle, outer, 16)
        skin.paint(skin.roi.mask("stroke", brow, 0.024 + 0.01 * bulge, blur=0.006), look.hair, 0.45 + 0.5 * look.brow)
        skin.bump(inner[0] + side * 0.01, inner[1] - 0.025, 0.04, 0.025, 0.05 * bulge)
    if bulge > 0.05:
        # Vertical furrows between the knitted brows, fanning upwards, and a fold above the bulge.
        for side in (-1, 1):
            furrow = _bezier((side * 0.016, eye_y - 0.065), (side * 0.02, eye_y - 0.12),
                             (side * 0.035, eye_y - 0.175), 12)
            skin.crease(furrow, 0.018 + 0.02 * bulge, 0.025 * bulge, 0.25 + 0.6 * bulge)
            fold = _bezier((side * 0.05, eye_y - 0.2), (side * 0.11, eye_y - 0.215), (side * 0.17, eye_y - 0.19), 12)
            skin.crease(fold, 0.014 + 0.01 * bulge, 0.015 * bulge, 0.35 * bulge)


def _eyes(skin: _Skin, layout: _Layout, shot: Shot) -> None:
    """Open, half-open, sleeping or squeezed eyes (the eye-squeeze cue)."""
    roi = skin.roi
    squeeze = _ramp(layout.cues["eyes"], 0.1, 1.0)
    closed = layout.cues["eyes"] >= 0.2 or shot.relaxed_eyes == "sleep"
    look = layout.look
    t = np.linspace(-1, 1, 21)
    for side, ex, ey, half in layout.eyes:
        if closed:
            sag = 0.014 * (1 - squeeze) + 0.004
            lid = np.stack([ex + half * t, ey + sag * (1 - t**2)], axis=1)
            skin.crease(lid, 0.012 + 0.016 * squeeze, 0.01 + 0.02 * squeeze, 0.55 + 0.35 * squeeze)
            skin.paint(roi.mask("stroke", lid, 0.010 + 0.01 * squeeze), _DARK_LINE, 0.6)
            roots = [(ex + half * u, ey + sag * (1 - u**2), u) for u in np.linspace(-0.7, 0.8, 6)]
            lashes = [np.array([[x, y], [x + half * u * 0.1, y + 0.018]]) for x, y, u in roots]
            skin.paint(roi.mask("stroke", lashes, 0.006), _DARK_LINE, 0.5 * (1 - squeeze))
            skin.bump(ex, ey - 0.02, half * 0.8, 0.025, 0.012 + 0.02 * squeeze)  # puffy or squeezed lids
            if squeeze > 0:
                # Folds of the bunched lids above, the cheek pushed up below, creases at the outer corner.
                for ring in range(1 + int(1.6 * squeeze)):
                    lift = 0.028 + 0.02 * ring
                    arc = np.stack([ex + side * 0.1 * half + half * (0.85 - 0.15 * ring) * t,
                                    ey - lift - 0.014 * (1 - t**2)], axis=1)
                    skin.crease(arc, 0.014 + 0.012 * squeeze, 0.015 * squeeze, 0.25 + 0.45 * squeeze)
                arc = np.stack([ex + half * 0.75 * t, ey + 0.03 + 0.008 * (1 - t**2)], axis=1)
                skin.crease(arc, 0.012 + 0.01 * squeeze, 0.012 * squeeze, 0.2 + 0.4 * squeeze)
                corner = (ex + side * half * 1.02, ey + 0.004)
                for bend in (-1, 1):
                    length = 0.03 + 0.03 * squeeze
                    end = (corner[0] + side * length, corner[1] + bend * 0.35 * length)
                    control = (corner[0] + side * length * 0.5, corner[1] + bend * 0.05 * length)
                    skin.crease(_bezier(corner, control, end, 8), 0.01 + 0.008 * squeeze, 0.01 * squeeze,
                                0.2 + 0.4 * squeeze)
            continue
        openness = 1.0 if shot.relaxed_eyes == "open" else 0.5
        upper = np.stack([ex + half * t, ey - 0.042 * openness * (1 - t**2) ** 0.8], axis=1)
        lower = np.stack([ex + half * t, ey + 0.024 * openness * (1 - t**2)], axis=1)
        inside = roi.mask("fill", np.concatenate([upper, lower[::-1]]))
        skin.paint(inside, (0.88, 0.86, 0.85))
        iris_x = ex + shot.gaze * half * 0.5
        skin.paint(roi.mask("fill", _ellipse(iris_x, ey - 0.004, 0.037, 0.037, 32)).times(inside), look.iris)
        skin.paint(roi.mask("fill", _ellipse(iris_x, ey - 0.004, 0.016, 0.016, 24)).times(inside), (0.03, 0.03, 0.04))
        skin.paint(roi.mask("stroke", upper, 0.014), _DARK_LINE, 0.85)
        skin.paint(roi.mask("stroke", lower, 0.006), _DARK_LINE, 0.3)
        lashes = [np.array([upper[i], upper[i] + (0.004 * side * (i - 10) / 10, -0.016)]) for i in range(4, 19, 3)]
        skin.paint(roi.mask("stroke", lashes, 0.006), _DARK_LINE, 0.6)
        skin.crease(np.stack([ex + half * 0.85 * t, ey - 0.05 * openness - 0.012 - 0.01 * (1 - t**2)], axis=1),
                    0.012, 0.006, 0.18)
        catchlight = roi.mask("fill", _ellipse(iris_x - 0.012, ey - 0.016, 0.008, 0.008, 16)).times(inside)
        skin.highlights.append((catchlight, 0.8))


def _mouth(skin: _Skin, layout: _Layout, look: SubjectLook, shot: Shot) -> None:
    """Lips, and the opening: closed, ajar, or open and stretched (the mouth cue), maybe a taut tongue."""
    roi = skin.roi
    mx, my = layout.mouth_x, layout.mouth_y
    half, opening = layout.mouth_half, layout.mouth_open
    top = my - opening / 2
    upper_lip = np.array([
        [mx - half, my], [mx - half * 0.45, top - 0.03], [mx - 0.012, top - 0.022], [mx, top - 0.018],
        [mx + 0.012, top - 0.022], [mx + half * 0.45, top - 0.03], [mx + half, my], [mx, top + 0.004],
    ])
    skin.paint(roi.mask("fill", upper_lip, blur=0.004), look.lip, 0.55)
    lower_lip = _ellipse(mx, my + opening / 2 + 0.014, half * 0.7, 0.02 + 0.03 * opening, 32)
    skin.paint(roi.mask("fill", lower_lip, blur=0.006), look.lip, 0.45)
    if opening <= 0:
        t = np.linspace(-1, 1, 17)
        line = np.stack([mx + half * t, my + 0.004 * (1 - t**2) - 0.002], axis=1)
        skin.crease(line, 0.012, 0.01, 0.45)
        skin.paint(roi.mask("stroke", line, 0.009), (0.45, 0.15, 0.15), 0.6)
        return
    hole_shape = _superellipse(mx, my, half, opening / 2, layout.mouth_exponent)
    if layout.cues["mouth"] >= 0.15:
        lips = _superellipse(mx, my, half + 0.018, opening / 2 + 0.02, layout.mouth_exponent)
        skin.paint(roi.mask("fill", lips, blur=0.005), look.lip, 0.5)
    hole = roi.mask("fill", hole_shape)
    depth = np.clip((skin.ys[hole.rows, hole.cols] - top) / max(opening, 1e-3), 0, 1)  # dark under the upper lip
    inside = np.array(_MOUTH_INSIDE, np.float32) * (0.55 + 0.5 * depth)[..., None]
    _paint(skin.albedo[hole.rows, hole.cols], _whole(hole.values), inside)
    if opening > 0.05:
        gum = _bezier((mx - half * 0.7, top + 0.012), (mx, top + 0.02), (mx + half * 0.7, top + 0.012), 12)
        skin.paint(roi.mask("stroke", gum, 0.012).times(hole), (0.78, 0.45, 0.48), 0.6)
        if shot.tongue:
            tongue = _ellipse(mx, my + opening * 0.28, half * 0.62, opening * 0.22, 32)
            skin.paint(roi.mask("fill", tongue).times(hole), _TONGUE, 0.9)
            cup = _bezier((mx - half * 0.5, my + opening * 0.16), (mx, my + opening * 0.26),
                          (mx + half * 0.5, my + opening * 0.16), 12)
            skin.paint(roi.mask("stroke", cup, 0.008).times(hole), (0.55, 0.2, 0.25), 0.6)
    skin.paint(roi.mask("closed", hole_shape, 0.008), (0.35, 0.1, 0.1), 0.5)
    bottom = my + opening / 2
    shine = _bezier((mx - half * 0.4, bottom + 0.018), (mx, bottom + 0.024), (mx + half * 0.4, bottom + 0.018), 10)
    skin.highlights.append((roi.mask("stroke", shine, 0.006, blur=0.004), 0.18))


def _headwear(
    canvas: np.ndarray, visible: np.ndarray, full: _Raster, layout: _Layout, look: SubjectLook, shot: Shot
) -> None:
    """A knitted cap (with a ribbed brim) or sparse hair, maybe a bow; updates ``visible``."""
    unit = full.unit
    roi = full.around(canvas.shape, 0.75, 0.75, 0.8, 0.2)
    if 0 in roi.shape:
        return
    xs, ys = roi.grid()
    theta = np.arctan2(ys - layout.head_center_y, xs)
    scale = 1.05 if look.cap is not None else 1.0
    rho = np.hypot(xs, ys - layout.head_center_y) / (layout.radius(theta) * scale)
    edge = layout.hairline_y(xs)
    region = canvas[roi.window]
    if look.cap is not None:
        inside = np.clip((1 - rho) * unit * 0.5, 0, 1) * np.clip((edge - ys) * unit, 0, 1)
        cloth = np.empty_like(region)
        cloth[:] = np.array(look.cap, np.float32)
        brim = ys > edge - 0.11
        if look.cap_stripe is not None:
            stripe = ((np.floor((ys - edge) / 0.07) % 3) == 1) & ~brim
            _paint(cloth, _whole(stripe.astype(np.float32)), look.cap_stripe, 0.9)
        knit = 0.5 + 0.5 * np.sin(xs * 2 * np.pi / 0.022 + np.abs(np.sin(ys * 2 * np.pi / 0.04)) * 2)
        rib = 0.5 + 0.5 * np.cos(xs * 2 * np.pi / 0.03)
        texture = np.where(brim, 0.85 + 0.15 * rib, 0.9 + 0.1 * knit)
        # The rolled brim: shadowed at its lower edge and where it folds over the crown.
        fold = np.clip(((edge - 0.11) - ys + 0.02) / 0.03, 0, 1) * (ys < edge - 0.09)
        roll_shade = 1 - 0.35 * np.clip((ys - (edge - 0.02)) / 0.03, 0, 1) - 0.2 * fold
        sphere = 0.55 + 0.45 * np.sqrt(np.clip(1 - rho**2, 0, 1))
        lx, ly, _ = shot.light
        directional = 1 + 0.2 * np.clip(xs * lx + (ys - layout.head_center_y) * ly, -1, 1)
        cloth *= (texture * roll_shade * sphere * directional)[..., None]
        _paint(region, _whole(inside), cloth)
    else:
        # Sparse newborn hair: strands over a translucent tint with a soft hairline.
        inside = np.clip((1 - rho) * unit, 0, 1) * np.clip((edge - ys) / 0.04 + 0.5, 0, 1)
        _paint(region, _whole(inside), look.hair, 0.55)
        rng = np.random.default_rng(look.texture_seed + 3)
        strands = []
        for _ in range(70):
            x = rng.uniform(-0.45, 0.45)
            y = rng.uniform(-0.62, float(layout.hairline_y(np.array(x))) + 0.02)
            bend, sweep = rng.uniform(-0.03, 0.03), rng.uniform(-0.06, 0.06)
            strands.append(_bezier((x, y), (x + bend, y + 0.03), (x + sweep, y + 0.07), 6))
        _paint(region, roi.mask("stroke", strands, 0.006).times((rho < 1).astype(np.float32)), look.hair, 0.7)
    visible[roi.window][inside > 0.5] = 0
    if look.bow is not None:
        side = 1 if look.texture_seed % 2 else -1
        knot = (side * 0.24, look.hairline - 0.09)
        loops = [
            np.array([knot, (knot[0] - 0.11, knot[1] - 0.07), (knot[0] - 0.12, knot[1] + 0.06)]),
            np.array([knot, (knot[0] + 0.11, knot[1] - 0.07), (knot[0] + 0.12, knot[1] + 0.06)]),
        ]
        _paint(region, roi.mask("fill", loops), look.bow, 0.95)
        _paint(region, roi.mask("fill", _ellipse(*knot, 0.03, 0.03, 16)), np.array(look.bow) * 0.7, 1.0)


def _blanket_rim(canvas: np.ndarray, visible: np.ndarray, full: _Raster, layout: _Layout, look: SubjectLook) -> None:
    """The rolled edge of the swaddle around the sides of the face and under the chin, tapering at the ends."""
    theta = np.radians(np.linspace(-40, 220, 80))
    taper = np.sin(np.linspace(0, np.pi, theta.size)) ** 0.5
    middle = layout.radius(theta) + 0.06
    half = 0.08 * taper
    ring = [np.stack([r * np.cos(theta), layout.head_center_y + r * np.sin(theta)], axis=1)
            for r in (middle + half, middle - half)]
    band = np.concatenate([ring[0], ring[1][::-1]])
    ridge = np.stack([(middle + 0.01) * np.cos(theta), layout.head_center_y + (middle + 0.01) * np.sin(theta)], axis=1)
    shadow = full.mask("fill", band, blur=0.03)
    _paint(canvas, shadow, (0.1, 0.08, 0.08), 0.3)
    body = full.mask("fill", band)
    core = full.mask("stroke", ridge[10:-10], 0.05, blur=0.03)
    cloth = np.array(look.blanket, np.float32)
    _paint(canvas, body, cloth * 0.8)
    _paint(canvas, core, np.minimum(cloth * 1.1, 1.0), 0.8)
    covered = visible[body.rows, body.cols]
    covered[body.values > 0.5] = 0


def _distractors(canvas: np.ndarray, full: _Raster, layout: _Layout, look: SubjectLook, shot: Shot) -> None:
    """Things found in NICU photos: a nasal tube with tape, a pacifier."""
    nose_x, nose_y = layout.nose_x, look.nose_y
    if look.tube_side:
        side = look.tube_side
        nostril = (nose_x + side * look.nose_width * 0.5, nose_y + 0.014)
        tube = _bezier(nostril, (side * 0.30, nose_y + 0.06), (side * 0.75, nose_y - 0.1), 24)
        _paint(canvas, full.mask("stroke", tube, 0.032), (0.55, 0.5, 0.45), 0.35)
        _paint(canvas, full.mask("stroke", tube, 0.022), (0.93, 0.92, 0.85), 0.7)
        _paint(canvas, full.mask("stroke", tube + np.array([0, -0.005]), 0.006), (1.0, 1.0, 1.0), 0.6)
        centre = np.array([side * 0.30, nose_y + 0.04])
        angle = math.radians(15 * side + (look.texture_seed % 11 - 5))
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        corners = np.array([[-0.09, -0.05], [0.09, -0.05], [0.09, 0.05], [-0.09, 0.05]]) @ rotation.T + centre
        _paint(canvas, full.mask("fill", corners), look.tape, 0.8)
        _paint(canvas, full.mask("closed", corners, 0.006), np.array(look.tape) * 0.8, 0.6)
    if shot.pacifier and look.pacifier is not None:
        mx, my = layout.mouth_x, layout.mouth_y
        shield = [_ellipse(mx - 0.07, my, 0.09, 0.08, 32), _ellipse(mx + 0.07, my, 0.09, 0.08, 32)]
        _paint(canvas, full.mask("fill", shield, blur=0.01), (0.2, 0.15, 0.15), 0.35)
        _paint(canvas, full.mask("fill", shield), look.pacifier, 0.92)
        _paint(canvas, full.mask("fill", _ellipse(mx, my, 0.04, 0.04, 24)), np.array(look.pacifier) * 0.75, 1.0)
        _paint(canvas, full.mask("closed", _ellipse(mx, my + 0.04, 0.07, 0.06, 32), 0.018), (0.95, 0.95, 0.95), 0.9)
        gleam = _bezier((mx - 0.1, my - 0.05), (mx - 0.05, my - 0.07), (mx, my - 0.065), 8)
        _paint(canvas, full.mask("stroke", gleam, 0.012), (1.0, 1.0, 1.0), 0.5)


def _camera(image: np.ndarray, shot: Shot, zoom: float) -> np.ndarray:
    """Light fall-off, exposure, white balance, blur and sensor noise; float RGB (H, W, 3) -> uint8.

    ``zoom`` is the drawing scale of ``image`` relative to the photo (blur is given in photo pixels).
    """
    height, width = image.shape[:2]
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    lx, ly, _ = shot.light
    falloff = (1 + 0.12 * (xs * lx + ys * ly) - 0.12 * (xs**2 + ys**2)) * shot.exposure
    gains = [np.ascontiguousarray(falloff * gain, dtype=np.float32) for gain in shot.tint]
    image = cv2.multiply(image, cv2.merge(gains))
    if shot.blur * zoom > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), shot.blur * zoom)
    # Luminance noise only: it dominates in phone and NICU camera photos, and costs a third.
    noise = np.random.default_rng(shot.noise_seed).standard_normal((height, width), dtype=np.float32)
    noise *= shot.noise / 255.0
    image = cv2.add(image, cv2.merge([noise, noise, noise]))
    return cv2.convertScaleAbs(np.clip(image, 0.0, 1.0, out=image), alpha=255.0)


def _pick(rng: np.random.Generator, options: tuple[Color, ...]) -> Color:
    """One colour of ``options``."""
    return options[int(rng.integers(len(options)))]


def _color(values: np.ndarray) -> Color:
    """A numpy RGB triple as a tuple of floats."""
    return (float(values[0]), float(values[1]), float(values[2]))
