"""The face of a synthetic newborn: its layout for one photo, and its skin, features and pain cues.

Skin is shaded from a height field (a head ellipsoid with cheek, nose, lip and brow bumps, minus the
creases of the pain cues), so creases and bulges look like relief rather than painted lines. The region
label map is filled from the same layout (:meth:`FaceLayout.region_polygons`), so the masks match the
pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from painxai.data.regions import REGIONS
from painxai.synth.look import Shot, SubjectLook
from painxai.synth.raster import (
    SHIFT,
    Color,
    Patch,
    Raster,
    angular_bump,
    band_polygon,
    bezier_points,
    blend,
    ellipse_points,
    ramp,
    smooth_noise,
    superellipse_points,
    whole,
)

_DARK_LINE: Color = (0.16, 0.09, 0.08)
_MOUTH_INSIDE: Color = (0.30, 0.07, 0.08)
_TONGUE: Color = (0.86, 0.44, 0.48)
_REGION_ID = {name: index + 1 for index, name in enumerate(REGIONS)}


class FaceLayout:
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
        squeeze = ramp(cues["eyes"], 0.1, 1.0)
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
        cheeks = angular_bump(theta, math.radians(35), 0.5) + angular_bump(theta, math.radians(145), 0.5)
        chin = angular_bump(theta, math.radians(90), 0.25)
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
        return bezier_points(wing, pull, end)

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
        mouth = superellipse_points(self.mouth_x, self.mouth_y, *self.mouth_region, max(self.mouth_exponent, 2.5))
        chin_top = self.mouth_y + self.mouth_region[1]
        chin = np.array([[self.mouth_x - 0.2, chin_top], [self.mouth_x + 0.2, chin_top], [0.14, 0.6], [-0.14, 0.6]])
        nasolabial = [band_polygon(self.nasolabial_curve(side), 0.035) for side in (-1, 1)]
        top_x = (self.eyes[0][1] + self.eyes[1][1]) / 2
        wide = look.nose_width + 0.015
        nose = np.array([
            [top_x - 0.035, look.eye_y + 0.01], [top_x + 0.035, look.eye_y + 0.01],
            [self.nose_x + wide, look.nose_y - 0.015], [self.nose_x + wide, look.nose_y + 0.03],
            [self.nose_x + 0.02, look.nose_y + 0.045], [self.nose_x - 0.02, look.nose_y + 0.045],
            [self.nose_x - wide, look.nose_y + 0.03], [self.nose_x - wide, look.nose_y - 0.015],
        ])
        eyes = [ellipse_points(x, y, half + 0.05, 0.06) for _, x, y, half in self.eyes]
        return [
            ("forehead_brow", [forehead]), ("chin", [chin]), ("nasolabial", nasolabial), ("nose", [nose]),
            ("mouth", [mouth]), ("eyes", eyes),
        ]


class _Skin:
    """The face's region of interest: relief (face units), crease occlusion and albedo being built up."""

    def __init__(self, roi: Raster, relief: np.ndarray, albedo: np.ndarray) -> None:
        self.roi = roi
        self.xs, self.ys = roi.grid()
        self.relief = relief  # (h, w) height above the image plane, face units
        self.albedo = albedo  # (h, w, 3) skin and feature colours before shading
        self.occlusion = np.zeros(relief.shape, np.float32)  # how deep in a crease each pixel lies, 0..1
        self.highlights: list[tuple[Patch, float]] = []

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

    def paint(self, patch: Patch, color: Color | np.ndarray, alpha: float = 1.0) -> None:
        """Paint pigment (lips, brows, eyes) on the albedo."""
        blend(self.albedo, patch, color, alpha)


def draw_face(
    canvas: np.ndarray, visible: np.ndarray, labels: np.ndarray, full: Raster, layout: FaceLayout,
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
    albedo *= (1 + 0.06 * look.blotch * smooth_noise(blotches, xs.shape, 9))[..., None]
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
        around = ellipse_points(ex, ey - 0.005, half * 1.35, 0.045, 32)
        skin.paint(roi.mask("fill", around, blur=0.025), _DARK_LINE, 0.3)
    _brows(skin, layout, look)
    _eyes(skin, layout, shot)
    # Nose: nostrils, the wings' outline and a soft furrow down to the upper lip (philtrum).
    for side in (-1, 1):
        nostril = ellipse_points(layout.nose_x + side * look.nose_width * 0.5, nose_y + 0.014, 0.017, 0.010, 24)
        skin.paint(roi.mask("fill", nostril), _DARK_LINE, 0.75)
        wing = bezier_points((layout.nose_x + side * look.nose_width * 0.45, nose_y - 0.02),
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
    blend(canvas[roi.window], whole(skin_alpha), shaded)
    face = (skin_alpha > 0.5).astype(np.uint8)
    visible[roi.window] = face
    label_roi = labels[roi.window]
    for name, polygons in layout.region_polygons():
        cv2.fillPoly(label_roi, [roi.fixed(p) for p in polygons], _REGION_ID[name], cv2.LINE_8, SHIFT)
    label_roi[face == 0] = 0


def _lambert(relief: np.ndarray, unit: float, light: tuple[float, float, float]) -> np.ndarray:
    """Diffuse shading (H, W) of a height field given in face units (slopes capped at the outline)."""
    gy, gx = np.gradient(relief)
    gx = np.clip(gx * unit, -2.0, 2.0)
    gy = np.clip(gy * unit, -2.0, 2.0)
    lx, ly, lz = light
    diffuse = np.clip((lz - gx * lx - gy * ly) / np.sqrt(gx * gx + gy * gy + 1), 0, 1)
    return (0.45 + 0.65 * diffuse).astype(np.float32)


def _brows(skin: _Skin, layout: FaceLayout, look: SubjectLook) -> None:
    """Faint brows; the brow-bulge cue lowers and knits them, bulges the brow and cuts glabellar furrows."""
    bulge = layout.cues["brow"]
    eye_y = look.eye_y
    for side, ex, _ey, half in layout.eyes:
        inner = (ex - side * half * (0.9 + 0.25 * bulge), eye_y - 0.088 + 0.025 * bulge)
        middle = (ex + side * half * 0.1, eye_y - 0.11 + 0.012 * bulge)
        outer = (ex + side * half * 1.25, eye_y - 0.088 + 0.006 * bulge)
        brow = bezier_points(inner, middle, outer, 16)
        skin.paint(skin.roi.mask("stroke", brow, 0.024 + 0.01 * bulge, blur=0.006), look.hair, 0.45 + 0.5 * look.brow)
        skin.bump(inner[0] + side * 0.01, inner[1] - 0.025, 0.04, 0.025, 0.05 * bulge)
    if bulge > 0.05:
        # Vertical furrows between the knitted brows, fanning upwards, and a fold above the bulge.
        for side in (-1, 1):
            furrow = bezier_points((side * 0.016, eye_y - 0.065), (side * 0.02, eye_y - 0.12),
                             (side * 0.035, eye_y - 0.175), 12)
            skin.crease(furrow, 0.018 + 0.02 * bulge, 0.025 * bulge, 0.25 + 0.6 * bulge)
            fold = bezier_points((side * 0.05, eye_y - 0.2), (side * 0.11, eye_y - 0.215),
                                 (side * 0.17, eye_y - 0.19), 12)
            skin.crease(fold, 0.014 + 0.01 * bulge, 0.015 * bulge, 0.35 * bulge)


def _eyes(skin: _Skin, layout: FaceLayout, shot: Shot) -> None:
    """Open, half-open, sleeping or squeezed eyes (the eye-squeeze cue)."""
    roi = skin.roi
    squeeze = ramp(layout.cues["eyes"], 0.1, 1.0)
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
                    skin.crease(bezier_points(corner, control, end, 8), 0.01 + 0.008 * squeeze, 0.01 * squeeze,
                                0.2 + 0.4 * squeeze)
            continue
        openness = 1.0 if shot.relaxed_eyes == "open" else 0.5
        upper = np.stack([ex + half * t, ey - 0.042 * openness * (1 - t**2) ** 0.8], axis=1)
        lower = np.stack([ex + half * t, ey + 0.024 * openness * (1 - t**2)], axis=1)
        inside = roi.mask("fill", np.concatenate([upper, lower[::-1]]))
        skin.paint(inside, (0.88, 0.86, 0.85))
        iris_x = ex + shot.gaze * half * 0.5
        skin.paint(roi.mask("fill", ellipse_points(iris_x, ey - 0.004, 0.037, 0.037, 32)).times(inside), look.iris)
        pupil = ellipse_points(iris_x, ey - 0.004, 0.016, 0.016, 24)
        skin.paint(roi.mask("fill", pupil).times(inside), (0.03, 0.03, 0.04))
        skin.paint(roi.mask("stroke", upper, 0.014), _DARK_LINE, 0.85)
        skin.paint(roi.mask("stroke", lower, 0.006), _DARK_LINE, 0.3)
        lashes = [np.array([upper[i], upper[i] + (0.004 * side * (i - 10) / 10, -0.016)]) for i in range(4, 19, 3)]
        skin.paint(roi.mask("stroke", lashes, 0.006), _DARK_LINE, 0.6)
        skin.crease(np.stack([ex + half * 0.85 * t, ey - 0.05 * openness - 0.012 - 0.01 * (1 - t**2)], axis=1),
                    0.012, 0.006, 0.18)
        catchlight = roi.mask("fill", ellipse_points(iris_x - 0.012, ey - 0.016, 0.008, 0.008, 16)).times(inside)
        skin.highlights.append((catchlight, 0.8))


def _mouth(skin: _Skin, layout: FaceLayout, look: SubjectLook, shot: Shot) -> None:
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
    lower_lip = ellipse_points(mx, my + opening / 2 + 0.014, half * 0.7, 0.02 + 0.03 * opening, 32)
    skin.paint(roi.mask("fill", lower_lip, blur=0.006), look.lip, 0.45)
    if opening <= 0:
        t = np.linspace(-1, 1, 17)
        line = np.stack([mx + half * t, my + 0.004 * (1 - t**2) - 0.002], axis=1)
        skin.crease(line, 0.012, 0.01, 0.45)
        skin.paint(roi.mask("stroke", line, 0.009), (0.45, 0.15, 0.15), 0.6)
        return
    hole_shape = superellipse_points(mx, my, half, opening / 2, layout.mouth_exponent)
    if layout.cues["mouth"] >= 0.15:
        lips = superellipse_points(mx, my, half + 0.018, opening / 2 + 0.02, layout.mouth_exponent)
        skin.paint(roi.mask("fill", lips, blur=0.005), look.lip, 0.5)
    hole = roi.mask("fill", hole_shape)
    depth = np.clip((skin.ys[hole.rows, hole.cols] - top) / max(opening, 1e-3), 0, 1)  # dark under the upper lip
    inside = np.array(_MOUTH_INSIDE, np.float32) * (0.55 + 0.5 * depth)[..., None]
    blend(skin.albedo[hole.rows, hole.cols], whole(hole.values), inside)
    if opening > 0.05:
        gum = bezier_points((mx - half * 0.7, top + 0.012), (mx, top + 0.02), (mx + half * 0.7, top + 0.012), 12)
        skin.paint(roi.mask("stroke", gum, 0.012).times(hole), (0.78, 0.45, 0.48), 0.6)
        if shot.tongue:
            tongue = ellipse_points(mx, my + opening * 0.28, half * 0.62, opening * 0.22, 32)
            skin.paint(roi.mask("fill", tongue).times(hole), _TONGUE, 0.9)
            cup = bezier_points((mx - half * 0.5, my + opening * 0.16), (mx, my + opening * 0.26),
                          (mx + half * 0.5, my + opening * 0.16), 12)
            skin.paint(roi.mask("stroke", cup, 0.008).times(hole), (0.55, 0.2, 0.25), 0.6)
    skin.paint(roi.mask("closed", hole_shape, 0.008), (0.35, 0.1, 0.1), 0.5)
    bottom = my + opening / 2
    shine = bezier_points((mx - half * 0.4, bottom + 0.018), (mx, bottom + 0.024),
                          (mx + half * 0.4, bottom + 0.018), 10)
    skin.highlights.append((roi.mask("stroke", shine, 0.006, blur=0.004), 0.18))
