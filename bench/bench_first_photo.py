"""The first photo on a freshly started dashboard, as a clinician meets it, in a real browser.

For each launcher, a new server process: `streamlit run app.py` (the baseline: the models start loading when
the first browser session opens the page) and `painxai serve` (what `make run` uses: they start loading with
the server). As soon as the server answers, one browser session opens Assess and uploads a twin photo at
once; the times from the upload to the first model's probability and to the last one's are measured, then
``--later`` more uploads of the same photo, each by a new browser session (another clinician) on the warm server.

    python bench/bench_first_photo.py [--run artifacts/demo] [--later 3]

Targets (issue "Newcomer path"): first probability within 5 s of the upload, all within 15 s; later
uploads at most 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import photo_of
from bench_load import CHROMIUM, UPLOAD_LIMIT_S, free_port, start_server

from benchlib import machine, vector_flags


def upload_and_time(page, photo: Path, models: int) -> tuple[float, float]:
    """Upload ``photo``; (seconds to the first probability, seconds to all ``models``) after the upload."""
    metrics = page.get_by_test_id("stMetric")
    began = time.perf_counter()
    page.locator("input[type='file']").set_input_files(str(photo))
    first = None
    while True:
        count = metrics.count()
        now = time.perf_counter() - began
        if count and first is None:
            first = now
        if count >= models:
            return first, now
        if now > UPLOAD_LIMIT_S:
            raise TimeoutError(f"{count} of {models} results after {UPLOAD_LIMIT_S} s")
        time.sleep(0.05)


def open_assess(browser, port: int):
    """A new browser session on Assess, once its upload widget is there."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"http://127.0.0.1:{port}")
    page.locator("input[type='file']").wait_for(state="attached", timeout=60_000)
    return page


def measure(launcher: str, run: Path, photo: Path, models: int, later: int) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    started = time.perf_counter()
    server = start_server(run, port, launcher)
    up = time.perf_counter() - started
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = open_assess(browser, port)
            opened = time.perf_counter() - started
            first, last = upload_and_time(page, photo, models)
            print(f"{launcher:>9}: server up {up:.1f} s after start, upload at {opened:.1f} s; first probability "
                  f"{first:.1f} s, all {models} {last:.1f} s after the upload")
            again = [upload_and_time(open_assess(browser, port), photo, models)[1] for _ in range(later)]
            if again:
                print(f"{launcher:>9}: later uploads, all {models} probabilities in "
                      + ", ".join(f"{t:.2f}" for t in again) + " s")
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--later", type=int, default=3, help="later uploads in the same session (0-10)")
    parser.add_argument("--launchers", default="streamlit,painxai", help="baseline first, then ours")
    args = parser.parse_args()
    if not 0 <= args.later <= 10:
        raise SystemExit("--later must be between 0 and 10 (this benchmark stays bounded)")
    run = args.run.resolve()
    from painxai.runs.reader import Run

    models = len(Run(run).models())
    photo = photo_of(run)
    print(machine())
    print(f"vector flags: {vector_flags()}; ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}; "
          f"run {run} ({models} models); photo {photo}")
    for launcher in args.launchers.split(","):
        measure(launcher, run, photo, models, args.later)


if __name__ == "__main__":
    main()
