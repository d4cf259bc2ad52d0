"""Compare explanations (researchers): a grid like the paper's Figure 1, region attribution, agreement.

Out-of-fold by default: an image of the run's data is explained by the fold model whose test fold held its
subject (the other nine trained on that face); other fold choices are offered and labelled in-sample. The
paper's Figure 1 protocol is the default: each model's predicted class, on the images every chosen model
classifies correctly out-of-fold (pain, no pain or the true label, and any image, one click away).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._shared import MAP_WIDTH, colour_legend, ensembles, map_look_options, require_run, show_badge
from painxai.dashboard import figures, grid, tables, trust
from painxai.data.images import ImageLoadError, load_image
from painxai.errors import PainxaiError
from painxai.explain import display
from painxai.explain.methods import labels
from painxai.inference import out_of_fold
from painxai.labels import PAIN, PAIN_THRESHOLD
from painxai.models import SPECS

METHODS = labels()  # name -> label, from the one registry
DISPLAY_SIZE = 320  # pixels of the face crops the maps are drawn on (shown at MAP_WIDTH)
CLASSES = {"pain": "pain", "nopain": "no pain", "predicted": "each model's prediction", "truth": "the true label"}


def correct_everywhere(predictions: pd.DataFrame, models: list[str]) -> set[str]:
    """Paths that every one of ``models`` classifies correctly out-of-fold (each fold's predictions.csv holds
    its own test images only, so every row is an out-of-fold prediction)."""
    rows = predictions[predictions["model"].isin(models)]
    correct = (rows["prob_pain"].astype(float) >= PAIN_THRESHOLD) == (rows["label"] == PAIN)
    per_path = rows.assign(correct=correct).groupby("path")["correct"].agg(["all", "size"])
    return set(per_path.index[(per_path["all"]) & (per_path["size"] == len(models))])


st.title("Compare explanations")
run = require_run()
st.caption(trust.provenance_line(run))
manifest = run.manifest()

# The model picker has a row of its own: beside other widgets it was too narrow for its five chips.
models = st.multiselect("Models", run.models(), default=run.models(), key="compare_models")
with st.container(horizontal=True):
    method = st.selectbox("Method", list(METHODS), format_func=METHODS.get, key="compare_method",
                          help="Input methods (Integrated Gradients, RISE) run the whole network many times per "
                               "image and fold: seconds per image where the CAMs take a fraction of one.")
    # The paper's Figure 1: each model's predicted class on images every model classifies correctly, so its
    # no-pain rows show no-pain evidence.
    target_choice = st.selectbox("Explained class", list(CLASSES), index=list(CLASSES).index("predicted"),
                                 format_func=CLASSES.get, key="compare_class",
                                 help="Default as in the paper's Figure 1: the class each model predicts, on images "
                                      "every model classifies correctly (so a no-pain row shows no-pain evidence).")

source = st.radio("Images", ["From the run's data", "Upload"], horizontal=True, key="compare_source")
photos: list[tuple[str, bytes | str, tuple | None]] = []  # (caption, bytes or path, face box)
if source == "Upload":
    for upload in st.file_uploader("Photos", accept_multiple_files=True, key="compare_upload") or []:
        photos.append((upload.name, upload.getvalue(), None))
else:
    with st.container(horizontal=True):
        datasets = st.multiselect("Dataset", sorted(manifest["dataset"].unique()), key="compare_datasets")
        labels = st.multiselect("Class", ["pain", "nopain"], key="compare_labels")
        subjects = st.multiselect("Subject", sorted(manifest["subject"].astype(str).unique()), key="compare_subjects")
    only_correct = st.toggle("Only images every chosen model classifies correctly (out-of-fold)", value=True,
                             key="compare_correct", help="The paper's Figure 1 shows such examples.")
    candidates = manifest
    if only_correct and models:
        candidates = manifest[manifest["path"].isin(correct_everywhere(run.predictions(), models))]
    count = st.slider("How many images", 1, 8, 3, key="compare_count")
    for row in tables.pick_images(candidates, datasets, labels, subjects, limit=count).itertuples(index=False):
        photos.append((f"{row.subject} · {row.label}", row.path, row.face_box))

common = sorted(set.intersection(*(set(run.finished_folds(m)) for m in models))) if models else []
fold = st.selectbox(
    "Folds", [out_of_fold.OUT_OF_FOLD, "ensemble", *common], key="compare_fold",
    format_func=lambda f: {out_of_fold.OUT_OF_FOLD: "out-of-fold (the fold that never saw the subject)",
                           "ensemble": "all folds (mean; in-sample for the run's own images)"}.get(f, f"fold {f}"),
)
request = {"ensemble": "all"}.get(fold, fold) if isinstance(fold, str) else [fold]
if not photos or not models:
    st.info("Choose at least one image and one model.")
    st.stop()

loaded = ensembles(run, models)
layers = {}
with st.expander("Layer per model (default: the layer each model's maps explain, in Models)"):
    for model, ensemble in loaded.items():
        options = grid.map_layers(ensemble)
        default = options.index(SPECS[model].explained_layer)
        layers[model] = st.selectbox(model, options, index=default, key=f"layer_{model}")
scale = st.radio("Colour scale", list(display.SCALES), format_func=display.SCALES.get, horizontal=True,
                 key="compare_scale")
cmap, outlines = map_look_options("compare")
if not st.button("Explain", type="primary", key="compare_go"):
    st.stop()

chosen: list[grid.GridPhoto] = []
with st.spinner("Finding faces, facial regions and each image's fold…"):
    for caption, data, box in photos:
        try:
            image = load_image(data)
        except ImageLoadError as error:
            st.error(f"{caption} cannot be used: {error}")
            continue
        path = data if isinstance(data, str) else None
        match = out_of_fold.find_in_run(run, data=None if path else data, path=path)
        try:
            chosen.append(grid.grid_photo(caption, image, box, path, match, loaded, request, target_choice))
        except PainxaiError as error:
            st.error(f"{caption}: {error}")
            continue
if not chosen:
    st.stop()
with st.spinner(f"Explaining {len(chosen)} image(s) with {len(loaded)} model(s)…"):
    result = grid.explain_photos(chosen, loaded, method, layers, display_size=DISPLAY_SIZE)

entries, problem = trust.audit_entries(run.path, method)  # this method's audit: its verdicts and colour scales
if problem:
    st.warning(problem)
scales = {target: display.model_scales(result.maps, scale, trust.reference_scales(entries, target))
          for target in ("pain", "nopain")}
badges = {model: trust.badge(model, entries, method, run.model_info(model)) for model in result.maps}
vmaxes = {target: scales[target][0] for target in scales}
for index, photo in enumerate(chosen):
    st.markdown(f"**{photo.caption}** · {photo.note}")
    row = grid.compare_row(result, index, vmaxes, cmap, outlines, CLASSES)
    with st.container(horizontal=True):
        with st.container(width=MAP_WIDTH):
            st.image(row.face, caption="face", width="stretch")
        for cell in row.cells:
            with st.container(width=MAP_WIDTH, gap="xxsmall"):
                st.image(cell.picture, caption=cell.caption, width="stretch")
                show_badge(badges[cell.model])
    if row.no_regions:
        st.caption("No NFCS regions to outline on this image (no mask, and the landmarks were not trustworthy).")
colour_legend(cmap, scales["pain"][0][next(iter(result.maps))] if scale == "shared" else None)
caption = scales["pain"][1]
st.caption(f"{METHODS[method]}, fold mean of the chosen folds; colour scale: {caption}.")

st.subheader("Region attribution over these images")
shares = tables.region_share_frame({m: s for m, s in result.shares.items() if s})
if shares.empty:
    st.info("No image had facial regions (no ground-truth mask, and the landmarks were not trustworthy).")
else:
    st.plotly_chart(figures.region_share_figure(shares, f"Mean share of map mass ({METHODS[method]})"),
                    key="compare_regions")
    st.download_button("Download CSV", shares.to_csv(index=False), "region_shares.csv", "text/csv",
                       key="compare_regions_csv")

if len(result.maps) >= 2:
    st.subheader("Agreement between the models' maps")
    rank, iou = grid.grid_agreement(result)
    left, right = st.columns(2)
    left.markdown("Spearman rank correlation of the pixels")
    left.dataframe(rank.style.format("{:.2f}", na_rep="–"), width="stretch")
    right.markdown("IoU of the top 20 % pixels")
    right.dataframe(iou.style.format("{:.2f}", na_rep="–"), width="stretch")
    st.caption("A dash (–): a map without any positive value (flat) has no ranking and no top region.")
