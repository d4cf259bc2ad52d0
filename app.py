"""painxai dashboard: the entry point (``streamlit run app.py -- --run artifacts/demo``).

It picks the run (from ``--run``, else ``PAINXAI_RUN``, else the newest run in ``artifacts/``; the user can
switch to any other run in the sidebar), puts the choice in the session state, and hands over to the page
the user chose. TensorFlow is imported only when a page needs a model, so the first page appears quickly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

from painxai import quiet_native_logs

quiet_native_logs()

from pages._shared import RUN_KEY, run_progress  # noqa: E402 - after the log settings
from painxai.dashboard import run_choice  # noqa: E402
from painxai.paths import artifacts_dir  # noqa: E402

st.set_page_config(page_title="painxai: neonatal pain, explained", page_icon=":material/child_care:", layout="wide")


def _available_runs(requested: Path | None) -> list[Path]:
    """Run folders under ``artifacts/``, plus the requested one when it lives elsewhere."""
    from painxai.runs.reader import list_runs

    runs = [run.path for run in list_runs(artifacts_dir())]
    listed = {p.resolve() for p in runs}
    if requested is not None and (requested / "run.json").is_file() and requested.resolve() not in listed:
        runs.insert(0, requested)
    return runs


requested_run = run_choice.parse_run_argument(sys.argv[1:])
runs = _available_runs(requested_run)
with st.sidebar:
    if runs:
        first = run_choice.initial_run_index(requested_run, runs)
        chosen = st.selectbox(
            "Run", runs, index=first, format_func=lambda p: p.name, key="run_choice",
            help="Every trained run in artifacts/. Make another with `painxai train` or `painxai demo`.",
        )
        st.session_state[RUN_KEY] = str(chosen)
        st.caption(run_progress(str(chosen)))
    else:
        st.session_state[RUN_KEY] = None
        st.warning("No trained run yet.")
    st.caption("Research software: not a diagnosis.")

page = st.navigation(
    [
        st.Page("pages/assess.py", title="Assess a photo", icon=":material/stethoscope:", default=True),
        st.Page("pages/compare.py", title="Compare explanations", icon=":material/grid_view:"),
        st.Page("pages/metrics.py", title="Metrics", icon=":material/monitoring:"),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:"),
        st.Page("pages/models.py", title="Models", icon=":material/schema:"),
    ]
)
page.run()
