"""Streamlit pieces shared by the pages: the chosen run and the heavy objects cached for all sessions.

Only models and runs are cached (``st.cache_resource`` and :data:`painxai.inference.warm.STORE` are shared by
every session); photos never are. Both are bounded: the least recently used entry goes first, so about one
run's five fold ensembles stay in memory at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import streamlit as st

from painxai.dashboard import run_choice
from painxai.errors import PainxaiError
from painxai.inference.warm import STORE

if TYPE_CHECKING:
    from painxai.dashboard.trust import Badge
    from painxai.runs.reader import FoldEnsemble, Run

RUN_KEY = "run_path"
# Width of one map on Assess and Compare (px): three per row on a 1300 px desktop, two on a 768 px tablet,
# one on a 390 px phone (the rows wrap; nothing scrolls sideways).
MAP_WIDTH = 264


@st.cache_resource(max_entries=4, show_spinner=False)
def load_run(path: str, signature: tuple[str, ...]) -> Run:
    """The run at ``path``; ``signature`` (its finished folds) makes a fold that finishes show up.

    Raises RunError (a PainxaiError) when the run cannot be opened, e.g. a run.json that is not JSON."""
    from painxai.runs.reader import Run

    return Run(path)


def open_run(path: str) -> tuple[Run | None, str]:
    """(the run, "") or (None, what is wrong with it, in plain words)."""
    try:
        return load_run(path, run_choice.run_signature(path)), ""
    except PainxaiError as error:
        return None, str(error)


def current_run() -> Run | None:
    """The run chosen in the sidebar, or ``None`` when there is none or it cannot be opened."""
    path = st.session_state.get(RUN_KEY)
    return open_run(path)[0] if path else None


def require_run() -> Run:
    """The chosen run; without one (or with one that cannot be opened) say what to do and stop the page."""
    path = st.session_state.get(RUN_KEY)
    if not path:
        st.info(run_choice.NO_RUN_HELP, icon=":material/info:")
        st.stop()
    run, problem = open_run(path)
    if run is None:
        st.error(f"This run cannot be opened: {problem}. Choose another run in the sidebar.", icon=":material/error:")
        st.stop()
    return run


def keep_tensorflow_caches() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit's script runner (``_clean_problem_modules``; seen in 1.67) clears Keras's session
    after each run of any session's script, for apps that build models in their script. Ours live in
    the process-wide :data:`STORE`, and the clearing threw away TensorFlow's kernel cache: every
    assessment re-created its kernels, on every upload of every session, and a full garbage collection
    held the interpreter (bench/README.md, "Figures moved out of the code"). There
    is no setting for it, so the runner's module function is replaced by the rest of its clean-up
    (matplotlib's figures); ``tests/test_app.py`` fails when Streamlit renames or drops the function.
    """
    from streamlit.runtime.scriptrunner import script_runner

    def close_figures_only() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    script_runner._clean_problem_modules = close_figures_only


def start_warming(run: Run) -> None:
    """Load and warm every model of ``run`` in the background (once per process and run), so that the
    first photo finds them ready. ``PAINXAI_WARM=0`` turns this off (models then load on first use)."""
    if os.environ.get("PAINXAI_WARM", "1") != "0":
        # Keras (and TensorFlow) are imported here, in this thread, before the loading thread starts: two
        # threads importing them at once meet half-initialised modules (seen: an AttributeError deep in
        # tensorflow.python.data on the Compare page). A few seconds, once per server process.
        with st.spinner("Starting TensorFlow…", show_time=True):
            import keras  # noqa: F401

        STORE.warm(run, run.models())


def each_ensemble(run: Run, models: list[str]) -> Iterator[tuple[str, FoldEnsemble | None]]:
    """(model, its fold ensemble) for each of ``models`` in turn, each as soon as it is loaded (the first
    can be used while the next still loads); None, with a warning naming the file, for a model whose folds
    fail to load (the other models go on)."""
    for model in models:
        try:
            yield model, STORE.get(run, model)
        except PainxaiError as error:
            st.warning(f"{model} is unavailable: {error}", icon=":material/warning:")
            yield model, None


def ensembles(run: Run, models: list[str]) -> dict[str, FoldEnsemble]:
    """The fold ensembles of ``models`` (see :func:`each_ensemble`); a progress bar while some still load."""
    waiting = [model for model in models if not STORE.loaded(run, model)]
    bar = st.progress(0.0, text="Loading the fold models…") if waiting else None
    loaded = {}
    for index, (model, ensemble) in enumerate(each_ensemble(run, models)):
        if bar is not None:
            bar.progress((index + 1) / len(models), text=f"Loaded the fold models of {model}…")
        if ensemble is not None:
            loaded[model] = ensemble
    if bar is not None:
        bar.empty()
    return loaded


def map_look_options(page: str) -> tuple[str, bool]:
    """The colour map and whether to outline the NFCS regions, chosen in one row (widget keys prefixed with
    ``page``)."""
    from painxai.explain import display

    with st.container(horizontal=True, vertical_alignment="bottom"):
        cmap = st.selectbox("Colour map", list(display.CMAPS), format_func=display.CMAPS.get, key=f"{page}_cmap",
                            width=300, help="Inferno: equal steps in value look equal. Jet: the paper's Figure 1.")
        outlines = st.toggle("Outline the NFCS regions", key=f"{page}_outlines",
                             help="The facial regions NFCS scores (brow, eyes, nasolabial furrow, mouth, chin...), "
                                  "from the landmarks or the synthetic twin's masks.")
    return cmap, outlines


def colour_legend(cmap: str, top: float | None) -> None:
    """One horizontal colour bar under a grid of maps, with a one-line caption. ``top``: the value of the
    right end when every map shares one scale; None when each map has its own (written under the map)."""
    from painxai.explain import display

    st.image(display.colour_bar(1.0, cmap, height=14, width=512, horizontal=True), width="stretch")
    end = f"{top:.3g} (one scale for every map)" if top is not None else "the top of each map's scale (under it)"
    st.caption(f"Map value: from 0 on the left (transparent, the photo shows) to {end} on the right.")


def show_badge(badge: Badge) -> None:
    """A map's trust badge, its main reason in one short line under it, and the full reasons one tap away
    in an expander (not a hover tooltip: a touch screen has no hover)."""
    st.markdown(badge.markdown)
    st.caption(badge.summary)
    if badge.note:
        st.caption(badge.note)
    with st.expander("All reasons", type="compact"):
        st.markdown(badge.details)


def health_banner(run: Run) -> None:
    """Name the damaged folds (the pages use the healthy ones) and the models left with no healthy fold."""
    health = run.health()
    if health.ok:
        return
    damaged = sorted({(p.model, -1 if p.fold is None else p.fold) for p in health.problems})
    names = ", ".join(f"{model} {'(all folds)' if fold < 0 else f'fold {fold}'}" for model, fold in damaged)
    unavailable = [m for m in run.models(include_unfinished=True) if m not in health.healthy]
    lines = [f"Damaged folds are left out, the pages use the healthy ones: {names}."]
    if unavailable:
        lines.append(f"Unavailable (no healthy fold): {', '.join(unavailable)}.")
    st.warning(" ".join(lines), icon=":material/warning:")
    with st.expander("What is wrong with each file, and what to do"):
        st.code("\n".join(problem.describe() for problem in health.problems), language=None)


def run_progress(run: Run) -> str:
    """One line on how complete the run is, e.g. ``5 models, 47 of 50 folds finished``."""
    models = run.models()
    finished = sum(len(run.finished_folds(m)) for m in models)
    planned = len(run.config.get("models", models)) * int(run.config.get("k", 0) or 0)
    still = " (still training)" if planned and finished < planned else ""
    return f"{len(models)} models, {finished} of {planned or '?'} healthy folds finished{still}"
