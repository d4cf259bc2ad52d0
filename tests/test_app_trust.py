"""Trust on the dashboard: a badge under every map and the provenance line on Assess, Compare and Metrics,
the Trust page, and the audit that feeds them (run end to end on a small random-weight run)."""

from __future__ import annotations

import json

import pytest

from test_app import ASSESS_MODELS, make_weights_run, open_page, photo_bytes, shown_text, upload

AUDITED = "vgg16"  # ncnn stays unaudited, so both kinds of badge show


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory):
    """A finished two-fold random-weight run of ASSESS_MODELS whose vgg16 is audited on 4 images."""
    from painxai.audit.model import AuditSettings
    from painxai.audit.run import audit_run

    run = make_weights_run(tmp_path_factory.mktemp("trust_artifacts") / "trust_run", ASSESS_MODELS)
    settings = AuditSettings(images=4, faithfulness_steps=2, agreement_images=2)
    document = audit_run(run, [AUDITED], settings)
    messages = []
    again = audit_run(run, [AUDITED], settings, log=messages.append)  # resumable: nothing to redo
    assert again["models"][AUDITED] == document["models"][AUDITED] and "skipped" in messages[0]
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


def test_the_audit_file_has_every_figure(audited_run):
    entry = json.loads((audited_run / "audit.json").read_text())["models"][AUDITED]
    for key in ("verdict", "reasons", "reference_scale", "n_images", "class_sensitivity", "fold_agreement"):
        assert key in entry
    assert entry["n_images"] == 4 and entry["verdict"] in ("informative", "not informative")
    assert len(entry["randomisation"]["spearman"]) == len(entry["randomisation"]["steps"]) >= 2
    assert {"deletion_auc", "random_deletion_auc"} <= set(entry["faithfulness"])
    assert "localisation" not in entry  # flat test images: no masks, no face for landmarks


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
    assert at.dataframe[0].value["model"].tolist() == [AUDITED]
    assert len(at.get("plotly_chart")) == 2  # randomisation and deletion/insertion (no masks: no pointing game)


@pytest.mark.parametrize("page", ["app_pages/data.py", "app_pages/models.py"])
def test_data_and_models_pages_name_the_run_provenance(app_env, page):
    at = open_page(page)
    assert not at.exception and _provenance(at)


def _figures(empty: float, last_spearman: float, deletion: float, pointing: float) -> dict:
    """An audit entry's figures for painxai.audit.verdict (random map's deletion AUC 0.5, baselines 0.4)."""
    return {
        "empty_share": empty,
        "randomisation": {"spearman": [0.9, last_spearman]},
        "faithfulness": {"deletion_auc": deletion, "random_deletion_auc": 0.5, "insertion_auc": 0.7,
                         "random_insertion_auc": 0.5},
        "localisation": {"source": "masks", "pointing_game": pointing, "cue_share": 0.6,
                         "baseline_pointing_game": {"uniform": 0.4, "random": 0.3, "centre": 0.4},
                         "baseline_cue_share": {"uniform": 0.3, "random": 0.3, "centre": 0.35}},
        "map_resolution": [7, 7],
    }


@pytest.mark.parametrize(
    ("figures", "summary"),
    [
        (_figures(0.1, 0.2, 0.3, 0.8), "passes all 4 checks"),
        (_figures(0.1, 0.9, 0.3, 0.8), "fails: randomisation test"),
        (_figures(0.8, 0.2, 0.6, 0.2), "fails: empty maps, deletion/insertion, localisation"),
    ],
)
def test_a_badge_gives_its_main_reason_in_one_short_line_and_every_reason_on_a_tap(figures, summary):
    from painxai.audit.verdict import verdict
    from painxai.dashboard import trust

    label, reasons = verdict(figures)
    entry = {"verdict": label, "reasons": reasons, "n_images": 40}
    badge = trust.badge("vgg16", {"vgg16": entry})
    assert badge.summary == summary
    assert all(reason in badge.details for reason in reasons)
    assert "40 out-of-fold test images" in badge.details
    assert trust.badge("ncnn", {}).summary == "no audit yet"
