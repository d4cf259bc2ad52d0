"""painxai dashboard: the entry point (``streamlit run app.py -- --run artifacts/demo``).

It picks the run (from ``--run``, else ``PAINXAI_RUN``, else the newest run in ``artifacts/``; the user can
switch to any other run in the sidebar), puts the choice in the session state, starts loading the run's
models in a background thread (so the first photo finds them ready), names damaged folds in a banner, and
hands over to the page the user chose. The pages live in app_pages/, not pages/: a pages/ folder beside
app.py switches Streamlit into its legacy multipage mode, in which the first visit runs the wrong script.
"""

from __future__ import annotations

import sys

import streamlit as st

from painxai import quiet_native_logs
from painxai.dependencies import load_native_first

load_native_first()  # before anything loads TensorFlow (painxai.dependencies says why)
quiet_native_logs()

from app_pages._shared import (  # noqa: E402
    RUN_KEY,
    health_banner,
    keep_tensorflow_caches,
    open_run,
    run_progress,
    start_warming,
)
from painxai.dashboard import run_choice  # noqa: E402
from painxai.errors import PainxaiError  # noqa: E402

keep_tensorflow_caches()
st.set_page_config(page_title="painxai: neonatal pain, explained", page_icon=":material/child_care:", layout="wide")

requested_run = run_choice.parse_run_argument(sys.argv[1:])
runs = run_choice.available_runs(requested_run)
run = None
with st.sidebar:
    if runs:
        first = run_choice.initial_run_index(requested_run, runs)
        chosen = st.selectbox(
            "Run", runs, index=first, format_func=lambda p: p.name, key="run_choice",
            help="Every trained run in artifacts/. Make another with `painxai train` or `painxai demo`.",
        )
        st.session_state[RUN_KEY] = str(chosen)
        run, problem = open_run(str(chosen))
        if run is None:
            st.error(f"This run cannot be opened: {problem}", icon=":material/error:")
        else:
            st.caption(run_progress(run))
            start_warming(run)  # the models load in the background while the user picks a photo
    else:
        st.session_state[RUN_KEY] = None
        st.warning("No trained run yet.")
    st.caption("Research software: not a diagnosis.")
if run is not None:
    health_banner(run)

page = st.navigation(
    [
        st.Page("app_pages/assess.py", title="Assess a photo", icon=":material/stethoscope:", default=True),
        st.Page("app_pages/monitor.py", title="Monitor (bedside)", icon=":material/monitor_heart:"),
        st.Page("app_pages/compare.py", title="Compare explanations", icon=":material/grid_view:"),
        st.Page("app_pages/metrics.py", title="Metrics", icon=":material/monitoring:"),
        st.Page("app_pages/trust.py", title="Trust in the maps", icon=":material/verified:"),
        st.Page("app_pages/data.py", title="Data", icon=":material/dataset:"),
        st.Page("app_pages/models.py", title="Models", icon=":material/schema:"),
    ]
)
try:
    page.run()
except PainxaiError as error:  # caught once for every page: e.g. a package missing from this environment
    st.error(str(error), icon=":material/error:")
