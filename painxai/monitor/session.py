"""One monitoring session: frames in, per-model fold-ensemble probabilities, a smoothed state and alerts out.

Each processed frame goes through the face tracker and its input gate (:mod:`painxai.monitor.track`); a
frame with a usable face is cropped for each model at its input size and crop margin, and every fold model
of the model's ensemble scores it (the mean over folds is the model's probability). The out-of-fold choice
of Assess does not apply: live footage is nobody's training data. The models' mean probability is the
``combined`` stream, whose state raises the alerts (:mod:`painxai.monitor.timeline`).

:func:`follow_video` feeds a video at up to ``rate`` frames per second of video and, when processing falls
behind the video's own clock, skips frames until it has caught up, so it never lags.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from painxai.faces.crop import Box
from painxai.monitor.timeline import PAIN, Alert, Alerter, Settings, Smoother
from painxai.monitor.track import FaceTracker

if TYPE_CHECKING:
    import pandas as pd

    from painxai.monitor.video import Video
    from painxai.runs.reader import FoldEnsemble, Run

COMBINED = "combined"
# Frames processed per second of video by default: what the demo run's five models keep up with on 2 cores
# (the time per frame is measured in docs/MONITOR.md).
DEFAULT_RATE = 3.0
TIMELINE_COLUMNS: tuple[str, ...] = ("time_s", "model", "probability", "smoothed", "state", "face_found")


@dataclass(frozen=True)
class FrameResult:
    """One processed frame: ``time_s``; ``box`` (None: no usable face, ``reason`` says why); per model
    (and ``combined``) the fold-mean ``probabilities`` (absent when not scored), ``smoothed`` values and
    ``states``; the ``alert`` in progress, if any; ``detected``: the detector ran on it."""

    time_s: float
    box: Box | None
    reason: str
    detected: bool
    probabilities: dict[str, float]
    smoothed: dict[str, float | None]
    states: dict[str, str]
    alert: Alert | None


@dataclass(frozen=True)
class KeptFrame:
    """A processed frame kept in memory (never on disk) so a moment can be explained later."""

    time_s: float
    image: np.ndarray
    box: Box | None


class MonitorSession:
    """Follows one newborn: feed frames with :meth:`process`; read :meth:`timeline` and :attr:`alerts`.

    ``ensembles``: model name -> loaded :class:`FoldEnsemble` (e.g. from ``painxai.inference.warm.STORE``);
    ``keep_s``: keep the processed frames of the last that many seconds in memory (0: none) for
    :meth:`frame_at`.
    """

    def __init__(
        self,
        ensembles: Mapping[str, FoldEnsemble],
        settings: Settings | None = None,
        detect_every: int = 5,
        keep_s: float = 0.0,
    ) -> None:
        if not ensembles:
            raise ValueError("a monitoring session needs at least one model")
        self.ensembles = dict(ensembles)
        self.settings = settings or Settings()
        self.tracker = FaceTracker(detect_every)
        self._smoothers = {name: Smoother(self.settings) for name in [*self.ensembles, COMBINED]}
        self._alerter = Alerter(self.settings)
        self._rows: list[tuple] = []
        self.keep_s = keep_s
        self._kept: deque[KeptFrame] = deque()
        self.frames_processed = 0
        self.frames_scored = 0
        self._warm_scoring()

    def _warm_scoring(self) -> None:
        """Trace each model's fused prediction now (one blank face), not on the first frame: tracing takes
        seconds per model (the store's warm-up traces the maps' function, not this one); later calls, ms."""
        from painxai.explain.ensemble import fused_ensemble

        for ensemble in self.ensembles.values():
            first = ensemble.trunk if ensemble.trunk is not None else ensemble.tails[0]
            fused_ensemble(ensemble).predict(np.zeros((1, *first.inputs[0].shape[1:]), np.float32))

    @property
    def models(self) -> list[str]:
        """The models scored, in order."""
        return list(self.ensembles)

    @property
    def alerts(self) -> list[Alert]:
        """Every alert so far (the last may be ongoing)."""
        return self._alerter.alerts

    def score(self, image: np.ndarray, box: Box) -> dict[str, float]:
        """Each model's fold-mean pain probability (0-1) for the face ``box`` of the (H, W, 3) uint8 ``image``."""
        from painxai.explain.ensemble import fused_ensemble
        from painxai.faces.crop import crop_face

        scores = {}
        for name, ensemble in self.ensembles.items():
            crop, _ = crop_face(image, box, ensemble.size, ensemble.crop_margin)
            folds = fused_ensemble(ensemble).predict(ensemble.preprocess(crop[None]))  # (F, 1)
            scores[name] = float(folds.mean())
        return scores

    def process(self, image: np.ndarray, time_s: float) -> FrameResult:
        """Gate, score and smooth one (H, W, 3) uint8 RGB frame taken at ``time_s`` seconds."""
        sighting = self.tracker.sight(image)
        probabilities = self.score(image, sighting.box) if sighting.box is not None else {}
        if probabilities:
            probabilities[COMBINED] = float(np.mean(list(probabilities.values())))
            self.frames_scored += 1
        self.frames_processed += 1
        smoothed, states = {}, {}
        for name, smoother in self._smoothers.items():
            smoothed[name], states[name] = smoother.update(time_s, probabilities.get(name))
            probability = probabilities.get(name, math.nan)
            self._rows.append((round(time_s, 3), name, probability, smoothed[name], states[name], sighting.found))
        in_pain = [name for name in self.ensembles if states[name] == PAIN]
        alert = self._alerter.update(time_s, smoothed[COMBINED], states[COMBINED], in_pain)
        if self.keep_s > 0:
            self._kept.append(KeptFrame(time_s, image, sighting.box))
            while self._kept and self._kept[0].time_s < time_s - self.keep_s:
                self._kept.popleft()
        return FrameResult(time_s, sighting.box, sighting.reason, sighting.detected, probabilities, smoothed,
                           states, alert)

    def kept_times(self) -> list[float]:
        """The times (s) of the frames kept in memory, oldest first."""
        return [kept.time_s for kept in self._kept]

    def frame_at(self, time_s: float) -> KeptFrame | None:
        """The kept frame nearest to ``time_s`` (None when none is kept)."""
        if not self._kept:
            return None
        return min(self._kept, key=lambda kept: abs(kept.time_s - time_s))

    def timeline(self) -> pd.DataFrame:
        """One row per processed frame and model (and ``combined``): :data:`TIMELINE_COLUMNS`; ``probability``
        is NaN on a frame that was not scored (no usable face)."""
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(TIMELINE_COLUMNS))

    def alert_list(self) -> list[dict[str, object]]:
        """The alerts as JSON-ready dicts (see :meth:`painxai.monitor.timeline.Alert.as_dict`)."""
        return [alert.as_dict() for alert in self.alerts]


@dataclass(frozen=True)
class FollowSummary:
    """How a video was followed: frames decoded, processed, skipped because of ``rate``, skipped to keep up with
    the video's clock; seconds of video; wall seconds spent."""

    frames: int
    processed: int
    skipped_rate: int
    skipped_late: int
    video_s: float
    wall_s: float

    @property
    def speed(self) -> float:
        """Seconds of video per wall second (> 1: faster than real time)."""
        return self.video_s / self.wall_s if self.wall_s > 0 else math.inf

    def line(self) -> str:
        """One sentence for the user."""
        return (f"processed {self.processed} of {self.frames} frames ({self.skipped_rate} skipped for the rate, "
                f"{self.skipped_late} to keep up); {self.video_s:.1f} s of video in {self.wall_s:.1f} s "
                f"({self.speed:.1f}x real time)")


def follow_video(
    video: Video,
    session: MonitorSession,
    rate: float = DEFAULT_RATE,
    realtime: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> FollowSummary:
    """Feed ``video``'s frames to ``session``: at most ``rate`` frames per second of video, and with ``realtime``
    a frame whose time is already past on the wall clock (started at the first frame) is skipped, so the
    results never lag the video. ``progress(done_frames, total_frames_estimate)``; ``on_frame(result)`` after
    each processed frame. Raises :class:`painxai.monitor.video.VideoError` for a bad video."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    total = round(video.info.seconds * video.info.fps) if video.info.seconds and video.info.fps else 0
    frames = processed = skipped_rate = skipped_late = 0
    next_due, last_time = 0.0, 0.0
    started = time.perf_counter()
    for frame in video.frames():
        frames += 1
        last_time = frame.time_s
        if frame.time_s + 1e-6 < next_due:
            skipped_rate += 1
        elif realtime and frame.time_s < time.perf_counter() - started - 1.0 / rate:
            skipped_late += 1  # the wall clock is more than one processing step past this frame
        else:
            result = session.process(frame.rgb(), frame.time_s)
            processed += 1
            next_due = frame.time_s + 1.0 / rate
            if on_frame is not None:
                on_frame(result)
        if progress is not None:
            progress(frames, max(total, frames))
    step = 1.0 / video.info.fps if video.info.fps else 0.0
    return FollowSummary(frames, processed, skipped_rate, skipped_late, last_time + step,
                         time.perf_counter() - started)


def load_models(run: Run, models: str | Sequence[str] = "all") -> dict[str, FoldEnsemble]:
    """The loaded and warmed fold ensembles of ``models`` ("all", "a,b" or a list of names) of ``run``, from the
    process's store (``painxai.inference.warm.STORE``: the dashboard and the command line share it)."""
    from painxai.inference.assess import model_names
    from painxai.inference.warm import STORE

    return {name: STORE.get(run, name) for name in model_names(run, models)}
