"""Streamlit pieces shared by the pages: the chosen run and the heavy objects cached for all sessions.

Only models and runs are cached here (``st.cache_resource`` is shared by every session); photos never are.
Caches are bounded: ``max_entries`` evicts the least recently used entry, so at most one run's five fold
ensembles stay in memory at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from painxai.dashboard import run_choice

if PagesManager.uses_pages_directory:
    # When the first request a server process gets is for a page URL (a bookmark of /metrics),
    # Streamlit runs that page file on its own, in its old multipage mode for apps with a pages/
    # folder, because app.py (whose st.navigation switches that mode off) has not run yet. Switch it
    # off here and rerun, so that app.py runs and shows the asked page with the real navigation.
    PagesManager.uses_pages_directory = False
    st.rerun()

if TYPE_CHECKING:
    from painxai.runs.reader import FoldEnsemble, Run

RUN_KEY = "run_path"
ENSEMBLES_KEPT = 5  # one run's five models; older ensembles are released first


@st.cache_resource(max_entries=4, show_spinner=False)
def load_run(path: str, signature: tuple[str, ...]) -> Run:
    """The run at ``path``; ``signature`` (its finished folds) makes a fold that finishes show up."""
    from painxai.runs.reader import Run

    return Run(path)


@st.cache_resource(max_entries=ENSEMBLES_KEPT, show_spinner=False)
def load_ensemble(path: str, signature: tuple[str, ...], model: str) -> FoldEnsemble:
    """All finished fold models of ``model`` in the run, sharing their frozen layers."""
    return load_run(path, signature).ensemble(model)


def current_run() -> Run | None:
    """The run chosen in the sidebar, or ``None`` when there is none."""
    path = st.session_state.get(RUN_KEY)
    if not path:
        return None
    return load_run(path, run_choice.run_signature(path))


def require_run() -> Run:
    """The chosen run; without one, explain how to make one and stop the page."""
    run = current_run()
    if run is None:
        st.info(run_choice.NO_RUN_HELP, icon=":material/info:")
        st.stop()
    return run


def ensembles(run: Run, models: list[str]) -> dict[str, FoldEnsemble]:
    """The fold ensembles of ``models``, loading the missing ones behind a progress bar."""
    path, signature = str(run.path), run_choice.run_signature(run.path)
    loaded = {}
    bar = None
    for index, model in enumerate(models):
        if bar is None:
            bar = st.progress(0.0, text=f"Loading the fold models of {model}…")
        bar.progress(index / len(models), text=f"Loading the fold models of {model}…")
        loaded[model] = load_ensemble(path, signature, model)
    if bar is not None:
        bar.empty()
    return loaded


def run_progress(path: str) -> str:
    """One line on how complete the run is, e.g. ``5 models, 47 of 50 folds finished``."""
    run = load_run(path, run_choice.run_signature(path))
    models = run.models()
    finished = sum(len(run.finished_folds(m)) for m in models)
    planned = len(run.config.get("models", models)) * int(run.config.get("k", 0))
    still = " (still training)" if planned and finished < planned else ""
    return f"{len(models)} models, {finished} of {planned or '?'} folds finished{still}"
