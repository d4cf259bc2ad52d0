"""Trust on the dashboard: a badge under every map and the provenance line on Assess, Compare and Metrics,
the Trust page, and the audit that feeds them (run end to end on a small random-weight run)."""

from __future__ import annotations

import json

import pytest

from test_app import ASSESS_MODELS, make_weights_run, open_page, photo_bytes, shown_text, upload

AUDITED = "vgg16"  # ncnn stays unaudited, so both kinds of badge show


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory):
    """A finished two-fold random-weight run of ASSESS_MODELS whose vgg16 is audited on 4 images with Grad-CAM,
    and with RISE on its smaller input-method budget."""
    from painxai.audit.model import AuditSettings
    from painxai.audit.run import audit_run

    run = make_weights_run(tmp_path_factory.mktemp("trust_artifacts") / "trust_run", ASSESS_MODELS)
    settings = AuditSettings(images=4, faithfulness_steps=2, agreement_images=2)
    document = audit_run(run, [AUDITED], settings, methods=["gradcam", "rise"])
    messages = []
    again = audit_run(run, [AUDITED], settings, log=messages.append, methods=["gradcam", "rise"])  # nothing to redo
    assert again["methods"] == document["methods"] and all("skipped" in m for m in messages)
    return run


@pytest.fixture()
def app_env(audited_run, monkeypatch):
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(audited_run.parent))
    monkeypatch.setenv("PAINXAI_RUN", str(audited_run))
    return audited_run


def _badges(at) -> list[str]:
    return [m.value for m in at.markdown if "-badge[" in m.value]


def _provenance(at) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("Run trust_run:") and "profile" in c.value]


@pytest.mark.parametrize("method", ["gradcam", "rise"])
def test_the_audit_file_has_every_figure(audited_run, method):
    from painxai.audit.model import INPUT_METHOD_BUDGET
    from painxai.audit.verdict import VERDICTS

    document = json.loads((audited_run / "audit.json").read_text())
    assert document["format"] == 3 and set(document["methods"]) == {"gradcam", "rise"}
    entry = document["methods"][method][AUDITED]
    for key in ("verdict", "reasons", "reference_scale", "n_images", "class_sensitivity", "fold_agreement"):
        assert key in entry
    images = 4 if method == "gradcam" else min(4, INPUT_METHOD_BUDGET["images"])
    assert entry["n_images"] == images and entry["verdict"] in VERDICTS and entry["method"] == method
    assert len(entry["randomisation"]["spearman"]) == len(entry["randomisation"]["steps"]) >= 2
    assert {"deletion_auc", "random_deletion_auc"} <= set(entry["faithfulness"])
    assert "localisation" not in entry  # flat test images: no masks, no face for landmarks
    size = entry["input_size"]
    assert entry["map_resolution"] == ([size, size] if method == "rise" else entry["baseline_grid"])


def test_assess_shows_a_badge_under_each_map_and_the_provenance(app_env):
    from skimage.data import astronaut

    at = upload(open_page("app_pages/assess.py"), "baby.jpg", photo_bytes(astronaut()), "image/jpeg")
    assert not at.exception and not at.error
    badges = _badges(at)
    assert len(badges) == len(ASSESS_MODELS)
    assert any("not audited" in b for b in badges)
    assert any("informative" in b and "not audited" not in b for b in badges)
    summaries = [c.value for c in at.caption if c.value.startswith(("passes", "fails", "no audit"))]
    assert len(summaries) == len(ASSESS_MODELS) and "no audit yet" in summaries  # readable without hover
    assert _provenance(at)
    assert any("reference scale" in c.value and "ncnn: not audited" in c.value for c in at.caption)
    at.radio(key="scale_choice").set_value("shared").run(timeout=180)
    assert any("one raw scale shared by all maps" in c.value for c in at.caption)
    at.toggle(key="assess_faithfulness").set_value(True).run(timeout=180)
    assert not at.exception
    assert any("deletion_auc" in frame.value.columns for frame in at.dataframe)


def test_compare_shows_a_badge_per_map_out_of_fold(app_env):
    at = open_page("app_pages/compare.py")
    assert not at.exception and _provenance(at)
    # The paper's Figure 1 by default: each model's predicted class, on images every model gets right.
    assert at.selectbox(key="compare_class").value == "predicted" and at.toggle(key="compare_correct").value
    at.toggle(key="compare_correct").set_value(False)  # this run's random predictions get few images right
    at.slider(key="compare_count").set_value(2)
    at.button(key="compare_go").click().run(timeout=180)
    assert not at.exception and not at.error
    assert len(_badges(at)) == 2 * len(ASSESS_MODELS)
    assert sum("out-of-fold: fold" in m.value for m in at.markdown) == 2
    at.selectbox(key="compare_fold").set_value("ensemble")
    at.selectbox(key="compare_class").set_value("truth")
    at.button(key="compare_go").click().run(timeout=180)
    assert not at.exception
    assert sum("in-sample" in m.value for m in at.markdown) == 2


def test_metrics_names_the_data_and_warns_against_the_paper_comparison(app_env):
    at = open_page("app_pages/metrics.py")
    assert not at.exception and _provenance(at)
    at.toggle(key="paper_toggle").set_value(True).run()
    assert "do not measure what the paper measured" in shown_text(at)


def test_trust_page_shows_verdicts_and_figures(app_env):
    at = open_page("app_pages/trust.py")
    assert not at.exception and _provenance(at)
    assert len(_badges(at)) == len(ASSESS_MODELS)
    verdicts = at.dataframe[0].value  # model x method -> verdict
    assert verdicts.loc["ncnn"].eq("not audited").all() and verdicts.loc[AUDITED, "Grad-CAM"] != "not audited"
    assert verdicts.loc[AUDITED, "RISE (input, random masks)"] != "not audited"
    assert verdicts.loc[AUDITED, "Score-CAM"] == "not audited"
    assert at.dataframe[1].value["model"].tolist() == [AUDITED]
    at.selectbox(key="trust_method").set_value("rise").run(timeout=180)
    assert not at.exception and "Verdicts: RISE" in " ".join(h.value for h in at.header)
    assert len(at.get("plotly_chart")) == 2  # randomisation and deletion/insertion (no masks: no pointing game)


@pytest.mark.parametrize("page", ["app_pages/data.py", "app_pages/models.py"])
def test_data_and_models_pages_name_the_run_provenance(app_env, page):
    at = open_page(page)
    assert not at.exception and _provenance(at)


# Reasons as painxai.audit.verdict words them (with and without intervals), so that the summary is checked
# against both phrasings.
REASONS = {
    "empty": ["passes: 10% of the maps are empty (at most 50% allowed)",
              "fails: share of empty maps 0.62 [0.55, 0.70], 40 images of 12 subjects (must stay below 0.50)"],
    "randomisation": ["fails: after randomising 3 layer(s) from the output down, the map's rank correlation with "
                      "the trained model's map is 0.81 (must be below 0.5): the map does not depend on what the "
                      "model learned",
                      "fails: randomisation test undefined: the maps are empty before or after randomising"],
    "faithfulness": ["passes: deletion AUC 0.31 vs 0.45 for a random map (lower is better), insertion AUC 0.62 vs "
                     "0.50 (higher is better)",
                     "undecided: deletion AUC minus a random map's -0.02 [-0.06, 0.01], 40 images of 12 subjects"],
    "localisation": ["passes: pointing game 0.80 vs 0.40 for the best model-free baseline; cue-region share 0.60",
                     "undecided: the map's mass per cue region follows each image's own cues: correlation 0.3"],
}


@pytest.mark.parametrize(
    ("label", "reasons", "summary"),
    [
        ("informative", [REASONS["empty"][0], REASONS["faithfulness"][0], REASONS["localisation"][0]],
         "passes all 3 checks"),
        ("not informative", [REASONS["empty"][1], REASONS["randomisation"][0], REASONS["faithfulness"][0]],
         "fails: empty maps, randomisation test"),
        ("not informative", [REASONS["randomisation"][1], REASONS["faithfulness"][1]], "fails: randomisation test"),
        ("undecided: needs more images", [REASONS["faithfulness"][1], REASONS["localisation"][1]],
         "undecided: deletion/insertion, localisation"),
        ("cannot be judged at this map resolution",
         [REASONS["empty"][0], "cannot be judged at this map resolution: even the best map at it follows the cues"],
         "cannot be judged at this map resolution"),
    ],
)
def test_a_badge_gives_its_main_reason_in_one_short_line_and_every_reason_on_a_tap(label, reasons, summary):
    from painxai.dashboard import trust

    entry = {"verdict": label, "reasons": reasons, "n_images": 40}
    badge = trust.badge("vgg16", {"vgg16": entry})
    assert badge.summary == summary
    assert all(reason in badge.details for reason in reasons)
    assert "40 out-of-fold test images" in badge.details
    assert badge.markdown.startswith(":") and "-badge[" in badge.markdown  # every verdict gets a badge
    assert trust.badge("ncnn", {}).summary == "no audit yet"
    assert trust.check_name("fails: something this page has never heard of, said at great length") == (
        "something this page has never heard of, said at…")


def test_a_map_of_an_untrained_layer_says_why_and_what_would_change_that():
    from painxai.dashboard import trust
    from painxai.runs.provenance import ModelInfo

    entry = {"verdict": "not informative", "reasons": [REASONS["empty"][1]], "n_images": 40,
             "explained_layer": "conv5_3", "map_resolution": [4, 4]}
    head_only = ModelInfo(64, "vggface", 0.25, "random", "demo", fold_layers=("dense", "logits"))
    note = trust.badge("vgg16", {"vgg16": entry}, info=head_only).note
    assert "never trained" in note and "4x4 cells" in note and "pretrained weights" in note
    trained = ModelInfo(64, "unit", 0.25, "random", "demo", fold_layers=("conv5_3", "dense", "logits"))
    assert trust.badge("vgg16", {"vgg16": entry}, info=trained).note == ""  # N-CNN: trained end to end
    pretrained = ModelInfo(64, "vggface", 0.25, "pretrained", "paper", fold_layers=("dense",))
    assert trust.badge("vgg16", {"vgg16": entry}, info=pretrained).note == ""
    assert trust.badge("vgg16", {"vgg16": {**entry, "verdict": "informative"}}, info=head_only).note == ""
