"""Everything of a synthetic newborn photo but the face: cot or incubator, blanket, headwear, things
found in NICU photos (a nasal tube with tape, a pacifier), and the camera (light fall-off, blur, noise).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from painxai.synth.face import FaceLayout
from painxai.synth.look import Shot, SubjectLook
from painxai.synth.raster import Raster, bezier_points, blend, ellipse_points, smooth_noise, whole


def backdrop(full: Raster, look: SubjectLook, shot: Shot) -> np.ndarray:
    """Cot sheet or incubator, and the blanket behind the head, (H, W, 3) float32 RGB on ``full``.

    Drawn at no more than about 480 pixels across and enlarged: it is smooth, and the camera focuses
    on the face anyway.
    """
    shape = full.shape
    scale = min(1.0, 480 / max(shape))
    small_shape = (max(8, round(shape[0] * scale)), max(8, round(shape[1] * scale)))
    center = (full.center[0] * scale, full.center[1] * scale)
    raster = Raster(center, full.unit * scale, (0, 0), small_shape)
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
    canvas *= (1 + 0.10 * smooth_noise(rng, shape, 6))[..., None]
    sx, sy = shot.background_shift[0] * scale, shot.background_shift[1] * scale
    if look.sheet_print is not None and not look.incubator:
        motif = np.zeros(shape, np.uint8)
        step = max(10, int(max(shape) / 18))
        for row, y in enumerate(range(-step, height + step, step)):
            for x in range(-step, width + step, step):
                jitter = rng.uniform(-0.2, 0.2, 2) * step
                centre = (int(x + jitter[0] + sx + (step // 2) * (row % 2)), int(y + jitter[1] + sy))
                cv2.circle(motif, centre, max(2, step // 7), 255, -1, cv2.LINE_AA)
        blend(canvas, whole(motif.astype(np.float32) / 255), look.sheet_print, 0.45)
    if look.incubator:
        # A porthole ring and reflections on the incubator's plastic walls.
        ring = np.zeros(shape, np.uint8)
        centre = (int(rng.uniform(0, width) + sx), int(rng.uniform(-0.2, 0.3) * height + sy))
        cv2.circle(ring, centre, int(0.45 * max(shape)), 255, max(3, int(0.04 * max(shape))), cv2.LINE_AA)
        blend(canvas, whole(ring.astype(np.float32) / 255), (0.85, 0.87, 0.88), 0.7)
        streaks = np.zeros(shape, np.uint8)
        for _ in range(3):
            x0 = int(rng.uniform(0, width))
            end = (x0 + int(rng.uniform(-0.3, 0.3) * width), height)
            cv2.line(streaks, (x0, 0), end, 255, max(2, width // 60), cv2.LINE_AA)
        glare = cv2.GaussianBlur(streaks.astype(np.float32) / 255, (0, 0), max(2.0, width / 150))
        blend(canvas, whole(glare), (1.0, 1.0, 1.0), 0.35)
    return canvas


def _blanket_back(canvas: np.ndarray, raster: Raster, look: SubjectLook, rng: np.random.Generator) -> None:
    """The blanket the baby is swaddled in, behind the head and down to the bottom of the canvas."""
    bottom = (canvas.shape[0] - raster.center[1]) / raster.unit + 1
    body = np.concatenate([
        ellipse_points(0.0, 0.2, 1.0, 0.95, 64)[np.r_[32:64, 0:1]],  # the upper half (y < 0.2) of the wrap
        np.array([[1.25, 0.6], [1.25, bottom], [-1.25, bottom], [-1.25, 0.6]]),
    ])
    coverage = raster.mask("fill", body)
    cloth = np.empty_like(canvas)
    cloth[:] = np.array(look.blanket, np.float32)
    if look.blanket_stripe is not None:
        stripes = [np.array([[x, -1.0], [x + 0.05, -1.0], [x + 0.05, bottom], [x, bottom]])
                   for x in (-0.75, -0.62, 0.62, 0.75)]
        blend(cloth, raster.mask("fill", stripes), look.blanket_stripe, 0.8)
    folds = []
    for _ in range(7):
        start = (rng.uniform(-1.2, 1.2), rng.uniform(-0.5, 2.0))
        mid = (start[0] + rng.uniform(-0.4, 0.4), start[1] + rng.uniform(0.2, 0.6))
        folds.append(bezier_points(start, mid, (mid[0] + rng.uniform(-0.4, 0.4), mid[1] + rng.uniform(0.2, 0.6))))
    fold_shade = np.zeros(canvas.shape[:2], np.float32)
    patch = raster.mask("stroke", folds, 0.05, blur=0.04)
    fold_shade[patch.rows, patch.cols] = patch.values
    xs, _ = raster.grid()
    # The baby's body lifts the blanket: darker where it falls away at the sides.
    cloth *= (1 - 0.3 * fold_shade + 0.06 * smooth_noise(rng, canvas.shape[:2], 5)
              - 0.25 * np.clip(np.abs(xs) - 0.6, 0, 1))[..., None]
    blend(canvas, coverage, cloth)


def headwear(
    canvas: np.ndarray, visible: np.ndarray, full: Raster, layout: FaceLayout, look: SubjectLook, shot: Shot
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
            blend(cloth, whole(stripe.astype(np.float32)), look.cap_stripe, 0.9)
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
        blend(region, whole(inside), cloth)
    else:
        # Sparse newborn hair: strands over a translucent tint with a soft hairline.
        inside = np.clip((1 - rho) * unit, 0, 1) * np.clip((edge - ys) / 0.04 + 0.5, 0, 1)
        blend(region, whole(inside), look.hair, 0.55)
        rng = np.random.default_rng(look.texture_seed + 3)
        strands = []
        for _ in range(70):
            x = rng.uniform(-0.45, 0.45)
            y = rng.uniform(-0.62, float(layout.hairline_y(np.array(x))) + 0.02)
            bend, sweep = rng.uniform(-0.03, 0.03), rng.uniform(-0.06, 0.06)
            strands.append(bezier_points((x, y), (x + bend, y + 0.03), (x + sweep, y + 0.07), 6))
        blend(region, roi.mask("stroke", strands, 0.006).times((rho < 1).astype(np.float32)), look.hair, 0.7)
    visible[roi.window][inside > 0.5] = 0
    if look.bow is not None:
        side = 1 if look.texture_seed % 2 else -1
        knot = (side * 0.24, look.hairline - 0.09)
        loops = [
            np.array([knot, (knot[0] - 0.11, knot[1] - 0.07), (knot[0] - 0.12, knot[1] + 0.06)]),
            np.array([knot, (knot[0] + 0.11, knot[1] - 0.07), (knot[0] + 0.12, knot[1] + 0.06)]),
        ]
        blend(region, roi.mask("fill", loops), look.bow, 0.95)
        blend(region, roi.mask("fill", ellipse_points(*knot, 0.03, 0.03, 16)), np.array(look.bow) * 0.7, 1.0)


def blanket_rim(canvas: np.ndarray, visible: np.ndarray, full: Raster, layout: FaceLayout, look: SubjectLook) -> None:
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
    blend(canvas, shadow, (0.1, 0.08, 0.08), 0.3)
    body = full.mask("fill", band)
    core = full.mask("stroke", ridge[10:-10], 0.05, blur=0.03)
    cloth = np.array(look.blanket, np.float32)
    blend(canvas, body, cloth * 0.8)
    blend(canvas, core, np.minimum(cloth * 1.1, 1.0), 0.8)
    covered = visible[body.rows, body.cols]
    covered[body.values > 0.5] = 0


def distractors(canvas: np.ndarray, full: Raster, layout: FaceLayout, look: SubjectLook, shot: Shot) -> None:
    """Things found in NICU photos: a nasal tube with tape, a pacifier."""
    nose_x, nose_y = layout.nose_x, look.nose_y
    if look.tube_side:
        side = look.tube_side
        nostril = (nose_x + side * look.nose_width * 0.5, nose_y + 0.014)
        tube = bezier_points(nostril, (side * 0.30, nose_y + 0.06), (side * 0.75, nose_y - 0.1), 24)
        blend(canvas, full.mask("stroke", tube, 0.032), (0.55, 0.5, 0.45), 0.35)
        blend(canvas, full.mask("stroke", tube, 0.022), (0.93, 0.92, 0.85), 0.7)
        blend(canvas, full.mask("stroke", tube + np.array([0, -0.005]), 0.006), (1.0, 1.0, 1.0), 0.6)
        centre = np.array([side * 0.30, nose_y + 0.04])
        angle = math.radians(15 * side + (look.texture_seed % 11 - 5))
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        corners = np.array([[-0.09, -0.05], [0.09, -0.05], [0.09, 0.05], [-0.09, 0.05]]) @ rotation.T + centre
        blend(canvas, full.mask("fill", corners), look.tape, 0.8)
        blend(canvas, full.mask("closed", corners, 0.006), np.array(look.tape) * 0.8, 0.6)
    if shot.pacifier and look.pacifier is not None:
        mx, my = layout.mouth_x, layout.mouth_y
        shield = [ellipse_points(mx - 0.07, my, 0.09, 0.08, 32), ellipse_points(mx + 0.07, my, 0.09, 0.08, 32)]
        blend(canvas, full.mask("fill", shield, blur=0.01), (0.2, 0.15, 0.15), 0.35)
        blend(canvas, full.mask("fill", shield), look.pacifier, 0.92)
        blend(canvas, full.mask("fill", ellipse_points(mx, my, 0.04, 0.04, 24)), np.array(look.pacifier) * 0.75, 1.0)
        ring = ellipse_points(mx, my + 0.04, 0.07, 0.06, 32)
        blend(canvas, full.mask("closed", ring, 0.018), (0.95, 0.95, 0.95), 0.9)
        gleam = bezier_points((mx - 0.1, my - 0.05), (mx - 0.05, my - 0.07), (mx, my - 0.065), 8)
        blend(canvas, full.mask("stroke", gleam, 0.012), (1.0, 1.0, 1.0), 0.5)


def camera(image: np.ndarray, shot: Shot, zoom: float) -> np.ndarray:
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
