"""Short synthetic bedside clips with a ground-truth timeline, drawn from the twin's newborns.

A clip is one twin newborn (:func:`painxai.synth.look.draw_look`) filmed for ``seconds``: the head
moves slowly (drift, roll and a small turn), the light changes once (dimmer and warmer over half a
second), a hand passes over the face once (a brief occlusion), and in a pain clip the pain starts and
stops at known times with every cue ramping between its relaxed and its pain intensity over ``ramp_s``.
Each frame is :func:`painxai.synth.draw.render` of the same look with the shot and cues of that instant,
so the cues sit where the twin's photos have them and the models trained on the twin can read them.

The ground truth of each frame (:data:`TRUTH_COLUMNS`): time, the pain level (0 relaxed .. 1 full
pain, the ramp), ``pain`` (level >= 0.5, the label the benchmark scores against), the four cue
intensities, whether the hand covers the face, the light's exposure and the face box.

Clips are written with PyAV (mp4/mov: H.264, webm: VP9, avi: MPEG-4 part 2, y4m: raw I420 for
Chromium's fake camera); a clip's truth goes beside it as ``<clip>.truth.csv`` and its plan as
``<clip>.json``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.synth.twin import CUES, DATASETS, draw_cues

# The clip's codec per file suffix: what PyAV's bundled FFmpeg encodes and the monitor reads back.
CODECS: dict[str, str] = {".mp4": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9", ".avi": "mpeg4",
                          ".y4m": "rawvideo"}
TRUTH_COLUMNS: tuple[str, ...] = (
    "time_s", "level", "pain", *(f"cue_{cue}" for cue in CUES), "occluded", "exposure", "x0", "y0", "x1", "y1",
)
# A frame counts as pain when the ramped level reaches this (the middle of the ramp).
PAIN_LEVEL = 0.5


@dataclass(frozen=True)
class ClipPlan:
    """What happens in one clip, decided before drawing (times in seconds from the first frame).

    ``pain``: (start, end) windows in which the newborn is in pain (level 1 between ``start + ramp_s``
    and ``end``; the ramp down ends at ``end + ramp_s``). ``peak_cues``: the cue intensities (brow, eyes,
    nasolabial, mouth) at full pain; ``rest_cues`` those when relaxed (at most one faint cue).
    ``light_change_s``: when the light dims; ``occlusion``: (start, end) of the hand over the face.
    ``frame``: (width, height) pixels.
    """

    seed: int
    seconds: float
    fps: float
    frame: tuple[int, int]
    pain: tuple[tuple[float, float], ...]
    ramp_s: float
    peak_cues: tuple[float, float, float, float]
    rest_cues: tuple[float, float, float, float]
    light_change_s: float
    occlusion: tuple[float, float]
    subject_seed: int

    @property
    def n_frames(self) -> int:
        """How many frames the clip has."""
        return round(self.seconds * self.fps)


def plan_clip(
    seed: int,
    pain: bool,
    seconds: float = 40.0,
    fps: float = 10.0,
    frame: tuple[int, int] = (320, 240),
    ramp_s: float = 1.5,
) -> ClipPlan:
    """A clip of one twin newborn; ``pain``: one pain episode in its middle third..two thirds, else none.

    The occlusion (1-2 s) and the light change fall in the clip's calm first third (before the pain), so
    that the benchmark's false alarms count them. ``seconds`` >= 10, ``fps`` in [2, 60].
    """
    if seconds < 10 or not 2 <= fps <= 60:
        raise ValueError(f"a clip needs seconds >= 10 and fps in [2, 60]; got {seconds} s at {fps} fps")
    rng = np.random.default_rng((seed, 0xC119))
    windows: tuple[tuple[float, float], ...] = ()
    if pain:
        start = float(rng.uniform(0.35, 0.45) * seconds)
        windows = ((round(start, 2), round(start + float(rng.uniform(0.25, 0.35)) * seconds, 2)),)
    occlusion_start = float(rng.uniform(0.08, 0.18) * seconds)
    return ClipPlan(
        seed=seed, seconds=float(seconds), fps=float(fps), frame=frame, pain=windows, ramp_s=ramp_s,
        peak_cues=draw_cues(rng, True), rest_cues=draw_cues(rng, False),
        light_change_s=round(float(rng.uniform(0.22, 0.3) * seconds), 2),
        occlusion=(round(occlusion_start, 2), round(occlusion_start + float(rng.uniform(1.0, 2.0)), 2)),
        subject_seed=int(rng.integers(2**31)),
    )  # fmt: skip


def pain_level(plan: ClipPlan, time_s: float) -> float:
    """The pain level in [0, 1] at ``time_s``: 0 relaxed, 1 full pain, linear ramps of ``plan.ramp_s``."""
    level = 0.0
    for start, end in plan.pain:
        rise = np.clip((time_s - start) / plan.ramp_s, 0.0, 1.0)
        fall = np.clip(1.0 - (time_s - end) / plan.ramp_s, 0.0, 1.0)
        level = max(level, float(min(rise, fall)))
    return level


@dataclass(frozen=True)
class ClipFrame:
    """One drawn frame: the RGB image (H, W, 3) uint8 and its ground-truth row (:data:`TRUTH_COLUMNS`)."""

    image: np.ndarray
    truth: dict[str, float]


def clip_frames(plan: ClipPlan) -> Iterator[ClipFrame]:
    """Draw the clip's frames in order (about 10-30 ms each at 320x240)."""
    from painxai.synth.draw import render
    from painxai.synth.look import draw_look, draw_shot

    look = draw_look(np.random.default_rng((plan.subject_seed, 2)))
    # The framing of the first frame; the motion below moves it. The twin-UNIFESP face sizes.
    rest = dict(zip(CUES, plan.rest_cues, strict=True))
    base = draw_shot(np.random.default_rng((plan.subject_seed, 3)), look, plan.frame, DATASETS[0].face_fraction, rest)
    base = replace(base, pacifier=False, roll=0.0, yaw=0.0, center=(plan.frame[0] / 2, plan.frame[1] * 0.47))
    phases = np.random.default_rng((plan.subject_seed, 4)).uniform(0, 2 * math.pi, 4)
    width, height = plan.frame
    for index in range(plan.n_frames):
        t = index / plan.fps
        level = pain_level(plan, t)
        cues = {name: max(r, level * p) for name, r, p in zip(CUES, plan.rest_cues, plan.peak_cues, strict=True)}
        # Slow head motion: periods of 5-9 s, a drift of up to 6% of the frame, 8 degrees of roll.
        dimming = float(np.clip((t - plan.light_change_s) / 0.5, 0.0, 1.0))
        shot = replace(
            base,
            center=(base.center[0] + 0.06 * width * math.sin(2 * math.pi * t / 7 + phases[0]),
                    base.center[1] + 0.04 * height * math.sin(2 * math.pi * t / 9 + phases[1])),
            roll=8.0 * math.sin(2 * math.pi * t / 6 + phases[2]),
            yaw=0.12 * math.sin(2 * math.pi * t / 5 + phases[3]),
            exposure=base.exposure * (1.0 - 0.3 * dimming),
            tint=(base.tint[0] * (1 + 0.08 * dimming), base.tint[1], base.tint[2] * (1 - 0.08 * dimming)),
            noise_seed=base.noise_seed + index,  # fresh sensor noise in every frame
        )
        rendering = render(look, shot, cues)
        image = rendering.image
        start, end = plan.occlusion
        occluded = start <= t < end
        if occluded:
            image = _hand_over(image, rendering.face_box, look.skin, (t - start) / (end - start))
        x0, y0, x1, y1 = rendering.face_box
        yield ClipFrame(image, {
            "time_s": round(t, 4), "level": round(level, 4), "pain": float(level >= PAIN_LEVEL),
            **{f"cue_{name}": round(value, 4) for name, value in cues.items()},
            "occluded": float(occluded), "exposure": round(shot.exposure, 4), "x0": x0, "y0": y0, "x1": x1, "y1": y1,
        })  # fmt: skip


def _hand_over(image: np.ndarray, box: tuple[float, float, float, float], skin: tuple[float, float, float],
               progress: float) -> np.ndarray:
    """A hand (palm and four fingers, skin-coloured and shaded) moving across the face from the left.

    ``progress`` in [0, 1) moves it from covering the left half to covering the right half of the face;
    in between it covers the eyes, nose and mouth.
    """
    import cv2

    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    cx = x0 + (0.25 + 0.5 * progress) * (x1 - x0)
    cy = (y0 + y1) / 2 + 0.05 * side
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, (int(cx), int(cy)), (int(0.32 * side), int(0.28 * side)), 15, 0, 360, 255, -1, cv2.LINE_AA)
    for finger in range(4):
        angle = math.radians(-60 + 25 * finger)
        fx, fy = cx + 0.45 * side * math.cos(angle), cy + 0.45 * side * math.sin(angle)
        cv2.ellipse(mask, (int(fx), int(fy)), (int(0.2 * side), int(0.06 * side)), math.degrees(angle), 0, 360, 255, -1,
                    cv2.LINE_AA)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(1.0, side / 60))[..., None]
    # An adult's hand: the newborn's skin tone, a little paler, lit from above.
    shade = np.linspace(1.05, 0.8, image.shape[0], dtype=np.float32)[:, None, None]
    hand = np.array(skin, np.float32)[None, None] * 255 * 0.95 * shade
    return np.clip(image * (1 - alpha) + hand * alpha, 0, 255).astype(np.uint8)


def write_clip(
    path: Path | str, plan: ClipPlan, progress: Callable[[int, int], None] | None = None
) -> pd.DataFrame:
    """Draw ``plan`` and write it to ``path`` (suffix in :data:`CODECS`), its truth to ``<path>.truth.csv``
    and the plan to ``<path>.json`` (each file atomically). Returns the truth as a DataFrame.

    ``progress(done, total)`` after each frame.
    """
    import av

    path = Path(path)
    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"clip suffix must be one of {', '.join(CODECS)}; got {path.name}")
    rows = []
    with atomic.atomic_path(path) as tmp:
        container_format = "yuv4mpegpipe" if codec == "rawvideo" else None
        with av.open(str(tmp), "w", format=container_format or path.suffix.lstrip(".")) as container:
            stream = container.add_stream(codec, rate=_rate(plan.fps))
            assert isinstance(stream, av.VideoStream)  # CODECS are video codecs
            stream.width, stream.height = plan.frame
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "veryfast"}
            for frame in clip_frames(plan):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame.image, format="rgb24")))
                rows.append(frame.truth)
                if progress is not None:
                    progress(len(rows), plan.n_frames)
            container.mux(stream.encode(None))
    truth = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    text = io.StringIO()
    truth.to_csv(text, index=False, quoting=csv.QUOTE_MINIMAL)
    atomic.write_text(truth_path(path), text.getvalue())
    atomic.write_json(plan_path(path), asdict(plan))
    return truth


def truth_path(clip: Path | str) -> Path:
    """Where a clip's ground-truth timeline is: ``<clip>.truth.csv``."""
    return Path(f"{clip}.truth.csv")


def plan_path(clip: Path | str) -> Path:
    """Where a clip's plan is: ``<clip>.json``."""
    return Path(f"{clip}.json")


def read_plan(clip: Path | str) -> ClipPlan:
    """The plan written beside ``clip`` by :func:`write_clip`."""
    import json

    document = json.loads(plan_path(clip).read_text(encoding="utf-8"))
    document["frame"] = tuple(document["frame"])
    document["pain"] = tuple(tuple(window) for window in document["pain"])
    for key in ("peak_cues", "rest_cues", "occlusion"):
        document[key] = tuple(document[key])
    return ClipPlan(**document)


def _rate(fps: float) -> Fraction:
    """``fps`` as an exact fraction (PyAV wants one for the stream's time base)."""
    return Fraction(fps).limit_denominator(1001)
