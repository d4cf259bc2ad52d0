"""Assess a photo (clinicians): face box, each model's fold-ensemble verdict, the maps, region shares, report.

The photo lives only in this browser session (the upload widget and ``st.session_state``): it is never
written to disk, logged, or put in a cache shared with other sessions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages._shared import MAP_WIDTH, colour_legend, each_ensemble, map_look_options, require_run, show_badge
from painxai.dashboard import assess as state
from painxai.dashboard import face_box, figures, grid, tables, trust
from painxai.data.images import ImageLoadError, load_image
from painxai.errors import PainxaiError
from painxai.explain import display
from painxai.explain.methods import method_class
from painxai.inference import out_of_fold, photo_report
from painxai.inference.assess import AssessRequest, ExplanationRequest, add_model

DISPLAY_SIZE = 320  # pixels of the face crop the maps are drawn on (shown at MAP_WIDTH, sharp on a tablet)
CARD_WIDTH = 124  # one model's probability card: five fit in one row on a 768 px tablet
# What load_image reads (GIF: its first frame). The uploader itself takes any file, so that any other type
# gets our message naming these rather than the widget's own refusal.
PHOTO_TYPES = ["jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "gif"]
ACCEPTED = "JPEG, PNG, BMP, TIFF, WebP or GIF (its first frame)"

st.title("Assess a photo")
st.warning(photo_report.NOTICE, icon=":material/medical_information:")
run = require_run()
st.caption(trust.provenance_line(run))

source = st.radio("Photo from", ["Upload a file", "Take a photo"], horizontal=True, key="photo_source")
if source == "Upload a file":
    photo = st.file_uploader("Newborn face photo", key="photo_upload", help=f"A photo as {ACCEPTED}.")
else:
    photo = st.camera_input("Newborn face photo", key="photo_camera")
if photo is None:
    st.info("Upload a photo of a newborn's face (or take one) to see what each model says and where it looks.")
    st.stop()
suffix = Path(photo.name).suffix.lower().lstrip(".")
if source == "Upload a file" and suffix not in PHOTO_TYPES:
    st.error(f"{photo.name} cannot be used: {'.' + suffix if suffix else 'this'} files are not photos this page "
             f"reads. Upload a photo as {ACCEPTED}.", icon=":material/error:")
    st.stop()
try:
    image = load_image(photo.getvalue())
except ImageLoadError as error:
    st.error(f"This file cannot be used: {error}. Upload a photo as {ACCEPTED}.", icon=":material/error:")
    st.stop()

# The answer comes first: it is drawn here once a face box is accepted and the models have read the face;
# the face-box check and the options follow it (on a tablet the answer is then on the first screen).
answer = st.container()

# --- the face box: detected and checked by the input gate, or drawn by hand ------------------------------
photo_id = photo.file_id
start = face_box.box_start(image.shape, state.photo_screening(st.session_state, photo_id, image))
if start.too_small:  # too small for any box, by hand or not
    st.error(start.screening.reason, icon=":material/error:")
    st.stop()
if start.warning:
    st.warning(start.warning, icon=":material/crop_free:")
by_hand_key = f"by_hand_{photo_id}"
height, width = image.shape[:2]
# Once a box is accepted (found by the gate, or confirmed by hand) its check folds into an expander.
box_check = (st.expander(start.title, icon=":material/face:")
             if start.found or st.session_state.get(by_hand_key) else st.container())
left, right = box_check.columns([3, 2])
with right:
    st.markdown("**Check the face box.** Adjust it if it does not frame the whole face.")
    centre_x = st.slider("Centre, left to right (px)", 0, width, start.centre_x, key=f"box_x_{photo_id}")
    centre_y = st.slider("Centre, top to bottom (px)", 0, height, start.centre_y, key=f"box_y_{photo_id}")
    side = st.slider("Size (px)", face_box.MIN_SIDE, max(face_box.MIN_SIDE, min(height, width)),
                     max(face_box.MIN_SIDE, start.side), key=f"box_side_{photo_id}")
    confirmed = (not start.found) and st.checkbox("The box is on the face: score this photo", key=by_hand_key)
choice = face_box.box_choice(start, centre_x, centre_y, side, confirmed, image.shape)
with left:
    st.image(face_box.draw_box(image, choice.box), caption="The face box the models will read", width="stretch")
if not choice.ready:
    st.stop()  # nothing is scored until the user has put the box on the face
used = state.used_screening(st.session_state, photo_id, image, start, choice)
if not used.accepted:
    st.error(used.reason, icon=":material/crop_free:")
    st.stop()

# --- the models' verdicts ------------------------------------------------------------------------------
models = st.multiselect("Models", run.models(), default=run.models(), key="assess_models")
counterfactual = st.toggle("Show the counterfactual map: what speaks against pain", key="counterfactual")
scale = st.radio("Colour scale", list(display.SCALES), format_func=display.SCALES.get, horizontal=True,
                 key="scale_choice", help="Reference: comparable across photos for one model, every model visible.")
cmap, outlines = map_look_options("assess")
# A photo of the run's own data is scored by the fold model that never saw its subject (the others trained on it).
match = out_of_fold.find_in_run(run, data=photo.getvalue())  # hashed in memory, never stored
fold_request = out_of_fold.OUT_OF_FOLD
if match is not None:
    st.info(f"This photo is in the run's data (subject {match.subject}, {match.label}).", icon=":material/database:")
    if st.toggle("Use every fold model (in-sample: nine of them trained on this face)", key="assess_in_sample"):
        fold_request = "all"
if not models:
    st.info("Choose at least one model.")
    st.stop()
request = AssessRequest(models=tuple(models), folds=fold_request, box=used.box,
                        explanation=ExplanationRequest("counterfactual" if counterfactual else "gradcam"))
method = request.explanation.method
started = state.start_assessment(st.session_state, photo_id, image, used, request, match)
if started.warning:
    st.warning(started.warning, icon=":material/warning:")
assessment = started.assessment  # this session only; filled model by model below

answer.subheader("What the models say: the probability of pain")
# Each model's card fills in as soon as its own fold ensemble is ready: on a server that has just started,
# the first answers do not wait for the models still loading.
with answer.container(horizontal=True):
    cards = {model: st.container(border=True, width=CARD_WIDTH).empty() for model in models}
loaded = {}
for model, ensemble in each_ensemble(run, models):
    if ensemble is None:
        cards[model].caption(f"{model}: unavailable")
        continue
    loaded[model] = ensemble
    if model not in assessment.models:
        cards[model].caption(f"{model}: reading the face…")
        try:
            add_model(assessment, ensemble, request, match)
        except PainxaiError as error:
            st.error(str(error), icon=":material/error:")
            st.stop()
    verdict = assessment.models[model]
    with cards[model].container():
        st.metric(verdict.name, f"{verdict.prob_mean:.0%}")  # the mean over the fold models, ± their std
        st.caption(f"± {verdict.prob_std:.0%} · {verdict.n_pain} of {len(verdict.folds)} folds say pain")
if not loaded:
    st.error("None of the chosen models could be loaded (see the warnings above).", icon=":material/error:")
    st.stop()
verdicts = [assessment.models[model] for model in models if model in loaded]
consensus = assessment.consensus
answer.info(consensus, icon=":material/groups:")
fold_notes = {v.fold_choice.note for v in verdicts if v.fold_choice is not None}
for note in fold_notes:
    (answer.warning if note.startswith("in-sample") else answer.caption)(f"Folds: {note}.")

st.subheader("Where they look" if not counterfactual else "What speaks against pain")
entries, problem = trust.audit_entries(run.path)
# The audit's reference scales are those of the pain maps; the counterfactual map has none.
shown = grid.assess_maps(image, choice.box, assessment.label_map, verdicts, scale,
                         {} if counterfactual else trust.reference_scales(entries), cmap, outlines, DISPLAY_SIZE)
if outlines and shown.regions is None:
    st.caption("No NFCS regions to outline: the landmarks could not be placed reliably on this face.")
with st.container(horizontal=True):
    for cell in shown.cells:
        with st.container(width=MAP_WIDTH, gap="xxsmall"):
            st.image(cell.picture, caption=cell.caption, width="stretch")
            show_badge(trust.badge(cell.model, entries, method, run.model_info(cell.model)))
colour_legend(cmap, shown.vmaxes[next(iter(shown.maps))] if scale == "shared" else None)
if problem:
    st.warning(problem)
st.caption(f"{method_class(method).label}, fold mean; colour scale: {shown.scale_note}.")
if st.toggle("Deletion and insertion on this photo (does each map rank the pixels that matter?)",
             key="assess_faithfulness"):
    from painxai.inference.assess import faithfulness_scores

    with st.spinner("Blurring away and revealing pixels in each map's order…"):
        faith = pd.DataFrame({v.name: faithfulness_scores(loaded[v.name], v, steps=10) for v in verdicts}).T
    st.dataframe(faith.drop(columns="steps").style.format("{:.3f}"), width="stretch")
    st.caption("Area under the probability curve as the map's top pixels are blurred away (deletion: lower is "
               "better) or revealed (insertion: higher is better), beside a random map. One photo is noisy: the "
               "Trust page has the audit over many.")

st.subheader("Facial regions (NFCS)")
shares = None
if assessment.label_map is None:
    st.info("The facial landmarks could not be placed reliably on this face, so no region shares are given.")
else:
    shares = state.region_share_table(verdicts)
    st.dataframe(shares.map(lambda v: "–" if pd.isna(v) else f"{v:.0%}"), width="stretch")
    st.caption("A dash (–): the map has no positive mass, so it points nowhere.")
    # The chart repeats the table; drawn on request, since plotly's script is the heaviest thing a browser
    # loads on this page (five sessions' browsers on one 2-core machine: bench/bench_load.py).
    if st.toggle("Show the shares as a chart", key="assess_regions_chart"):
        long = tables.region_share_frame({m: [row.to_dict()] for m, row in shares.iterrows()})
        st.plotly_chart(figures.region_share_figure(long, "Share of each map's positive mass"), key="assess_regions")

content = state.report_content(run, face_box.draw_box(image, choice.box), verdicts, shown.overlays, consensus, method,
                               shown.scale_note, shares)
stamp = content.created.strftime("%Y%m%d-%H%M%S")
with st.container(horizontal=True):
    st.download_button("Report (PNG)", lambda: photo_report.report_png(content), f"painxai-report-{stamp}.png",
                       "image/png", key="report_png", on_click="ignore")
    st.download_button("Report (PDF)", lambda: photo_report.report_pdf(content), f"painxai-report-{stamp}.pdf",
                       "application/pdf", key="report_pdf", on_click="ignore")
