"""The random appearance of one synthetic newborn (:class:`SubjectLook`) and of one photo of it (:class:`Shot`).

A look stays the same across the photos of one subject (skin, proportions, headwear, blanket, cot); a shot
changes from photo to photo (framing, pose, light, camera). Both are plain parameters: drawing them is
:mod:`painxai.synth.draw`'s job. Lengths are in face units (see :mod:`painxai.synth.raster`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from painxai.synth.raster import Color

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


def _pick(rng: np.random.Generator, options: tuple[Color, ...]) -> Color:
    """One colour of ``options``."""
    return options[int(rng.integers(len(options)))]


def _color(values: np.ndarray) -> Color:
    """A numpy RGB triple as a tuple of floats."""
    return (float(values[0]), float(values[1]), float(values[2]))
