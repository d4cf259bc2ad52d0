"""Compare explanations (researchers): a grid like the paper's Figure 1, region attribution, agreement."""

from __future__ import annotations

import streamlit as st

from app_pages._shared import ensembles, require_run
from painxai.dashboard import face_box, figures, grid, tables
from painxai.data.images import ImageLoadError, load_image
from painxai.explain import display

METHODS = {
    "gradcam": "Grad-CAM",
    "counterfactual": "Counterfactual Grad-CAM (against pain)",
    "gradcampp": "Grad-CAM++",
    "scorecam": "Score-CAM",
}

st.title("Compare explanations")
run = require_run()
manifest = run.manifest()

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
    count = st.slider("How many images", 1, 8, 3, key="compare_count")
    for row in tables.pick_images(manifest, datasets, labels, subjects, limit=count).itertuples(index=False):
        photos.append((f"{row.subject} · {row.label}", row.path, row.face_box))

with st.container(horizontal=True):
    models = st.multiselect("Models", run.models(), default=run.models(), key="compare_models")
    method = st.selectbox("Method", list(METHODS), format_func=METHODS.get, key="compare_method")
    common = sorted(set.intersection(*(set(run.finished_folds(m)) for m in models))) if models else []
    fold = st.selectbox(
        "Folds", ["ensemble", *common], format_func=lambda f: "all folds (mean)" if f == "ensemble" else f"fold {f}",
        key="compare_fold",
    )
if not photos or not models:
    st.info("Choose at least one image and one model.")
    st.stop()

loaded = ensembles(run, models)
if fold != "ensemble":
    loaded = {m: grid.fold_subset(e, [fold]) for m, e in loaded.items()}
layers = {}
with st.expander("Layer per model (default: the last conv layer, as in the paper)"):
    for model, ensemble in loaded.items():
        options = grid.map_layers(ensemble)
        layers[model] = st.selectbox(model, options, index=len(options) - 1, key=f"layer_{model}")
per_map = st.toggle("Scale each map on its own", key="compare_per_map")
if not st.button("Explain", type="primary", key="compare_go"):
    st.stop()

images, boxes, label_maps, captions = [], [], [], []
with st.spinner("Finding faces and facial regions…"):
    for caption, data, box in photos:
        try:
            image = load_image(data)
        except ImageLoadError as error:
            st.error(f"{caption} cannot be used: {error}")
            continue
        used_box, regions = face_box.face_and_regions(image, box, data if isinstance(data, str) else None)
        images.append(image)
        boxes.append(used_box)
        label_maps.append(regions)
        captions.append(caption)
if not images:
    st.stop()
with st.spinner(f"Explaining {len(images)} image(s) with {len(loaded)} model(s)…"):
    grid = grid.explain_grid(images, boxes, label_maps, loaded, method, layers)

vmax = None if per_map else display.shared_scale([m for maps in grid.maps.values() for m in maps])
for index, caption in enumerate(captions):
    with st.container(horizontal=True):
        st.image(grid.faces[index], caption=caption, width=150)
        for model, maps in grid.maps.items():
            prob = grid.prob_pain[model][index]
            picture = display.overlay(grid.faces[index], maps[index], vmax)
            st.image(picture, caption=f"{model} · P {prob:.0%}", width=150)
if vmax is not None:
    # The colour bar is drawn upright (top = vmax); lay it down with 0 on the left.
    bar = display.colour_bar(vmax, height=300, width=18).transpose(1, 0, 2)[:, ::-1]
    st.image(bar, width=300, caption=f"shared scale, 0 to {vmax:.3g}")

st.subheader("Region attribution over these images")
shares = tables.region_share_frame({m: s for m, s in grid.shares.items() if s})
if shares.empty:
    st.info("No image had facial regions (no ground-truth mask, and the landmarks were not trustworthy).")
else:
    st.plotly_chart(figures.region_share_figure(shares, f"Mean share of map mass ({METHODS[method]})"),
                    key="compare_regions")
    st.download_button("Download CSV", shares.to_csv(index=False), "region_shares.csv", "text/csv",
                       key="compare_regions_csv")

if len(grid.maps) >= 2:
    st.subheader("Agreement between the models' maps")
    rank, iou = grid.grid_agreement(grid)
    left, right = st.columns(2)
    left.markdown("Spearman rank correlation of the pixels")
    left.dataframe(rank.style.format("{:.2f}", na_rep="-"), width="stretch")
    right.markdown("IoU of the top 20 % pixels")
    right.dataframe(iou.style.format("{:.2f}", na_rep="-"), width="stretch")
    st.caption("- : a map without any positive value (flat) has no ranking and no top region.")
