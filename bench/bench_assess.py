"""Assessing one photo with a run's five fold ensembles: cold (fresh process) and warm, fused against per fold.

Each variant runs in a fresh Python process, as a freshly started server or a `painxai explain` call would:

* ``per-fold``: the computation before the fused one (one compiled function per fold model);
* ``fused``: one compiled function per model (trunk, ten tails, one backward pass);
* ``dashboard``: the background warm-up of the dashboard (:mod:`painxai.inference.warm`) started at
  process start, then the first photo: how long after the server's start it is ready, and how long the
  first assessment takes once it is;
* ``painxai explain``, wall time of the whole command: on the same photo (its out-of-fold model), and on
  the photo mirrored (not in the run's data, so all fold models), with the default faithfulness steps,
  none, and 20.

    python bench/bench_assess.py [--run artifacts/demo] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STARTED = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine, vector_flags  # noqa: E402


def photo_of(run_dir: Path) -> Path:
    """The first photo of the run's manifest (the twin's), as the file a user would upload."""
    config = json.loads((run_dir / "run.json").read_text())
    source = Path(config.get("manifest_source", ""))
    first = (run_dir / "manifest.csv").read_text().splitlines()[1].split(",", 1)[0]
    candidates = [source.parent / first, run_dir / first, Path(first)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(f"the run's first photo is not found (tried {', '.join(map(str, candidates))})")


def child(variant: str, run_dir: Path, photo: Path, repeats: int) -> dict[str, float]:
    """One variant in this (fresh) process; seconds since the process started, per step."""
    from painxai import quiet_native_logs

    quiet_native_logs()
    from painxai.data.images import load_image
    from painxai.inference.assess import assess_photo
    from painxai.inference.gate import screen_photo
    from painxai.runs.reader import Run

    figures: dict[str, float] = {}
    run = Run(run_dir)
    models = run.models()
    if variant == "dashboard":
        from painxai.inference.warm import STORE

        STORE.warm(run, models).join()  # what app.py starts when the server's first session opens
        figures["ready after start"] = time.perf_counter() - STARTED
        ensembles = {model: STORE.get(run, model) for model in models}
    else:
        if variant == "per-fold":
            import painxai.explain.ensemble as ensemble_module

            ensemble_module.ensemble_explain = ensemble_module.ensemble_explain_per_fold
        ensembles = {model: run.ensemble(model) for model in models}
        figures["loaded after start"] = time.perf_counter() - STARTED
    image = load_image(photo)

    def assess_in_a_new_thread() -> float:
        """One photo (gate + five models), in a new thread as each Streamlit script run is; seconds."""
        seconds = []

        def work() -> None:
            started = time.perf_counter()
            assess_photo(image, run, ensembles=ensembles, screening=screen_photo(image))
            seconds.append(time.perf_counter() - started)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        return seconds[0]

    figures["first assessment"] = assess_in_a_new_thread()
    times = [assess_in_a_new_thread() for _ in range(repeats)]
    figures["later assessments (median)"] = statistics.median(times)
    figures["models"] = len(models)
    figures["folds"] = sum(len(e.folds) for e in ensembles.values())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, default=None)
    args = parser.parse_args()
    photo = args.photo or photo_of(args.run)
    if args.child:
        print(json.dumps(child(args.child, args.run, photo, args.repeats)))
        return
    print(machine())
    print(f"vector flags: {vector_flags()}; TF threads: default; photo {photo}")
    for variant in ("per-fold", "fused", "dashboard"):
        done = subprocess.run([sys.executable, __file__, "--run", str(args.run), "--photo", str(photo),
                               "--repeats", str(args.repeats), "--child", variant],
                              capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{variant}: failed\n{done.stderr[-2000:]}")
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        shown = [f"{name} {value:.2f} s" if isinstance(value, float) else f"{name} {value}"
                 for name, value in figures.items()]
        print(f"{variant:>10}: " + ", ".join(shown))
    painxai = Path(sys.executable).with_name("painxai")
    with tempfile.TemporaryDirectory() as scratch:
        # The same face mirrored is not in the run's data: every fold model explains it (a clinician's photo).
        from PIL import Image

        new_photo = Path(scratch) / "new_photo.png"
        Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(new_photo)
        cases = [(photo, "a photo of the run's data: its out-of-fold model", []),
                 (new_photo, "a new photo: all fold models", []),
                 (new_photo, "a new photo: all fold models", ["--faithfulness-steps", "0"]),
                 (new_photo, "a new photo: all fold models", ["--faithfulness-steps", "20"])]
        for image, what, options in cases:
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                done = subprocess.run([str(painxai), "explain", "--run", str(args.run), "--image", str(image), "--out",
                                       out, *options], capture_output=True, text=True, check=False,
                                      env={**os.environ, "COLUMNS": "200"})
                seconds = time.perf_counter() - started
            state = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
            print(f"painxai explain, {what}, {' '.join(options) or 'default options'}: {seconds:.1f} s wall, {state}")


if __name__ == "__main__":
    main()
