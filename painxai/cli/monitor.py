"""``painxai monitor`` (follow a video: timeline.csv and alerts.json) and ``painxai synth-video`` (twin clips
with a ground-truth timeline)."""

from __future__ import annotations

from pathlib import Path

import typer

from painxai.cli.common import console, progress_bar, user_errors
from painxai.errors import RequestError


def monitor(
    run: Path = typer.Option(..., help="Run folder (artifacts/<run>)."),
    video: Path = typer.Option(..., help="Video to follow: mp4, avi, webm or mov (up to 1920 x 1080)."),
    out: Path = typer.Option(..., help="Folder for timeline.csv and alerts.json."),
    models: str = typer.Option("all", help="'all' or comma-separated model names of the run."),
    rate: float = typer.Option(3.0, help="At most this many frames processed per second of video (3 keeps up with "
                               "the five demo models on 2 cores)."),
    tau: float = typer.Option(2.0, help="Time constant of the smoothing (EMA), seconds."),
    on: float = typer.Option(0.6, help="The state turns to pain when the smoothed probability reaches this."),
    off: float = typer.Option(0.4, help="... and back to no pain when it falls to this (hysteresis)."),
    alert_after: float = typer.Option(3.0, help="Alert when the combined state has stayed pain this many seconds."),
    detect_every: int = typer.Option(5, help="Run the face detector every this many processed frames (in "
                                     "between, the face is followed by its landmarks)."),
    realtime: bool = typer.Option(True, help="Skip frames whose time has passed on the wall clock (never lag); "
                                  "--no-realtime processes every frame due at --rate however long it takes."),
) -> None:
    """Follow a video: face and input gate per frame, each model's fold-ensemble probability, smoothed state, alerts."""
    from painxai import atomic
    from painxai.monitor.session import MonitorSession, follow_video, load_models
    from painxai.monitor.timeline import Settings
    from painxai.monitor.video import Video
    from painxai.runs.reader import Run

    with user_errors():
        if rate <= 0 or detect_every < 1:
            raise RequestError("--rate must be positive and --detect-every at least 1")
        try:
            settings = Settings(tau_s=tau, on=on, off=off, alert_after_s=alert_after)
        except ValueError as error:
            raise RequestError(f"--tau/--on/--off/--alert-after: {error}") from None
        the_run = Run(run)
        with Video(video) as clip:  # a bad video is refused before any model is loaded
            console.print(f"{clip.info.name}: {clip.info.width} x {clip.info.height}, {clip.info.codec}, "
                          f"{clip.info.fps:.1f} fps")
            with console.status("loading and warming the models"):
                ensembles = load_models(the_run, models)
            session = MonitorSession(ensembles, settings, detect_every=detect_every)
            with progress_bar("following the video") as progress:
                summary = follow_video(clip, session, rate=rate, realtime=realtime, progress=progress)
        timeline = session.timeline()
        atomic.write_text(out / "timeline.csv", timeline.to_csv(index=False, float_format="%.4f"))
        atomic.write_json(out / "alerts.json", session.alert_list())
    console.print(f"run {the_run.name}: {the_run.provenance().describe()}; models {', '.join(session.models)}")
    console.print(summary.line())
    scored = session.frames_scored
    console.print(f"{scored} of {summary.processed} processed frames had a usable face and were scored")
    for alert in session.alerts:
        console.print(f"[bold red]alert[/] pain from {alert.start_s:.1f} s, raised at {alert.raised_s:.1f} s, until "
                      f"{alert.end_s:.1f} s (peak {alert.peak:.2f}; models in pain: {', '.join(alert.models) or '-'})")
    if not session.alerts:
        console.print("no alert")
    console.print(f"wrote timeline.csv ({len(timeline)} rows) and alerts.json ({len(session.alerts)} alert(s)) "
                  f"to {out}")


def synth_video(
    out: Path = typer.Option(Path("data/clips"), help="Folder for the clips, their truth.csv and plan .json."),
    clips: int = typer.Option(2, help="How many clips: pain and no-pain clips alternate, pain first."),
    seed: int = typer.Option(0, help="Seed of the first clip; clip i uses seed + i."),
    seconds: float = typer.Option(40.0, help="Length of each clip, seconds (at least 10)."),
    fps: float = typer.Option(10.0, help="Frames per second."),
    format: str = typer.Option("mp4", help="mp4 | webm | avi | mov | y4m (y4m: Chromium's fake camera)."),
) -> None:
    """Synthetic bedside clips of twin newborns: head motion, a light change, a hand over the face, and pain that
    starts and stops at known times with the cues ramping; <clip>.truth.csv gives every frame's truth."""
    from painxai.synth.video import CODECS, plan_clip, write_clip

    with user_errors():
        if f".{format}" not in CODECS:
            raise RequestError(f"--format must be one of {', '.join(s.lstrip('.') for s in CODECS)}; got {format!r}")
        if clips < 1 or seconds < 10 or not 2 <= fps <= 60:
            raise RequestError("--clips must be at least 1, --seconds at least 10 and --fps in [2, 60]")
    for index in range(clips):
        pain = index % 2 == 0
        plan = plan_clip(seed + index, pain, seconds, fps)
        path = out / f"clip_{seed + index:03d}_{'pain' if pain else 'nopain'}.{format}"
        with progress_bar(f"drawing {path.name}") as progress:
            write_clip(path, plan, progress)
        windows = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in plan.pain) or "none"
        console.print(f"{path}: {plan.seconds:.0f} s at {plan.fps:g} fps; pain {windows}; hand over the face "
                      f"{plan.occlusion[0]:.1f}-{plan.occlusion[1]:.1f} s; light dims at {plan.light_change_s:.1f} s")


def register(app: typer.Typer) -> None:
    """Add ``painxai monitor`` and ``painxai synth-video`` to the app."""
    app.command("monitor")(monitor)
    app.command("synth-video")(synth_video)
