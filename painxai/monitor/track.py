"""The face in a stream of frames: detected every few frames, followed by its landmarks in between.

Every frame passes the input gate (:func:`painxai.inference.gate.screen_photo`) before it is scored:

* on a *detection* frame (the first, every ``detect_every``-th, and any frame after the face was lost)
  the full gate runs: the detector, its score, the face's size and the FaceMesh landmark check;
* on the frames between, the box comes from the previous frame's landmarks (the way MediaPipe's own
  face mesh follows a face: the points of one frame place the next frame's box), and the gate checks its
  size and that the landmarks placed on it pass their quality check. A frame that fails is marked and
  the next frame runs the detector again.

A frame without a usable face is marked with the gate's reason, never scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from painxai.faces.crop import Box

if TYPE_CHECKING:
    from painxai.inference.gate import Screening


@dataclass(frozen=True)
class Sighting:
    """The face on one frame: ``box`` (x0, y0, x1, y1) pixels to crop, None when the frame has no usable face;
    ``reason``: why not ("" when usable); ``detected``: the detector ran on this frame; ``screening``: the
    gate's verdict (its landmarks give the next frame's box)."""

    box: Box | None
    reason: str
    detected: bool
    screening: Screening

    @property
    def found(self) -> bool:
        """True when the frame has a usable face (it may be scored)."""
        return self.box is not None


class FaceTracker:
    """Follows one face through frames; ``detect_every``: run the detector at least every that many frames."""

    def __init__(self, detect_every: int = 5) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.detect_every = detect_every
        self._box: Box | None = None
        self._since_detection = 0
        # The detector's box relative to the landmarks' bounding box when it last ran: (dx0, dy0, dx1, dy1)
        # in units of that bounding box's size, so that followed boxes keep the detector's framing.
        self._offsets = np.zeros(4)

    def sight(self, image: np.ndarray) -> Sighting:
        """The face on the (H, W, 3) uint8 RGB ``image``; updates the box followed to the next frame."""
        from painxai.inference.gate import screen_photo

        if self._box is not None and self._since_detection < self.detect_every:
            self._since_detection += 1
            screening = screen_photo(image, self._box)
            reason = screening.reason
            if not reason and (screening.landmarks is None or not screening.landmarks.ok):
                problems = "the landmark model is missing" if screening.landmarks is None else ", ".join(
                    screening.landmarks.problems)
                reason = f"This frame is not scored: the face followed was lost ({problems})."
            if not reason:
                followed = self._box
                self._box = self._follow(screening)
                return Sighting(followed, "", False, screening)
            self._box = None  # lost: this frame is marked, the next one runs the detector
            return Sighting(None, reason, False, screening)
        screening = screen_photo(image)
        self._since_detection = 1
        if not screening.accepted:
            self._box = None
            return Sighting(None, screening.reason, True, screening)
        box = screening.box
        assert box is not None and screening.landmarks is not None  # accepted: both are set
        low, high = screening.landmarks.points.min(axis=0), screening.landmarks.points.max(axis=0)
        size = np.maximum(high - low, 1.0)
        self._offsets = (np.array(box) - np.concatenate([low, high])) / np.concatenate([size, size])
        self._box = box
        return Sighting(box, "", True, screening)

    def _follow(self, screening: Screening) -> Box:
        """The box for the next frame: this frame's landmarks' bounding box with the detector's framing."""
        assert screening.landmarks is not None
        low, high = screening.landmarks.points.min(axis=0), screening.landmarks.points.max(axis=0)
        size = np.maximum(high - low, 1.0)
        box = np.concatenate([low, high]) + self._offsets * np.concatenate([size, size])
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
