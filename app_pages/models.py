"""Models: one card per model with the facts of the paper's Table 1 and what this run started from."""

from __future__ import annotations

import streamlit as st

from app_pages._shared import current_run
from painxai.dashboard import run_choice, tables, trust
from painxai.models import SPECS

st.title("Models")
st.caption("The networks of Coutrin & Thomaz (2022), Table 1, and any model registered after them, as built by "
           "painxai.")
run = current_run()
if run is None:
    st.info(run_choice.NO_RUN_HELP, icon=":material/info:")
else:
    st.caption(trust.provenance_line(run))
trained = set(run.models()) if run is not None else set()
with st.container(horizontal=True, gap="medium"):
    for name, spec in SPECS.items():
        size = run.input_size(name) if name in trained else None
        card = tables.model_card(spec, run.config if run is not None else None, size)
        with st.container(border=True, width=340):
            st.markdown(f"**{card.pop('title')}** (`{card.pop('model')}`)")
            for label, value in card.items():
                st.markdown(f"- {label}: {value}")
