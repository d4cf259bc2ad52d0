"""The Monitor page in a real browser: an uploaded twin clip, and a twin clip streamed by Chromium's fake camera.

The run's read-out learnt pain on another clip of the same twin newborn (tests/helpers/monitor.py), so the alert
must appear in both paths; the timeline chart and the face box must be drawn.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from test_e2e import CHROMIUM, _free_port, _served

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """A probe run, the pain clip as AVI (upload) and Y4M (fake camera), and the dashboard serving the run."""
    from helpers.monitor import probe_run

    from painxai.synth.video import plan_clip, write_clip

    folder = tmp_path_factory.mktemp("monitor_e2e")
    plan = plan_clip(7, pain=True, seconds=20, fps=8)
    write_clip(folder / "clip.avi", plan)
    write_clip(folder / "clip.y4m", plan)
    run = probe_run(folder / "artifacts" / "probe", plan)
    port = _free_port()
    env = {**os.environ, "PAINXAI_ARTIFACTS": str(run.parent), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--", "--run", str(run)]
    with _served(command, env, port) as base:
        yield {"base": base, "avi": folder / "clip.avi", "y4m": folder / "clip.y4m", "shots": folder}


def _browser(playwright, y4m: Path):
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is not installed: run `make test`, which installs it")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={y4m}",
    ])


def test_an_uploaded_clip_gives_a_timeline_and_an_alert(playwright, monitored) -> None:
    browser = _browser(playwright, monitored["y4m"])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{monitored['base']}/monitor")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(monitored["avi"]))
        page.get_by_text("Explain a moment").wait_for(timeout=180_000)
        page.get_by_text("ALERT: pain since").first.wait_for(timeout=10_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        assert page.get_by_text(re.compile(r"Processed \d+ of 160 frames")).count() == 1
        page.get_by_role("button", name="Timeline (CSV)").wait_for()
        page.screenshot(path=str(monitored["shots"] / "monitor_upload.png"), full_page=True)
    finally:
        browser.close()


def test_the_fake_camera_streams_a_twin_clip_into_the_page(playwright, monitored) -> None:
    browser = _browser(playwright, monitored["y4m"])
    try:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{monitored['base']}/monitor")
        page.get_by_text("Live camera").click()
        camera = page.frame_locator('iframe[title*="webrtc"]')
        camera.get_by_role("button", name="START").click(timeout=120_000)
        # Chromium loops the 20 s clip; pain starts at 7.5 s of it: the alert must come within two loops.
        page.get_by_text("ALERT: pain since").wait_for(timeout=60_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        assert page.get_by_text("with a usable face scored").count() >= 1
        page.screenshot(path=str(monitored["shots"] / "monitor_camera.png"), full_page=True)
    finally:
        browser.close()

