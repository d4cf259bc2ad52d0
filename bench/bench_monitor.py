"""painxai monitor on synthetic bedside clips with a ground-truth timeline (docs/MONITOR.md).

    python bench/bench_monitor.py --run artifacts/demo [--clips data/clips] [--pain 3 --nopain 3 --seconds 40]

Draws (or reuses) twin clips (``painxai.synth.video``: head motion, a light change, a hand over the face, pain
with ramping cues in the pain clips), follows each with the run's models at 3 frames per second of video (the default),
every due frame processed (``realtime`` off, so the figures do not depend on the machine's load), and prints:

* the delay from pain onset (the start of the cue ramp) to the alert, per pain clip;
* false alarms per hour: alerts on the no-pain clips, and alerts raised before the onset in the pain clips,
  over the hours of pain-free video, with an exact Poisson 95% interval;
* frame-level AUC (scored frames; truth: the ramped pain level >= 0.5) per model, for the models' mean, and for
  the smoothed mean, each with a 95% bootstrap interval over clips;
* speed: frames per second and the per-frame time from the frame to its probability (p50, p95, max), and the
  time of one frame's five Grad-CAM maps; then once more in real-time mode (frames skipped rather than lag).

The baseline, in the same run: the same probabilities without smoothing (the state follows each frame's mean
probability, same thresholds and hold time), and the detector on every frame instead of every fifth (speed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine
from painxai import quiet_native_logs


def make_clips(folder: Path, n_pain: int, n_nopain: int, seconds: float) -> list[Path]:
    """The benchmark's clips (drawn once, reused when their plan matches)."""
    from painxai.synth.video import plan_clip, read_plan, write_clip

    clips = []
    for index in range(n_pain + n_nopain):
        pain = index < n_pain
        plan = plan_clip(100 + index, pain, seconds, fps=10)
        path = folder / f"bench_{index:02d}_{'pain' if pain else 'nopain'}.mp4"
        if not (path.is_file() and read_plan(path) == plan):
            started = time.perf_counter()
            write_clip(path, plan)
            print(f"drew {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
        clips.append(path)
    return clips


def poisson_interval(count: int, exposure_h: float) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson rate per hour."""
    from scipy.stats import chi2

    low = chi2.ppf(0.025, 2 * count) / 2 if count else 0.0
    high = chi2.ppf(0.975, 2 * count + 2) / 2
    return low / exposure_h, high / exposure_h


def bootstrap_auc(frames: pd.DataFrame, column: str, repeats: int = 1000) -> tuple[float, float, float]:
    """AUC of ``column`` against ``truth`` over all frames, and a 95% bootstrap interval resampling whole clips."""
    from sklearn.metrics import roc_auc_score

    def auc(data: pd.DataFrame) -> float:
        data = data.dropna(subset=[column])
        return float(roc_auc_score(data.truth, data[column])) if data.truth.nunique() == 2 else float("nan")

    rng = np.random.default_rng(0)
    groups = [group for _, group in frames.groupby("clip")]
    values = [auc(pd.concat([groups[i] for i in rng.integers(len(groups), size=len(groups))]))
              for _ in range(repeats)]
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return auc(frames), float(low), float(high)


def alerts_without_smoothing(timeline: pd.DataFrame, settings: object) -> list:
    """The baseline: the same thresholds and hold time on each frame's mean probability, not smoothed."""
    from dataclasses import replace

    from painxai.monitor.session import COMBINED
    from painxai.monitor.timeline import Alerter, Smoother

    raw = replace(settings, tau_s=1e-6)  # the EMA then follows each new probability at once
    smoother, alerter = Smoother(raw), Alerter(raw)
    for row in timeline[timeline.model == COMBINED].itertuples():
        value, state = smoother.update(row.time_s, None if np.isnan(row.probability) else row.probability)
        alerter.update(row.time_s, value, state, [])
    return alerter.alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--clips", type=Path, default=Path("data/clips"))
    parser.add_argument("--pain", type=int, default=3)
    parser.add_argument("--nopain", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    quiet_native_logs()

    from painxai.inference.assess import add_model, begin_assessment
    from painxai.monitor.session import COMBINED, DEFAULT_RATE, MonitorSession, follow_video, load_models
    from painxai.monitor.timeline import Settings
    from painxai.monitor.video import Video
    from painxai.runs.reader import Run
    from painxai.synth.video import read_plan, truth_path

    print(f"machine: {machine()}")
    clips = make_clips(args.clips, args.pain, args.nopain, args.seconds)
    run = Run(args.run)
    started = time.perf_counter()
    ensembles = load_models(run, "all")
    print(f"run {run.name}: {run.provenance().describe()}; models {', '.join(ensembles)} loaded and warmed in "
          f"{time.perf_counter() - started:.0f} s")
    settings = Settings()

    frames, delays, delays_raw, lines = [], [], [], []
    false_alarms = false_alarms_raw = 0
    pain_free_s = 0.0
    latencies: list[float] = []
    for clip in clips:
        plan = read_plan(clip)
        truth = pd.read_csv(truth_path(clip))
        session = MonitorSession(ensembles, settings, keep_s=1.0)
        original = session.process

        def timed(image: np.ndarray, time_s: float, process=original) -> object:
            begin = time.perf_counter()
            result = process(image, time_s)
            latencies.append(time.perf_counter() - begin)
            return result

        session.process = timed  # type: ignore[method-assign]
        with Video(clip) as video:
            summary = follow_video(video, session, rate=DEFAULT_RATE, realtime=False)
        timeline = session.timeline()
        onset = plan.pain[0][0] if plan.pain else None
        pain_free_s += onset if onset is not None else summary.video_s
        for alerts, bucket in ((session.alerts, delays), (alerts_without_smoothing(timeline, settings), delays_raw)):
            early = [a for a in alerts if onset is None or a.raised_s < onset]
            inside = [a for a in alerts if onset is not None and a.raised_s >= onset]
            if bucket is delays:
                false_alarms += len(early)
            else:
                false_alarms_raw += len(early)
            if onset is not None:
                bucket.append(inside[0].raised_s - onset if inside else float("nan"))
        wide = timeline.pivot_table(index="time_s", columns="model", values="probability", dropna=False)
        smoothed = timeline[timeline.model == COMBINED].set_index("time_s").smoothed
        nearest = np.searchsorted(truth.time_s.to_numpy(), wide.index.to_numpy() - 1e-6).clip(0, len(truth) - 1)
        wide = wide.assign(smoothed=smoothed.reindex(wide.index).to_numpy(),
                           truth=truth.pain.to_numpy()[nearest], clip=clip.name)
        frames.append(wide[timeline.groupby("time_s").face_found.first().reindex(wide.index).to_numpy()])
        lines.append(f"  {clip.name}: {summary.line()}; {session.frames_scored} scored; alerts raised at "
                     f"{[round(a.raised_s, 1) for a in session.alerts]}; pain {plan.pain or 'none'}")
    print(f"clips ({DEFAULT_RATE:g} frames per second of video, every due frame processed):")
    print("\n".join(lines))

    everything = pd.concat(frames)
    hours = pain_free_s / 3600
    print(f"\nonset -> alert delay (s), {len(delays)} pain clips (nan: no alert): smoothed "
          f"{np.round(delays, 1).tolist()}; baseline without smoothing {np.round(delays_raw, 1).tolist()}")
    for name, count in (("smoothed", false_alarms), ("baseline without smoothing", false_alarms_raw)):
        low, high = poisson_interval(count, hours)
        print(f"false alarms per hour, {name}: {count} in {pain_free_s / 60:.1f} min of pain-free video = "
              f"{count / hours:.0f}/h (95% CI {low:.0f}-{high:.0f})")
    print(f"frame-level AUC over {len(everything)} scored frames of {len(clips)} clips "
          f"({int(everything.truth.sum())} pain), 95% bootstrap interval over clips:")
    for column in [*ensembles, COMBINED, "smoothed"]:
        auc, low, high = bootstrap_auc(everything, column)
        label = {"smoothed": "models' mean, smoothed", COMBINED: "models' mean (baseline: no smoothing)"}.get(column,
                                                                                                         column)
        print(f"  {label:<40} {auc:.3f} ({low:.3f}-{high:.3f})")

    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"\nper processed frame (gate + {len(ensembles)} models): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} frames = {1 / p50:.1f} frames/s at p50")
    for detect_every, label in ((5, "detector every 5th frame (default)"), (1, "baseline: detector on every frame")):
        session = MonitorSession(ensembles, settings, detect_every=detect_every)
        with Video(clips[0]) as video:
            summary = follow_video(video, session, rate=DEFAULT_RATE, realtime=True)
        print(f"real time, {label}: {summary.line()}")

    maps = []
    with Video(clips[0]) as video:
        for frame in video.frames():
            if frame.index % 50 or len(maps) >= 5:
                continue
            image = frame.rgb()
            try:
                begin = time.perf_counter()
                assessment = begin_assessment(image)
                for ensemble in ensembles.values():
                    add_model(assessment, ensemble)
                maps.append(time.perf_counter() - begin)
            except Exception as error:  # a frame the gate refuses: not timed
                print(f"  (frame {frame.index} not explained: {error})")
    if maps:
        print(f"one frame's {len(ensembles)} Grad-CAM maps (gate, crop, maps; warm models): median "
              f"{statistics.median(maps):.2f} s, max {max(maps):.2f} s over {len(maps)} frames")
    print(json.dumps({"clips": len(clips), "pain_free_min": round(pain_free_s / 60, 1)}))


if __name__ == "__main__":
    main()
