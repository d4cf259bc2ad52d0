"""Five browser sessions assessing photos at once on a warm dashboard: latency percentiles and server memory.

Bounded: loopback only (127.0.0.1), a fixed number of sessions and rounds, and a time limit per upload.
It starts its own Streamlit server on the run, warms it with one session (the models load in the
background and the first photo waits for them), then runs ``--rounds`` rounds: in each, ``--sessions``
new browser sessions (Debian's chromium through Playwright) open Assess and upload the photo at the same
moment; the time from the upload to the last model's probability on the page is one sample. The server's
resident memory is read after each round: after the first round it should stay flat.

    python bench/bench_load.py [--run artifacts/demo] [--sessions 5] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_assess import photo_of

from benchlib import machine, rss_mib, vector_flags

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
UPLOAD_LIMIT_S = 120
IDLE_S = 45


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds used so far by process ``pid`` and its threads, or by the whole machine when None."""
    ticks = os.sysconf("SC_CLK_TCK")
    if pid is None:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        return (int(fields[0]) + int(fields[1]) + int(fields[2])) / ticks  # user, nice, system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(run: Path, port: int, launcher: str = "streamlit") -> subprocess.Popen:
    """The dashboard on 127.0.0.1:``port``; returns once /_stcore/health answers. ``launcher``: "streamlit"
    (`streamlit run app.py`: the models start loading when the first browser opens the page) or "painxai"
    (`painxai serve`, what `make run` uses: they start loading with the server)."""
    options = ["--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port)]
    if launcher == "painxai":
        command = [str(Path(sys.executable).with_name("painxai")), "serve", "--run", str(run), *options]
    else:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", *options, "--", "--run", str(run)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, env={**os.environ, "PAINXAI_ARTIFACTS": str(run.parent)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("the dashboard did not start within 120 s")


async def one_session(browser, base: str, photo: Path, models: int, start: asyncio.Event) -> float:
    """Open Assess in a new browser session, upload ``photo`` when ``start`` fires; seconds until the
    ``models`` probabilities show."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        await page.goto(base)
        await page.get_by_text("Upload a photo of a newborn's face").wait_for(timeout=60_000)
        await start.wait()
        began = time.perf_counter()
        await page.locator("input[type='file']").set_input_files(str(photo))
        metrics = page.get_by_test_id("stMetric")
        deadline = began + UPLOAD_LIMIT_S
        while await metrics.count() < models:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no result within {UPLOAD_LIMIT_S} s")
            await asyncio.sleep(0.05)
        return time.perf_counter() - began
    finally:
        await context.close()


async def drive(base: str, photo: Path, models: int, sessions: int, rounds: int, server_pid: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            event = asyncio.Event()
            event.set()
            warm = await one_session(browser, base, photo, models, event)
            print(f"warm-up session (waits for the background loading): {warm:.1f} s; "
                  f"server RSS {rss_mib(server_pid):.0f} MiB")
            samples: list[float] = []
            for number in range(1, rounds + 1):
                server_cpu, machine_cpu = cpu_seconds(server_pid), cpu_seconds()
                start = asyncio.Event()
                tasks = [asyncio.create_task(one_session(browser, base, photo, models, start)) for _ in range(sessions)]
                await asyncio.sleep(3)  # every session has its page open
                start.set()
                times = sorted(await asyncio.gather(*tasks))
                samples += times
                print(f"round {number}: {sessions} sessions, upload to {models} results: "
                      + ", ".join(f"{t:.1f}" for t in times) + f" s; server RSS {rss_mib(server_pid):.0f} MiB; CPU "
                      f"{cpu_seconds(server_pid) - server_cpu:.1f} s in the server, "
                      f"{cpu_seconds() - machine_cpu:.1f} s on the machine (the browser's pages too)")
            await asyncio.sleep(IDLE_S)
            print(f"after {IDLE_S} s idle (the closed sessions' state expires after server.disconnectedSessionTTL): "
                  f"server RSS {rss_mib(server_pid):.0f} MiB")
            quantiles = statistics.quantiles(samples, n=20, method="inclusive")
            print(f"all rounds: p50 {statistics.median(samples):.1f} s, p95 {quantiles[18]:.1f} s "
                  f"({len(samples)} uploads)")
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("artifacts/demo"))
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if not 1 <= args.sessions <= 10 or not 1 <= args.rounds <= 10:
        raise SystemExit("--sessions and --rounds must be between 1 and 10 (this benchmark stays bounded)")
    run = args.run.resolve()
    photo = photo_of(run)
    from painxai.runs.reader import Run

    models = len(Run(run).models())
    print(machine())
    print(f"vector flags: {vector_flags()}; run {run} ({models} models); photo {photo}")
    port = free_port()
    # A terminated benchmark still stops its server (the finally below runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = start_server(run, port)
    try:
        asyncio.run(drive(f"http://127.0.0.1:{port}", photo, models, args.sessions, args.rounds, server.pid))
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
