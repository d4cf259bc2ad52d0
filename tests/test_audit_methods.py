"""The audit of every method: its settings per method, audit.json's format check, localisation at input resolution."""

from __future__ import annotations

import json

import numpy as np
import pytest

from painxai.audit.model import INPUT_METHOD_BUDGET, AuditSettings, localisation_figures, settings_for
from painxai.audit.store import AUDIT_FORMAT, AuditError, read_audit
from painxai.data.regions import CUE_REGIONS, REGIONS
from painxai.errors import RequestError
from painxai.explain.localisation import best_possible, score_maps, truth_maps


def test_grad_cams_audit_settings_are_the_defaults_so_its_numbers_do_not_move():
    assert settings_for("gradcam") == AuditSettings()
    assert settings_for("gradcam").as_json() == json.loads(json.dumps(settings_for("gradcam").as_json()))


def test_an_input_method_is_audited_with_its_options_on_the_smaller_budget():
    settings = settings_for("integrated_gradients", AuditSettings(images=20, seed=3))
    assert settings.method == "integrated_gradients" and settings.seed == 3
    assert dict(settings.method_options) == {"steps": 8}
    assert settings.images == INPUT_METHOD_BUDGET["images"] < 20
    assert settings.located_images == INPUT_METHOD_BUDGET["located_images"]
    assert settings_for("rise", AuditSettings(images=4)).images == 4  # the budget caps, never raises a count
    assert settings_for("scorecam").images == AuditSettings().images  # a layer method keeps the base budget
    with pytest.raises(RequestError, match="unknown method"):
        settings_for("lime")


def test_an_audit_file_of_another_format_says_to_audit_again(tmp_path):
    (tmp_path / "audit.json").write_text(json.dumps({"format": 2, "models": {"vgg16": {}}}))
    with pytest.raises(AuditError, match=f"audit format 2, and this version reads format {AUDIT_FORMAT}.*again"):
        read_audit(tmp_path)
    (tmp_path / "audit.json").write_text(json.dumps({"format": AUDIT_FORMAT, "methods": {"rise": {}}}))
    assert read_audit(tmp_path)["methods"] == {"rise": {}}
    (tmp_path / "audit.json").write_text("[1, 2]")
    with pytest.raises(AuditError, match="unreadable"):
        read_audit(tmp_path)


def _cue_faces(count: int, size: int = 24, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Label maps (count, size, size) with the four cue regions in four bands, and random cue intensities."""
    labels = np.zeros((size, size), np.uint8)
    for band, name in enumerate(CUE_REGIONS):
        labels[2 + band * 5 : 6 + band * 5, 4:20] = REGIONS.index(name) + 1
    cues = np.random.default_rng(seed).random((count, len(CUE_REGIONS)))
    return [labels.copy() for _ in range(count)], cues


def test_at_input_resolution_the_best_possible_map_is_the_ground_truth_itself():
    labels, cues = _cue_faces(6)
    truth = score_maps(truth_maps(labels, cues), labels, cues)
    assert best_possible((24, 24), labels, cues) == {
        "pointing": 1.0, "share": 1.0, "correlation": pytest.approx(1.0)}
    assert truth.correlation == pytest.approx(np.ones(6))


def test_input_maps_face_the_same_fixed_baselines_and_can_be_judged_at_their_resolution():
    """A pixel map that is each image's own truth beats the best cell of a coarse grid; a fixed map does not."""
    labels, cues = _cue_faces(12)
    subjects = np.array([f"s{i // 2}" for i in range(12)])
    truth = truth_maps(labels, cues)
    priors = {"data prior": np.repeat(truth.mean(axis=0, keepdims=True), 12, axis=0)}
    good = localisation_figures(truth, priors, labels, cues, subjects, (2, 2), map_shape=(24, 24))
    assert good["best_possible"]["correlation"] == pytest.approx(1.0)
    assert good["intervals"]["cue_correlation_minus_best_baseline"]["low"] > 0.10
    assert good["best_cell"]["correlation"][0] < 2 and good["best_cell"]["correlation"][1] < 2  # a 2 x 2 grid's cell
    fixed = localisation_figures(priors["data prior"], priors, labels, cues, subjects, (2, 2), map_shape=(24, 24))
    assert fixed["intervals"]["cue_correlation_minus_best_baseline"]["high"] < 0.10
