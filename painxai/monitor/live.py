"""A live camera followed frame by frame: the callback a WebRTC stream calls for each frame it receives.

The stream (streamlit-webrtc on the Monitor page) hands every camera frame to :meth:`LiveMonitor.callback` in its
own thread and shows the frame the callback returns. A frame is processed (gate, scores, smoothing) only when
``1 / rate`` seconds have passed since the last processed one and no other is being processed; every other frame
is returned at once with the last face box drawn, so the picture never lags the camera. Times are seconds since
the first frame. Frames stay in memory (the session keeps the last ``keep_s`` seconds to explain a moment).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from painxai.monitor.session import DEFAULT_RATE, FrameResult, MonitorSession


class LiveMonitor:
    """Feeds a :class:`MonitorSession` from a camera; ``lock`` guards the session while a page reads it."""

    def __init__(self, session: MonitorSession, rate: float = DEFAULT_RATE) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.session = session
        self.rate = rate
        self.lock = threading.Lock()
        self.last: FrameResult | None = None
        self.error = ""  # a processing failure, in words, for the page to show
        self.frames = 0
        self.latency_s: list[float] = []  # capture -> probability, per processed frame
        self._started: float | None = None
        self._next_due = 0.0

    def callback(self, frame: Any) -> Any:
        """Process ``frame`` (an ``av.VideoFrame``) when due; return it with the current face box drawn."""
        import av
        import cv2

        captured = time.perf_counter()
        self._started = captured if self._started is None else self._started
        now = captured - self._started
        self.frames += 1
        image = frame.to_ndarray(format="rgb24")
        if now >= self._next_due and self.lock.acquire(blocking=False):
            try:
                self.last = self.session.process(image, now)
                self.latency_s.append(time.perf_counter() - captured)
            except Exception as error:  # shown on the page; the stream goes on
                self.error = f"A frame could not be processed: {error}"
            finally:
                self.lock.release()
            self._next_due = now + 1.0 / self.rate
        box = None if self.last is None else self.last.box
        if box is not None:
            x0, y0, x1, y1 = (round(v) for v in box)
            image = image.copy()
            cv2.rectangle(image, (x0, y0), (x1, y1), (0, 200, 0), max(1, image.shape[1] // 200))
        shown = av.VideoFrame.from_ndarray(image, format="rgb24")
        shown.pts, shown.time_base = frame.pts, frame.time_base
        return shown
