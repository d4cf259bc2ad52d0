"""Data: what the run was trained on — datasets, folds and sample images per subject."""

from __future__ import annotations

import streamlit as st

from app_pages._shared import require_run
from painxai.dashboard import tables, trust
from painxai.data.manifest import summarise

st.title("Data")
run = require_run()
st.caption(trust.provenance_line(run))
manifest = run.manifest()
folds = run.folds()

st.subheader("Dataset composition")
st.dataframe(summarise(manifest), width="stretch")

st.subheader(f"Fold composition ({folds['k']} folds, leave-subjects-out)")
st.caption("Each fold's test set; no subject's images are ever split between folds.")
st.dataframe(tables.fold_table(manifest, folds), hide_index=True, width="stretch")
with st.expander("Subjects and their folds"):
    st.dataframe(tables.subject_table(manifest, folds), hide_index=True, width="stretch")

st.subheader("Sample images per subject")
subjects = sorted(manifest["subject"].astype(str).unique())
subject = st.selectbox("Subject", subjects, key="data_subject")
rows = manifest[manifest["subject"].astype(str) == subject].head(8)
with st.container(horizontal=True):
    for row in rows.itertuples(index=False):
        st.image(row.path, caption=f"{row.label} · {row.dataset}", width=150)
