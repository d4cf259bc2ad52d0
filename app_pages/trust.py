"""Trust in the maps: the run's audit (painxai audit) per model, its verdict, reasons and figures."""

from __future__ import annotations

import streamlit as st

from app_pages._shared import require_run
from painxai.dashboard import figures, trust
from painxai.explain.methods import DEFAULT_METHOD, labels

st.title("Trust in the maps")
run = require_run()
st.caption(trust.provenance_line(run))
st.markdown(
    "A map can look convincing and still say nothing about the model. Each model's maps (Grad-CAM by default, "
    "other methods with `painxai audit --methods`) are audited "
    "on out-of-fold test images (each image explained by the fold model that never saw its subject): do they "
    "change when the model's weights are destroyed (randomisation test), do they point at the pain cues more "
    "than maps that ignore the model, does deleting the pixels they rank first change the prediction faster "
    "than deleting random pixels? The thresholds are in docs/TRUST.md."
)
by_method, problem = trust.audit_methods(run.path)
if problem:
    st.error(problem)
if not any(by_method.values()):
    st.info(f"This run has not been audited yet. Run `painxai audit --run {run.path}` (about 3 minutes for the "
            "demo run on 2 cores), then reload this page.", icon=":material/info:")
    st.stop()

st.header("Which maps pass, per model and method")
st.dataframe(trust.verdict_table(by_method, run.models()), width="stretch")
st.caption("Input methods are audited on fewer images than the CAMs (each of their maps costs many passes of "
           "the network), so more of their checks stay undecided; the settings are in the table below.")
audited = [method for method in labels() if by_method.get(method)]
method = st.selectbox("Method", audited, index=audited.index(DEFAULT_METHOD) if DEFAULT_METHOD in audited else 0,
                      format_func=labels().get, key="trust_method")
entries = by_method[method]

st.header(f"Verdicts: {labels()[method]}")
for model in run.models():
    badge = trust.badge(model, entries, method)
    with st.container(border=True):
        st.markdown(f"**{model}** {badge.markdown}")
        st.caption(badge.summary)
        if model in entries:
            for reason in entries[model]["reasons"]:
                st.markdown(f"- {reason}")
        else:
            st.markdown(badge.details)

table = trust.audit_table(entries)
st.header("Every figure")
st.dataframe(table.style.format(precision=2, na_rep="-"), hide_index=True, width="stretch")
st.download_button("Download CSV", table.to_csv(index=False), "audit.csv", "text/csv", key="trust_csv")

st.header("Randomisation test")
st.caption("Similarity of each model's map to the trained model's map after randomising its layers one by one, "
           "output layer first. A map that stays similar shows the image, not what the model learned.")
st.plotly_chart(figures.randomisation_figure(trust.randomisation_frame(entries)), key="trust_randomisation")

st.header("Localisation against baselines that ignore the image")
local = trust.localisation_frame(entries)
if local.empty:
    st.info("This run's data have no ground-truth cue regions and intensities (only the synthetic twin has them): "
            "localisation is not checked.")
else:
    st.caption("Every out-of-fold pain image. The cue correlation decides (does the map's mass per cue region "
               "follow that image's own cue intensities? a map that lights the same place on every face cannot); "
               "the pointing game and cue share are shown for context: at a few cells per side the best fixed "
               "cell already lights the brows and eyes. Baselines are made at each model's own map resolution; "
               "the 95% intervals (by subject) are in the table above.")
    columns = st.columns(len(trust.LOCALISATION_SCORES))
    for column, score in zip(columns, trust.LOCALISATION_SCORES, strict=True):
        column.plotly_chart(figures.localisation_figure(local, score), key=f"trust_{score.replace(' ', '_')}")

st.header("Deletion and insertion")
st.caption("Area under the curve of the explained class's probability as the pixels the map ranks first are "
           "blurred away (deletion: lower is better) or revealed (insertion: higher is better), against random maps.")
st.plotly_chart(figures.faithfulness_figure(trust.faithfulness_frame(entries)), key="trust_faithfulness")
