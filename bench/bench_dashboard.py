"""Dashboard speed and memory (issue 7): cold start, one photo's assessment, the fold ensemble, RSS.

Targets: first page within 3 s of a cold start; a photo with one fold model per model within 1 s once the
models are loaded; the whole fold ensemble within 4 s; the process under 6 GB with every fold model in use.

Uses ``artifacts/demo`` (or the run named by ``PAINXAI_BENCH_RUN``); without one it builds a run of the
five models with ten folds of random weights at the demo input sizes (speed does not depend on training).
Baselines measured here, in the same process or the same way: an empty Streamlit script's cold start,
and the face search (detection + landmarks) that every assessment also pays.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine, rss_mib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
COLD_START = """
import time, sys
started = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_string(sys.argv[1], default_timeout=60) if sys.argv[1] != "app" else AppTest.from_file(
    sys.argv[2], default_timeout=60)
at.run()
assert not at.exception, at.exception
print(time.perf_counter() - started)
"""


def cold_start(script: str, env: dict[str, str]) -> float:
    """Seconds from a fresh interpreter to the end of the app's first script run (imports included)."""
    args = ["app", str(ROOT / "app.py")] if script == "app" else [script]
    output = subprocess.run([sys.executable, "-c", COLD_START, *args], env=env, cwd=ROOT, capture_output=True,
                            text=True, check=True)
    return float(output.stdout.strip().splitlines()[-1])


def bench_run(scratch: Path) -> Path:
    """The run to measure: PAINXAI_BENCH_RUN, artifacts/demo, or ten random-weight folds at demo sizes."""
    chosen = os.environ.get("PAINXAI_BENCH_RUN")
    if chosen:
        return Path(chosen)
    if (ROOT / "artifacts" / "demo" / "run.json").is_file():
        return ROOT / "artifacts" / "demo"
    sys.path.insert(0, str(ROOT / "tests"))
    from painxai.models import SPECS
    from test_app import make_weights_run

    print("no demo run: building 5 models x 10 folds of random weights at the demo sizes ...", flush=True)
    sizes = {name: spec.demo_input_size for name, spec in SPECS.items()}
    return make_weights_run(scratch / "bench_run", tuple(sizes), k=10, sizes=sizes)


def best_of(repeats: int, action) -> float:
    """Best wall time in seconds of ``repeats`` calls (warm: the caller has run ``action`` once already)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    from skimage.data import astronaut

    from painxai.dashboard import grid
    from painxai.faces.detection import locate_face
    from painxai.faces.landmarks import photo_regions
    from painxai.inference.assess import AssessRequest, assess_photo
    from painxai.runs.reader import Run

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        run = Run(bench_run(Path(scratch)))
        env = {**os.environ, "PAINXAI_RUN": str(run.path), "PAINXAI_ARTIFACTS": str(run.path.parent)}
        empty = cold_start("import streamlit as st\nst.title('empty')", env)
        first_page = cold_start("app", env)
        print(f"cold start to the first page (Assess, no photo): {first_page:.2f} s  (target <= 3 s; "
              f"baseline, an empty Streamlit script: {empty:.2f} s)")

        image = astronaut()
        box, _search, _face = locate_face(image)
        search_seconds = best_of(3, lambda: photo_regions(image, locate_face(image)[2]))
        print(f"run {run.path} ({', '.join(f'{m}: {len(run.finished_folds(m))} folds' for m in run.models())})")
        started = time.perf_counter()
        ensembles = {m: run.ensemble(m) for m in run.models()}
        load_seconds = time.perf_counter() - started
        singles = {m: grid.fold_subset(e, e.folds[:1]) for m, e in ensembles.items()}
        request = AssessRequest(box=box)
        assess_photo(image, run, request, ensembles=singles)  # warm-up: compiles one graph per fold model
        one_each = best_of(3, lambda: assess_photo(image, run, request, ensembles=singles))
        assess_photo(image, run, request, ensembles=ensembles)
        everything = best_of(3, lambda: assess_photo(image, run, request, ensembles=ensembles))
        folds = sum(len(e.folds) for e in ensembles.values())
        print(f"loading the {folds} fold models (shared trunks): {load_seconds:.1f} s")
        print(f"one photo, one fold model per model ({len(singles)} models): {one_each:.2f} s  (target <= 1 s; "
              f"baseline, the face search + landmarks alone: {search_seconds:.3f} s)")
        print(f"one photo, the whole fold ensemble ({folds} fold models): {everything:.2f} s  (target <= 4 s)")
        print(f"process RSS with all {folds} fold models in use: {(rss_mib() / 1024):.2f} GB  (target <= 6 GB)")


if __name__ == "__main__":
    main()
