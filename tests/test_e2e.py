"""End to end in a real browser (Debian's chromium through Playwright): the Assess flow, the Metrics page,
and `make run`'s own recipes at a smoke size through to a served dashboard.

A Streamlit server runs the dashboard on a run of all five models (random fold weights, smallest sizes).
The tests take one screenshot per page (Assess at a desktop's, a tablet's and a phone's width); with
``PAINXAI_E2E_RUN=artifacts/demo`` (a real demo run) they go to docs/screenshots/ for the README, otherwise to
a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers.runs import SMALL_SIZES

from test_app import make_weights_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots" if os.environ.get("PAINXAI_E2E_RUN") else None
DESKTOP = {"width": 1300, "height": 900}
TABLET = {"width": 768, "height": 1024}
PHONE = {"width": 390, "height": 844}

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium, never a browser downloaded by Playwright."""
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is not installed: run `make test`, which installs it")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
        ],
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _served(command: list[str], env: dict[str, str], port: int):
    """Start ``command`` (a Streamlit server on 127.0.0.1:``port``), wait for /_stcore/health, yield the
    base URL, and stop the whole process group at the end."""
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not start: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The dashboard served on 127.0.0.1 and a free port; yields its base URL.

    ``PAINXAI_E2E_RUN`` names a real run to serve instead (e.g. artifacts/demo, for README screenshots)."""
    chosen = os.environ.get("PAINXAI_E2E_RUN")
    if chosen:
        run = Path(chosen).resolve()
    else:
        run = make_weights_run(tmp_path_factory.mktemp("e2e_artifacts") / "e2e_run", tuple(SMALL_SIZES))
    port = _free_port()
    env = {**os.environ, "PAINXAI_ARTIFACTS": str(run.parent), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port), "--", "--run", str(run),
    ]
    with _served(command, env, port) as base:
        yield base


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/screenshots/ for a real run, else a temporary folder."""
    return SCREENSHOTS or tmp_path_factory.mktemp("screenshots")


def _screenshot(page, folder: Path, name: str) -> None:
    """Save the whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    folder.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 4000)})
    page.wait_for_timeout(700)
    page.screenshot(path=str(folder / f"{name}.png"))


def _photo(tmp_path: Path) -> Path:
    """A face photo to upload: with ``PAINXAI_E2E_RUN``, the run's first pain photo (for the README: a photo
    of the run's own data, scored out-of-fold, its regions from the twin's masks); else the astronaut."""
    from PIL import Image

    chosen = os.environ.get("PAINXAI_E2E_RUN")
    if chosen:
        import pandas as pd

        manifest = pd.read_csv(Path(chosen) / "manifest.csv")
        return Path(manifest.loc[manifest["label"] == "pain", "path"].iloc[0])
    from skimage.data import astronaut

    path = tmp_path / "photo.jpg"
    buffer = io.BytesIO()
    Image.fromarray(astronaut()).resize((256, 256)).save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return path


def _expect_provenance_and_badges(page, at_least: int) -> None:
    """The run's provenance line ("Run NAME: synthetic twin · ... · profile P") and at least ``at_least``
    trust badges (one per map) are on the page as a user sees it."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"^Run \S+: .*profile \S+")).first).to_be_visible(timeout=60_000)
    badges = page.get_by_text(re.compile(r"maps (informative|not informative|undecided|cannot be judged|not audited)"))
    assert badges.count() >= at_least, f"{badges.count()} trust badges, expected at least {at_least}"


def _no_horizontal_overflow(page) -> None:
    """Nothing is wider than the window: the page never scrolls sideways."""
    widths = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return [document.documentElement.scrollWidth, main.scrollWidth, window.innerWidth];
    }""")
    assert max(widths[:2]) <= widths[2] + 1, f"page {widths[0]} / main {widths[1]} px wide in a {widths[2]} px window"


def _boxes(locator) -> list[dict]:
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


def test_assess_answer_first_on_a_tablet_and_maps_sized_to_the_screen(dashboard, page, tmp_path, screenshots):
    from playwright.sync_api import expect

    page.set_viewport_size(TABLET)
    page.goto(dashboard)
    expect(page.get_by_text("Upload a photo of a newborn's face")).to_be_visible(timeout=30_000)
    page.locator("input[type='file']").set_input_files(str(_photo(tmp_path)))
    metrics = page.get_by_test_id("stMetric")
    expect(metrics).to_have_count(5, timeout=180_000)
    for name in SMALL_SIZES:
        expect(metrics.filter(has_text=name)).to_be_visible()
    consensus = page.get_by_text(re.compile(r"of 5 model\(s\) say pain"))
    expect(consensus).to_be_visible(timeout=60_000)
    images = page.get_by_test_id("stImage")
    expect(images).to_have_count(1 + 5 + 1, timeout=60_000)  # photo with its box, five maps, colour bar
    expect(page.get_by_text("Report (PDF)")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("research software", exact=False).first).to_be_visible()
    _expect_provenance_and_badges(page, 5)
    # The answer first: once the page is complete and unscrolled, the five probabilities and the consensus
    # line lie inside the tablet's first screen (the face-box check has folded into an expander below them).
    page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    page.wait_for_timeout(500)
    for box in [*_boxes(metrics), consensus.bounding_box()]:
        assert box["y"] >= 0 and box["y"] + box["height"] <= TABLET["height"], f"below the first screen: {box}"
    expect(page.get_by_text(re.compile(r"^Face box \(.*\): "))).to_be_visible()
    # A badge's main reason is text under it, and its full reasons one tap away (no hover on a tablet).
    reasons = page.get_by_text(re.compile(r"^(passes all \d+ checks|fails: .+|undecided: .+|no audit yet|"
                                          r"localisation cannot be judged.*)$")).filter(visible=True)
    assert reasons.count() == 5
    _no_horizontal_overflow(page)
    columns = {round(b["x"]) for b in _boxes(images)[1:6]}  # the five maps (the photo's box comes first)
    assert len(columns) in (2, 3), f"maps in {len(columns)} columns at 768 px: two or three per row"
    page.get_by_text("All reasons").first.click()
    details = page.get_by_text(re.compile(r"painxai audit --run|out-of-fold test images"))
    expect(details.first).to_be_visible(timeout=10_000)
    _screenshot(page, screenshots, "assess-tablet")

    page.set_viewport_size(DESKTOP)
    page.get_by_text("Outline the NFCS regions").click()  # on every map; the grid keeps its five maps
    page.wait_for_timeout(2500)
    expect(page.get_by_test_id("stImage")).to_have_count(1 + 5 + 1, timeout=60_000)
    _no_horizontal_overflow(page)
    widths = [b["width"] for b in _boxes(images)[1:6]]
    assert min(widths) >= 256, f"maps {widths} px wide on a 1300 px desktop"
    # One legend under the grid, its caption on one line, and each map's own scale under that map.
    legend = page.get_by_text(re.compile(r"^Map value: from 0 on the left"))
    assert legend.count() == 1 and legend.bounding_box()["height"] < 30, "the legend's caption wraps"
    assert page.get_by_text(re.compile(r" · scale 0")).count() == 5
    _screenshot(page, screenshots, "assess")

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(1000)
    _no_horizontal_overflow(page)
    rows = {round(b["y"]) for b in _boxes(images)[1:6]}
    assert len(rows) == 5, "one map per row on a 390 px phone"
    _screenshot(page, screenshots, "assess-phone")


def test_metrics_page_shows_table2(dashboard, page, screenshots):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    page.goto(f"{dashboard}/metrics")
    expect(page.get_by_text("Table 2: mean ± std over folds")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    page.get_by_text("Show the paper's numbers beside ours").click()
    expect(page.get_by_text("Paper: Coutrin & Thomaz (2022)", exact=False)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=60_000)
    _expect_provenance_and_badges(page, 0)
    page.wait_for_timeout(1000)
    _screenshot(page, screenshots, "metrics")


@pytest.mark.parametrize(("path", "heading"), [("compare", "Compare explanations"), ("trust", "Trust in the maps"),
                                               ("data", "Data"), ("models", "Models")])
def test_other_pages_render(dashboard, page, path, heading, screenshots):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    page.goto(f"{dashboard}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=60_000)
    if path == "compare":
        # The model picker shows its five chips whole: beside two other widgets its chips row was cut off
        # (it scrolled sideways inside the picker, or a chip was truncated).
        tags = page.get_by_test_id("stMultiSelectTagsContainer").first
        expect(tags).to_be_visible(timeout=60_000)
        assert tags.locator("[data-tag]").count() == 5
        cut = tags.evaluate("row => [row, ...row.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)")
        assert not cut, "the model picker cuts its chips"
        page.get_by_role("button", name="Explain", exact=True).click(timeout=120_000)
        expect(page.get_by_text("Agreement between the models' maps")).to_be_visible(timeout=180_000)
        _expect_provenance_and_badges(page, 5)
    page.wait_for_timeout(1000)
    assert not page.get_by_test_id("stException").count()
    _screenshot(page, screenshots, path)




def test_make_run_recipes_reach_a_served_dashboard(page, tmp_path):
    """`make run` = set-up, `make demo` (twin -> folds -> training, resumable), `make serve`: run the same
    recipes with a tiny twin and the smoke profile, then load the dashboard in the browser."""
    from playwright.sync_api import expect

    make = shutil.which("make")
    assert make, "GNU make is needed (the README's commands are make targets)"
    data, run = tmp_path / "twin", tmp_path / "artifacts" / "smoke"
    variables = [f"DATA_DIR={data}", f"RUN_DIR={run}", "DEMO_ARGS=--size-scale 0.1 --profile smoke"]
    # As a user's shell: no log-level variables (pytest's own environment may carry some).
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel")}
    env["PAINXAI_ARTIFACTS"] = str(run.parent)
    started = time.monotonic()
    demo = subprocess.run([make, "-s", "demo", *variables], cwd=ROOT, env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    first = time.monotonic() - started
    # A quiet terminal: our progress lines and warnings, nothing from TensorFlow, absl, glog or LiteRT.
    from painxai.native_logs import is_native_line

    native = [line for line in (demo.stdout + demo.stderr).splitlines()
              if is_native_line(line) or "tf.function retracing" in line]
    assert not native, "native library lines in `make demo`'s output:\n" + "\n".join(native[:10])
    # The random bases are the demo's design: said once, in one line, without the paper profile's long warning.
    output = demo.stdout + demo.stderr
    assert output.count("seeded random weights by design") == 1
    assert "weights fetch" not in output and "not found" not in output
    for model in ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn"):
        assert (run / model / "fold_0" / "DONE").is_file(), model
    # A second `make demo` redoes nothing and returns quickly.
    started = time.monotonic()
    again = subprocess.run([make, "-s", "demo", *variables], cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert time.monotonic() - started < max(30.0, first / 2)
    port = _free_port()
    serve = [make, "-s", "serve", f"RUN_DIR={run}",
             f"STREAMLIT_ARGS=--server.headless true --server.address 127.0.0.1 --server.port {port}"]
    with _served(serve, env, port) as base:
        page.set_viewport_size(DESKTOP)
        page.goto(f"{base}/metrics")
        expect(page.get_by_text("Table 2: mean ± std over folds")).to_be_visible(timeout=60_000)
        assert not page.get_by_test_id("stException").count()
