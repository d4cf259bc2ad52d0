"""The dashboard: its library helpers (dashboard_support, photo_report) and every page through AppTest."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.runs import build_run

from painxai.dashboard import face_box, figures, grid, run_choice, tables
from painxai.inference import photo_report

# --- dashboard_support -------------------------------------------------------------------------------


def test_run_argument_from_command_line_then_environment(monkeypatch):
    monkeypatch.delenv("PAINXAI_RUN", raising=False)
    assert run_choice.parse_run_argument(["--run", "artifacts/demo"]) == Path("artifacts/demo")
    assert run_choice.parse_run_argument(["-q", "tests/test_app.py"]) is None
    monkeypatch.setenv("PAINXAI_RUN", "/x/run")
    assert run_choice.parse_run_argument([]) == Path("/x/run")
    assert run_choice.parse_run_argument(["--run", "other"]) == Path("other")


def test_initial_run_is_the_requested_one_else_the_newest(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    os.utime(old, (1_000, 1_000))
    assert run_choice.initial_run_index(None, []) is None
    assert run_choice.initial_run_index(None, [old, new]) == 1
    assert run_choice.initial_run_index(tmp_path / "old", [old, new]) == 0
    assert run_choice.initial_run_index(tmp_path / "missing", [old, new]) == 1


def test_run_signature_lists_only_finished_folds(tmp_path):
    (tmp_path / "vgg16" / "fold_0").mkdir(parents=True)
    (tmp_path / "vgg16" / "fold_1").mkdir(parents=True)
    (tmp_path / "vgg16" / "fold_1" / "DONE").write_text("")
    assert run_choice.run_signature(tmp_path) == ("vgg16/fold_1",)


def test_centred_square_box_and_adjusted_boxes_stay_inside():
    assert face_box.centred_square_box((100, 200, 3)) == pytest.approx((55, 5, 145, 95))
    box = face_box.box_from_centre(190, 10, 80, (100, 200))
    assert box == pytest.approx((120, 0, 200, 80))
    assert face_box.box_centre_and_side(box) == pytest.approx((160, 40, 80))
    assert face_box.box_from_centre(50, 50, 500, (100, 200)) == pytest.approx((0, 0, 100, 100))
    with pytest.raises(ValueError, match="fraction"):
        face_box.centred_square_box((10, 10), fraction=0)


def test_draw_box_outlines_without_touching_the_inside():
    image = np.zeros((100, 100, 3), np.uint8)
    drawn = face_box.draw_box(image, (10, 20, 60, 80))
    assert drawn[20, 30].tolist() == [0, 200, 255]
    assert drawn[50, 35].tolist() == [0, 0, 0]
    assert image.max() == 0
    with pytest.raises(ValueError, match="uint8"):
        face_box.draw_box(image.astype(float), (0, 0, 5, 5))


@pytest.fixture()
def tiny_manifest():
    rows = []
    for subject, dataset, labels in [("U1", "A", "ppn"), ("U2", "A", "nn"), ("I1", "B", "pn"), ("I2", "B", "p")]:
        for i, label in enumerate(labels):
            rows.append((f"/{subject}_{i}.png", subject, dataset, "pain" if label == "p" else "nopain", None))
    manifest = pd.DataFrame(rows, columns=["path", "subject", "dataset", "label", "face_box"])
    folds = {"k": 2, "folds": [{"fold": 0, "test_subjects": ["U1", "I1"]}, {"fold": 1, "test_subjects": ["U2", "I2"]}]}
    return manifest, folds


def test_subject_and_fold_tables(tiny_manifest):
    manifest, folds = tiny_manifest
    subjects = tables.subject_table(manifest, folds)
    assert subjects.set_index("subject").loc["U1", ["fold", "images", "pain", "nopain"]].tolist() == [0, 3, 2, 1]
    table = tables.fold_table(manifest, folds).set_index("fold")
    columns = ["subjects", "images", "pain", "nopain", "subjects A", "subjects B"]
    assert table.loc[0, columns].tolist() == [2, 5, 3, 2, 1, 1]
    assert table["images"].sum() == len(manifest)


def test_pick_images_filters_and_spreads_over_subjects(tiny_manifest):
    manifest, _ = tiny_manifest
    picked = tables.pick_images(manifest, labels=["pain"], limit=3)
    assert set(picked["label"]) == {"pain"}
    assert picked["subject"].nunique() == 3
    assert tables.pick_images(manifest, datasets=["B"], subjects=["I2"], limit=5)["path"].tolist() == ["/I2_0.png"]
    assert tables.pick_images(manifest, datasets=["nothing"]).empty
    with pytest.raises(ValueError, match="limit"):
        tables.pick_images(manifest, limit=0)


def test_map_agreement_rank_correlation_and_top_iou():
    rng = np.random.default_rng(0)
    base = rng.random((16, 16))
    maps = {"a": base, "same": 3 * base + 1, "reversed": -base, "flat": np.zeros((16, 16))}
    rank, iou = grid.map_agreement(maps, top_fraction=0.25)
    assert rank.loc["a", "same"] == pytest.approx(1.0)
    assert rank.loc["a", "reversed"] == pytest.approx(-1.0)
    assert iou.loc["a", "same"] == pytest.approx(1.0)
    assert iou.loc["a", "reversed"] == pytest.approx(0.0)
    assert np.isnan(rank.loc["a", "flat"]) and np.isnan(iou.loc["a", "flat"])
    assert (rank.to_numpy() == rank.to_numpy().T)[~np.isnan(rank.to_numpy())].all()
    with pytest.raises(ValueError, match="one shape"):
        grid.map_agreement({"a": base, "b": np.zeros((8, 8))})
    mean = grid.mean_agreement([iou, iou])
    assert mean.loc["a", "same"] == pytest.approx(1.0)


def test_region_share_frame_means_over_images():
    frame = tables.region_share_frame({"m": [{"eyes": 0.2, "mouth": 0.8}, {"eyes": 0.6, "mouth": 0.4}]})
    eyes = frame.set_index("region").loc["eyes"]
    assert eyes["share"] == pytest.approx(0.4) and eyes["std"] == pytest.approx(0.2) and eyes["images"] == 2
    figure = figures.region_share_figure(frame, "t")
    assert len(figure.data) == 1


def test_mean_roc_averages_fold_curves_vertically():
    perfect = (np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]))
    chance = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    mean = tables.mean_roc([perfect, chance], points=11)
    assert mean["tpr"].iloc[5] == pytest.approx(0.75)
    assert mean["tpr_std"].iloc[5] == pytest.approx(0.25)
    figure = figures.roc_figure({0: perfect, 1: chance}, "roc")
    assert [t.name for t in figure.data][:2] == ["fold 0", "fold 1"]


def test_table2_side_by_side_and_cd_figure():
    ours = pd.DataFrame({"vgg16": ["90.0 ± 1"], "mine": ["50.0 ± 2"]}, index=["accuracy"])
    paper = pd.DataFrame({"vgg16": ["86.2 ± 7"]}, index=["accuracy"])
    table = tables.table2_side_by_side(ours, paper)
    assert table.loc["accuracy"].tolist() == ["90.0 ± 1", "86.2 ± 7", "50.0 ± 2", "-"]
    figure = figures.critical_difference_figure({"a": 1.2, "b": 2.0, "c": 2.8}, 1.0, [["a", "b"], ["b", "c"]])
    assert sum(t.name == "not significantly different" for t in figure.data) == 2


# --- photo_report --------------------------------------------------------------------------------------


def _content(**changes) -> photo_report.ReportContent:
    photo = np.zeros((60, 80, 3), np.uint8)
    results = [photo_report.ModelResult(m, 0.7, 0.1, 7, 10, np.full((60, 80, 3), 99, np.uint8)) for m in ("a", "b")]
    fields = {
        "photo": photo, "results": results, "consensus": "2 of 2 models say pain", "method": "Grad-CAM",
        "scale_note": "one shared scale", "run_name": "demo", "versions": {"painxai": "0.1.0"},
        "region_shares": pd.DataFrame({"eyes": [0.5, 0.25]}, index=["a", "b"]),
    }
    fields.update(changes)
    return photo_report.ReportContent(**fields)


def test_report_png_and_pdf_are_built_in_memory():
    from PIL import Image

    png = photo_report.report_png(_content())
    assert Image.open(io.BytesIO(png)).format == "PNG"
    pdf = photo_report.report_pdf(_content(consensus="P ≥ 0.5 → pain"))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5_000
    table = photo_report.results_table(_content())
    assert table.loc[0, "P(pain)"] == "70.0 ± 10.0 %" and table.loc[0, "folds saying pain"] == "7 / 10"


def test_report_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="at least one"):
        photo_report.report_png(_content(results=[]))
    with pytest.raises(ValueError, match="uint8"):
        photo_report.report_png(_content(photo=np.zeros((4, 4), np.float32)))


# --- the pages, through AppTest ----------------------------------------------------------------------

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGES = [f"app_pages/{name}.py" for name in ("assess", "compare", "metrics", "data", "models")]


def make_files_run(root: Path, models: tuple[str, ...] = ("vgg16", "ncnn"), k: int = 3, unfinished: int = 1) -> Path:
    """A run folder with placeholder weights (helpers.runs.build_run): manifest, folds, run.json and per fold
    the predictions, metrics, history and DONE files (the last ``unfinished`` folds of the last model lack
    DONE, like a run still training). Enough for the Data, Metrics and Models pages."""
    return build_run(root, models, k=k, unfinished=[(models[-1], fold) for fold in range(k - unfinished, k)])


def make_weights_run(root: Path, models: tuple[str, ...], k: int = 2, sizes: dict[str, int] | None = None) -> Path:
    """A finished run of ``models`` with random fold weights at ``sizes`` (default the smallest each model
    takes, helpers.runs.SMALL_SIZES): the folds differ in their output layer."""
    return build_run(root, models, k=k, weights="random", sizes=sizes)


ASSESS_MODELS = ("vgg16", "ncnn")  # one pretrained-style model with a shared trunk, one trained end to end


@pytest.fixture(scope="module")
def weights_run(tmp_path_factory):
    """A finished two-fold run of ASSESS_MODELS with random weights."""
    return make_weights_run(tmp_path_factory.mktemp("weights_artifacts") / "weights_run", ASSESS_MODELS)

@pytest.fixture()
def files_run(tmp_path, monkeypatch):
    run = make_files_run(tmp_path / "artifacts" / "files_run")
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("PAINXAI_RUN", raising=False)
    monkeypatch.setenv("PAINXAI_WARM", "0")  # placeholder weights: nothing to load in the background
    return run


def open_page(page: str, timeout: float = 60):
    """The app on ``page`` after its first run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout).run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    return at


def shown_text(at) -> str:
    """Everything the page wrote as text (markdown, captions, alerts, headings)."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "header",
                                  "subheader") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_explains_how_to_make_a_run_when_there_is_none(page, tmp_path, monkeypatch):
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(tmp_path / "nothing"))
    monkeypatch.delenv("PAINXAI_RUN", raising=False)
    at = open_page(page)
    assert not at.exception
    assert "make run" in shown_text(at)


def test_script_runs_keep_tensorflow_caches(files_run, monkeypatch):
    """Streamlit clears Keras's session after every script run unless app.py stops it: the kernel cache
    then goes with it and every assessment re-creates its kernels (6 s instead of 0.3 s per photo)."""
    import keras

    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: calls.append(args))
    at = open_page(PAGES[0])
    at.run()
    assert not at.exception
    assert calls == []


def test_data_page_shows_composition_folds_and_subject_images(files_run):
    at = open_page("app_pages/data.py")
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    assert tables[0].loc["all", "images"] == 24
    assert tables[1]["subjects"].sum() == 6
    assert len(at.image) == 4
    at.selectbox(key="data_subject").set_value("S03").run()
    assert not at.exception and len(at.image) == 4


def test_metrics_page_shows_table2_paper_toggle_and_statistics(files_run):
    at = open_page("app_pages/metrics.py")
    assert not at.exception
    table2 = at.dataframe[0].value
    assert list(table2.columns) == ["vgg16", "ncnn"]
    assert "±" in table2.iloc[0, 0]
    assert any("still training" in c.value or "in progress" in c.value for c in [*at.warning, *at.sidebar.caption])
    at.toggle(key="paper_toggle").set_value(True).run()
    assert "vgg16 (paper)" in at.dataframe[0].value.columns
    assert at.dataframe[0].value.loc["Accuracy (%)", "vgg16 (paper)"] == "86.2 ± 7"
    # Compared under the paper's definitions, and the page says so.
    assert at.dataframe[0].value.loc["F1, no pain positive (%)", "vgg16 (paper)"] == "87.7 ± 6"
    assert "no pain as the positive class" in shown_text(at)
    assert "optimistic" in shown_text(at)
    assert len(at.get("plotly_chart")) >= 5
    at.radio(key="stat_scope").set_value("the four pretrained models (the paper's claim)").run()
    assert not at.exception
    assert at.info, "one pretrained model alone cannot be compared: the page says so"


def test_models_page_has_a_card_per_model(files_run):
    at = open_page("app_pages/models.py")
    assert not at.exception
    text = shown_text(at)
    for name in ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn"):
        assert f"`{name}`" in text
    assert "random initialisation (seed 0)" in text



def photo_bytes(image: np.ndarray, kind: str = "JPEG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture()
def assess_app(weights_run, monkeypatch):
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(weights_run.parent))
    monkeypatch.setenv("PAINXAI_RUN", str(weights_run))
    return open_page(PAGES[0])


def upload(at, name: str, data: bytes, mime: str):
    at.file_uploader(key="photo_upload").set_value((name, data, mime))
    return at.run(timeout=180)


def test_assess_a_good_photo_shows_every_model_its_map_regions_and_reports(assess_app):
    from skimage.data import astronaut

    at = upload(assess_app, "baby.jpg", photo_bytes(astronaut()), "image/jpeg")
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == list(ASSESS_MODELS)
    assert all(m.value.endswith("%") for m in at.metric)
    captions = [c.value for c in at.caption]
    assert sum("2 folds say pain" in c for c in captions) == len(ASSESS_MODELS)
    assert any("say pain" in i.value for i in at.info)  # the consensus line
    assert len(at.image) == 1 + len(ASSESS_MODELS) + 1  # the photo with its box, the maps, the colour bar
    # The answer comes first; the face box, found by the gate, folds into an expander below it.
    assert [e.label for e in at.expander if e.label.startswith("Face box (")] != []
    # Each badge's main reason is text under it (no hover needed), the full reasons in an expander.
    assert sum(c == "no audit yet" for c in captions) == len(ASSESS_MODELS)
    assert sum(e.label == "All reasons" for e in at.expander) == len(ASSESS_MODELS)
    assert any("Map value: from 0 on the left" in c for c in captions)  # the one colour legend
    assert "research software" in at.warning[0].value.lower()
    assert {b.label for b in at.download_button} == {"Report (PNG)", "Report (PDF)"}
    assert not at.get("plotly_chart")  # the region shares' chart is drawn on request only
    at.toggle(key="assess_regions_chart").set_value(True).run(timeout=180)
    assert len(at.get("plotly_chart")) == 1
    at.selectbox(key="assess_cmap").set_value("jet")
    at.toggle(key="assess_outlines").set_value(True).run(timeout=180)
    assert not at.exception and len(at.image) == 1 + len(ASSESS_MODELS) + 1
    at.toggle(key="counterfactual").set_value(True).run(timeout=180)
    assert not at.exception
    assert any("Counterfactual" in c.value for c in at.caption)


def test_assess_a_photo_without_a_face_is_scored_only_once_the_box_is_drawn_by_hand(assess_app):
    gradient = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    at = upload(assess_app, "wall.png", photo_bytes(np.dstack([gradient] * 3), "PNG"), "image/png")
    assert not at.exception
    refusal = [w.value for w in at.warning if "not scored" in w.value]
    assert refusal and "no face was found" in refusal[0] and "centred square" in refusal[0]
    assert ".." not in refusal[0]
    assert not at.metric  # no probability before the user has put the box on the face
    assert at.slider[2].value == 72  # 0.6 of the shorter side
    assert not [e for e in at.expander if e.label.startswith("Face box")]  # the check is open until confirmed
    at.checkbox(key=at.checkbox[0].key).check().run(timeout=180)
    assert not at.exception
    assert len(at.metric) == len(ASSESS_MODELS)
    assert [e.label for e in at.expander if e.label.startswith("Face box:")] == [
        "Face box: placed by hand. Open to check or move it."]
    assert at.checkbox[0].value and at.slider[2].value == 72  # the box and its confirmation kept their state


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("broken.jpg", None, "image/jpeg"),
        ("notes.png", b"these are my notes, not a photo", "image/png"),
        ("empty.jpg", b"", "image/jpeg"),
    ],
)
def test_assess_refuses_bad_files_with_a_plain_message(assess_app, name, data, mime):
    if data is None:  # a JPEG cut in half
        full = photo_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        data = full[: len(full) // 2]
    at = upload(assess_app, name, data, mime)
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("This file cannot be used")
    assert not at.metric


def test_compare_grid_regions_and_agreement(weights_run, monkeypatch):
    monkeypatch.setenv("PAINXAI_RUN", str(weights_run))
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(weights_run.parent))
    at = open_page("app_pages/compare.py")
    assert not at.exception
    at.slider(key="compare_count").set_value(2)
    at.selectbox(key="compare_fold").set_value(1)
    at.button(key="compare_go").click().run(timeout=180)
    assert not at.exception and not at.error
    assert len(at.image) == 2 * (1 + len(ASSESS_MODELS)) + 1  # per row the face and each model's map; colour bar
    assert any("Spearman" in m.value for m in at.markdown)
    assert len(at.dataframe) == 2
    assert at.dataframe[0].value.shape == (len(ASSESS_MODELS), len(ASSESS_MODELS))


def test_explain_grid_region_shares_follow_the_label_maps(weights_run):
    from painxai.runs.reader import Run

    run = Run(weights_run)
    ensemble = run.ensemble("ncnn")
    image = np.random.default_rng(1).integers(0, 255, (80, 80, 3), dtype=np.uint8)
    labels = np.zeros((80, 80), np.uint8)
    labels[:40] = 2  # the top half is "eyes"
    # With random weights one of the two maps may be all zero (ReLU); the other then has positive mass.
    grids = [
        grid.explain_grid([image, image], [None, None], [labels, None], {"ncnn": grid.fold_subset(ensemble, [0])}, m)
        for m in ("gradcam", "counterfactual")
    ]
    best = max(grids, key=lambda g: g.maps["ncnn"][0].sum())
    assert best.faces.shape == (2, 160, 160, 3) and best.maps["ncnn"].shape == (2, 160, 160)
    assert len(best.shares["ncnn"]) == 1
    assert sum(best.shares["ncnn"][0].values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="no finished fold"):
        grid.fold_subset(ensemble, [7])
