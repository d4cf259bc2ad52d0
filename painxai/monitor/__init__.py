"""Continuous monitoring: a video or a camera followed frame by frame (docs/MONITOR.md).

- :mod:`~painxai.monitor.video`: reading a video file or upload with PyAV, and refusing a bad one in one sentence;
- :mod:`~painxai.monitor.track`: the face, found by the detector every few frames and followed by its landmarks in
  between, with the input gate applied to every frame;
- :mod:`~painxai.monitor.timeline`: temporal smoothing (an EMA over time), the pain state with hysteresis, alerts;
- :mod:`~painxai.monitor.session`: one monitoring session (gate, fold-ensemble probabilities, timeline) and
  :func:`~painxai.monitor.session.follow_video`, which skips frames rather than lag;
- :mod:`~painxai.monitor.summary`: the session summary as CSV and PDF bytes, built in memory.

Frames live only in memory: nothing here writes or logs a frame.
"""
