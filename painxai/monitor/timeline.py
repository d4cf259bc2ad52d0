"""From per-frame probabilities to a state and alerts: an EMA over time, hysteresis, and a hold time.

* **Smoothing**: an exponential moving average in *time*, not in frames, so that skipped frames and a
  varying frame rate do not change its meaning: after a gap of ``dt`` seconds a new probability gets the
  weight ``1 - exp(-dt / tau_s)``.
* **State** with hysteresis: "pain" once the smoothed probability reaches ``on``, back to "no pain" only
  when it falls to ``off`` (< ``on``), so a value near one threshold does not flicker. Frames without a
  usable face are not scored: the smoothed value and state hold for ``hold_s`` seconds, then the state is
  "unknown" (an alert in progress ends there).
* **Alert**: raised when the state has stayed "pain" for ``alert_after_s`` seconds; it ends when the state
  leaves "pain". Its ``start_s`` is when the state entered pain, ``raised_s`` when the alert was raised,
  ``end_s`` when it ended (the last frame's time when the video ended first), ``peak`` the highest
  smoothed probability in it, ``models`` those whose own smoothed state was pain during it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PAIN, NO_PAIN, UNKNOWN = "pain", "no pain", "unknown"


@dataclass(frozen=True)
class Settings:
    """Smoothing and alert settings (seconds and probabilities in [0, 1]); see the module docstring."""

    tau_s: float = 2.0
    on: float = 0.6
    off: float = 0.4
    alert_after_s: float = 3.0
    hold_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.off < self.on <= 1:
            raise ValueError(f"need 0 <= off < on <= 1, got off {self.off}, on {self.on}")
        if self.tau_s <= 0 or self.alert_after_s < 0 or self.hold_s < 0:
            raise ValueError("tau_s must be > 0, alert_after_s and hold_s >= 0")


class Smoother:
    """The smoothed probability and the hysteresis state of one probability stream."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.value: float | None = None
        self.state = UNKNOWN
        self._last_time: float | None = None  # of the last scored frame

    def update(self, time_s: float, probability: float | None) -> tuple[float | None, str]:
        """Feed one frame (``probability`` None: the frame was not scored); returns (smoothed, state)."""
        if probability is None or math.isnan(probability):
            if self._last_time is not None and time_s - self._last_time > self.settings.hold_s:
                self.value, self.state = None, UNKNOWN
            return self.value, self.state
        if self.value is None or self._last_time is None:
            self.value = probability
        else:
            weight = 1.0 - math.exp(-max(0.0, time_s - self._last_time) / self.settings.tau_s)
            self.value += weight * (probability - self.value)
        self._last_time = time_s
        if self.value >= self.settings.on:
            self.state = PAIN
        elif self.value <= self.settings.off or self.state == UNKNOWN:
            self.state = NO_PAIN
        return self.value, self.state


@dataclass
class Alert:
    """One alert (seconds from the start of the video or session); see the module docstring."""

    start_s: float
    raised_s: float
    end_s: float
    peak: float
    models: list[str] = field(default_factory=list)
    ongoing: bool = True

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: start_s, end_s, peak, models, raised_s, ongoing (rounded to milliseconds)."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "peak": round(self.peak, 4),
                "models": sorted(self.models), "raised_s": round(self.raised_s, 3), "ongoing": self.ongoing}


class Alerter:
    """Raises and ends alerts from the combined state, frame by frame."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alerts: list[Alert] = []
        self._pain_since: float | None = None
        self._peak = 0.0
        self._models: set[str] = set()

    @property
    def active(self) -> Alert | None:
        """The alert in progress, or None."""
        return self.alerts[-1] if self.alerts and self.alerts[-1].ongoing else None

    def update(self, time_s: float, smoothed: float | None, state: str, models_in_pain: list[str]) -> Alert | None:
        """Feed one frame's combined smoothed value and state; returns the alert in progress (or None)."""
        if state != PAIN:
            alert = self.active
            if alert is not None:
                alert.ongoing, alert.end_s = False, time_s
            self._pain_since = None
            return None
        if self._pain_since is None:
            self._pain_since, self._peak, self._models = time_s, 0.0, set()
        self._peak = max(self._peak, smoothed or 0.0)
        self._models.update(models_in_pain)
        alert = self.active
        if alert is None and time_s - self._pain_since >= self.settings.alert_after_s:
            alert = Alert(self._pain_since, time_s, time_s, self._peak)
            self.alerts.append(alert)
        if alert is not None:
            alert.end_s, alert.peak, alert.models = time_s, self._peak, sorted(self._models)
        return alert
