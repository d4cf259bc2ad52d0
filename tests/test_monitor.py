"""painxai monitor: the timeline logic, the synthetic clips, bad videos, and the command on a generated clip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from painxai.monitor.timeline import NO_PAIN, PAIN, UNKNOWN, Alerter, Settings, Smoother
from painxai.synth.video import TRUTH_COLUMNS, ClipPlan, clip_frames, pain_level, plan_clip


def _cli(*args: str) -> tuple[int, str]:
    from painxai.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _write_video(path: Path, frames: int, size: tuple[int, int] = (96, 64), codec: str = "mpeg4") -> Path:
    """A small video of noise frames (``size`` = width, height) written with PyAV."""
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        container.start_encoding()
        for _ in range(frames):
            image = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


# --- smoothing, state and alerts ----------------------------------------------------------------------------


def test_smoothing_is_in_time_and_the_state_has_hysteresis() -> None:
    settings = Settings(tau_s=1.0, on=0.6, off=0.4, hold_s=2.0)
    smoother = Smoother(settings)
    assert smoother.update(0.0, 0.0) == (0.0, NO_PAIN)
    value, state = smoother.update(1.0, 1.0)  # one time constant later: 1 - 1/e of the way
    assert value == pytest.approx(1 - np.exp(-1)) and state == PAIN
    value, state = smoother.update(1.5, 0.3)  # falls below on (0.6) but not to off (0.4): still pain
    assert 0.4 < value < 0.6 and state == PAIN
    _, state = smoother.update(3.0, 0.0)
    assert state == NO_PAIN
    # A frame without a face holds the value for hold_s, then the state is unknown.
    held = smoother.value
    assert smoother.update(4.0, None) == (held, NO_PAIN)
    assert smoother.update(5.5, None) == (None, UNKNOWN)


def test_an_alert_is_raised_after_the_hold_time_and_ends_with_the_pain() -> None:
    alerter = Alerter(Settings(alert_after_s=3.0))
    for t in np.arange(0, 2.9, 0.5):
        assert alerter.update(float(t), 0.8, PAIN, ["vgg16"]) is None  # 2.5 s of pain: not yet
    alert = alerter.update(3.0, 0.9, PAIN, ["ncnn"])
    assert alert is not None and (alert.start_s, alert.raised_s, alert.peak) == (0.0, 3.0, 0.9)
    assert alerter.update(4.0, 0.3, NO_PAIN, []) is None
    assert alerter.alerts[0].as_dict() == {"start_s": 0.0, "end_s": 4.0, "peak": 0.9, "models": ["ncnn", "vgg16"],
                                           "raised_s": 3.0, "ongoing": False}


# --- synthetic clips ----------------------------------------------------------------------------------------


def test_pain_ramps_between_known_times() -> None:
    plan = plan_clip(3, pain=True, seconds=20, fps=5)
    (start, end), = plan.pain
    assert pain_level(plan, start - 0.1) == 0.0
    assert pain_level(plan, start + plan.ramp_s / 2) == pytest.approx(0.5, abs=0.01)
    assert pain_level(plan, (start + end) / 2) == 1.0
    assert pain_level(plan, end + plan.ramp_s + 0.1) == 0.0
    assert plan_clip(3, pain=False).pain == ()


def test_clip_frames_carry_their_truth() -> None:
    plan = ClipPlan(seed=1, seconds=10, fps=2, frame=(160, 120), pain=((3.0, 6.0),), ramp_s=1.0,
                    peak_cues=(0.9, 0.8, 0.7, 0.9), rest_cues=(0.0, 0.1, 0.0, 0.0), light_change_s=2.0,
                    occlusion=(1.0, 2.0), subject_seed=5)
    frames = list(clip_frames(plan))
    assert len(frames) == 20 and frames[0].image.shape == (120, 160, 3)
    truth = pd.DataFrame([f.truth for f in frames], columns=list(TRUTH_COLUMNS))
    assert truth.loc[truth.time_s.between(4.0, 6.0), "pain"].eq(1).all()
    assert truth.loc[truth.time_s < 3.5, "pain"].eq(0).all()
    assert truth.loc[truth.time_s.between(4.0, 6.0), "cue_brow"].eq(0.9).all()
    assert truth.occluded.sum() == 2  # 1.0 and 1.5 s
    assert truth.exposure.iloc[-1] < truth.exposure.iloc[0]  # the light dimmed
    # The hand changes the pixels over the face: the occluded frame differs from its neighbours there.
    x0, y0, x1, y1 = (int(v) for v in truth.loc[2, ["x0", "y0", "x1", "y1"]])
    face = slice(y0, y1), slice(x0, x1)
    assert np.abs(frames[2].image[face].astype(int) - frames[4].image[face]).mean() > 20


# --- bad videos ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def placeholder_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.runs import build_run

    return build_run(tmp_path_factory.mktemp("monitor") / "run", models=("ncnn",), k=2)


def _truncated(folder: Path) -> Path:
    whole = _write_video(folder / "whole.avi", 40).read_bytes()
    path = folder / "truncated.avi"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _unsupported_codec(folder: Path) -> Path:
    data = _write_video(folder / "mpeg4.avi", 10).read_bytes()
    path = folder / "codec.avi"
    path.write_bytes(data.replace(b"FMP4", b"QQQQ"))  # a FourCC no decoder knows
    return path


def _not_a_video(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("these are notes, not a video\n")
    return path


BAD_VIDEOS = {
    "truncated": (_truncated, "truncated"),
    "zero frames": (lambda folder: _write_video(folder / "empty.mp4", 0, codec="libx264"), "no video frames"),
    "not a video": (_not_a_video, "not a video file"),
    "unsupported codec": (_unsupported_codec, "cannot be decoded here"),
    "4K": (lambda folder: _write_video(folder / "uhd.mp4", 1, (3840, 2160), "libx264"), "3840 x 2160"),
}


@pytest.mark.parametrize("kind", list(BAD_VIDEOS))
def test_a_bad_video_gets_one_clear_sentence(kind: str, tmp_path: Path, placeholder_run: Path) -> None:
    make, expected = BAD_VIDEOS[kind]
    video = make(tmp_path)
    code, output = _cli("monitor", "--run", str(placeholder_run), "--video", str(video), "--out", str(tmp_path / "o"))
    message = " ".join(output.split())  # the console wraps long lines at its width
    assert code == 2, output
    assert message.startswith("error:") and video.name in message and expected in message, output
    assert "Traceback" not in output
    assert not (tmp_path / "o").exists()  # nothing written


# --- following a video --------------------------------------------------------------------------------------


def test_follow_video_skips_frames_rather_than_lag(tmp_path: Path) -> None:
    """A session that takes 0.25 s per frame on a 10 fps video asked for 10 frames a second: it must skip."""
    from painxai.monitor.session import follow_video
    from painxai.monitor.video import Video

    class Slow:
        def __init__(self) -> None:
            self.times: list[float] = []

        def process(self, image: np.ndarray, time_s: float) -> None:
            self.times.append(time_s)
            time.sleep(0.25)

    path = _write_video(tmp_path / "clip.avi", 30)
    session = Slow()
    with Video(path) as video:
        summary = follow_video(video, session, rate=10.0)  # type: ignore[arg-type]
    assert summary.frames == 30 and summary.processed == len(session.times)
    assert summary.skipped_late > 0 and summary.processed < 20
    assert summary.wall_s < summary.video_s + 0.6  # at most about one frame's work behind the clock
    with Video(path) as video:
        every = follow_video(video, Slow(), rate=5.0, realtime=False)  # type: ignore[arg-type]
    assert (every.processed, every.skipped_rate, every.skipped_late) == (15, 15, 0)


@pytest.mark.slow
def test_monitor_alerts_inside_the_pain_window_and_not_before(tmp_path: Path) -> None:
    """The command on a generated twin clip, with a run whose read-out learnt pain on another clip of the same
    newborn (tests/helpers/monitor.py): an alert is raised inside the pain window, none before it."""
    from helpers.monitor import probe_run

    from painxai.synth.video import write_clip

    plan = plan_clip(7, pain=True, seconds=20, fps=8)
    truth = write_clip(tmp_path / "clip.avi", plan)
    run = probe_run(tmp_path / "run", plan)
    code, output = _cli("monitor", "--run", str(run), "--video", str(tmp_path / "clip.avi"),
                        "--out", str(tmp_path / "out"), "--no-realtime", "--rate", "4")
    assert code == 0, output
    assert "processed 80 of 160 frames" in " ".join(output.split())
    timeline = pd.read_csv(tmp_path / "out" / "timeline.csv")
    assert list(timeline.columns) == ["time_s", "model", "probability", "smoothed", "state", "face_found"]
    assert set(timeline.model) == {"vgg16", "combined"} and len(timeline) == 2 * 80
    # Frames under the hand are marked and not scored.
    hand = timeline[timeline.time_s.between(plan.occlusion[0] + 0.3, plan.occlusion[1] - 0.3)]
    assert len(hand) and not hand.face_found.any() and hand.probability.isna().all()
    alerts = json.loads((tmp_path / "out" / "alerts.json").read_text())
    (start, end), = plan.pain
    assert alerts, output
    assert all(alert["raised_s"] >= start for alert in alerts)  # none before the pain
    first = alerts[0]
    assert start <= first["raised_s"] <= end + plan.ramp_s, (first, plan.pain)
    assert set(first) >= {"start_s", "end_s", "peak", "models"} and first["models"] == ["vgg16"]
    assert truth.pain.sum() > 0


def test_the_session_summary_is_built_in_memory() -> None:
    """CSV and PDF bytes with the provenance, and the plotly timeline, from a timeline and its alerts."""
    from painxai.monitor.summary import SessionSummary, summary_pdf, timeline_csv, timeline_figure
    from painxai.monitor.timeline import Alert

    rows = [(t, model, p, p, PAIN if p > 0.6 else NO_PAIN, True) for t in (0.0, 0.2, 0.4)
            for model, p in (("vgg16", 0.7), ("combined", 0.7))]
    timeline = pd.DataFrame(rows, columns=["time_s", "model", "probability", "smoothed", "state", "face_found"])
    alerts = [Alert(0.0, 0.4, 0.4, 0.7, ["vgg16"])]
    summary = SessionSummary(timeline, alerts, Settings(), "clip.mp4", "demo", "synthetic twin · random weights",
                             processed=3, scored=3)
    assert timeline_csv(timeline).decode().splitlines()[0] == "time_s,model,probability,smoothed,state,face_found"
    pdf = summary_pdf(summary)
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    figure = timeline_figure(timeline, Settings(), alerts)
    assert [trace.name for trace in figure.data] == ["vgg16", "all models (smoothed)", "state"]
    assert len(figure.layout.shapes) == 3  # the alert's band and the two thresholds
