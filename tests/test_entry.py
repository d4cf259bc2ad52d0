"""The dashboard's entry point on a freshly started server: the first request, to / or to a page URL,
gets the real navigation and the asked page (no legacy pages/ mode, no ImportError)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from test_e2e import _free_port, _served, browser_type_launch_args  # noqa: F401 - the fixture: Debian's chromium

from test_app import make_files_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
PAGE_TITLES = ("Assess a photo", "Compare explanations", "Metrics", "Data", "Models")


def test_no_pages_folder_beside_app_py():
    """A pages/ folder next to app.py switches Streamlit into its legacy multipage mode (it runs a page
    script on its own on a server's first request); the pages live in app_pages/."""
    assert not (ROOT / "pages").exists()
    assert (ROOT / "app_pages" / "assess.py").is_file()


@pytest.fixture()
def fresh_server(tmp_path):
    """A new Streamlit process serving a small run; yields its base URL as soon as /_stcore/health answers."""
    run = make_files_run(tmp_path / "artifacts" / "entry_run")
    port = _free_port()
    env = {**os.environ, "PAINXAI_ARTIFACTS": str(run.parent)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--", "--run", str(run)]
    with _served(command, env, port) as base:
        yield base


@pytest.mark.parametrize(("path", "heading"), [("", "Assess a photo"), ("metrics", "Metrics")])
def test_first_request_to_a_fresh_server_shows_the_page_with_the_real_navigation(fresh_server, page, path, heading):
    from playwright.sync_api import expect

    page.goto(f"{fresh_server}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=60_000)
    navigation = page.get_by_test_id("stSidebarNav")
    for title in PAGE_TITLES:
        expect(navigation.get_by_text(title, exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Research software: not a diagnosis.")).to_be_visible()  # app.py ran around the page
    page.wait_for_timeout(1500)  # a late rerun would show its exception now
    assert not page.get_by_test_id("stException").count()
    assert "ImportError" not in page.content()
