"""The fused fold computation (one compiled function per model) equals the fold-by-fold one."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.runs import SMALL_SIZES, build_run


@pytest.fixture(scope="module")
def five_model_run(tmp_path_factory):
    """A finished three-fold run of all five models with random weights at their smallest sizes."""
    return build_run(tmp_path_factory.mktemp("fused") / "run", tuple(SMALL_SIZES), k=3, weights="random")


def test_fused_maps_and_probabilities_equal_the_per_fold_computation(five_model_run):
    from painxai.explain.ensemble import ensemble_explain, ensemble_explain_per_fold
    from painxai.runs.reader import Run

    run = Run(five_model_run)
    rng = np.random.default_rng(1)
    for model in run.models():
        ensemble = run.ensemble(model)
        crops = rng.integers(0, 256, (2, ensemble.size, ensemble.size, 3), dtype=np.uint8)
        largest = 0.0
        for method in ("gradcam", "counterfactual", "gradcampp"):
            fused = ensemble_explain(ensemble, crops, method=method)
            reference = ensemble_explain_per_fold(ensemble, crops, method=method)
            assert fused.maps.shape == reference.maps.shape == (3, 2, ensemble.size, ensemble.size)
            scale = max(float(np.abs(reference.maps).max()), 1e-12)
            np.testing.assert_allclose(fused.maps / scale, reference.maps / scale, atol=1e-5, err_msg=model)
            np.testing.assert_allclose(fused.prob_pain, reference.prob_pain, atol=1e-5, err_msg=model)
            largest = max(largest, float(reference.maps.max()))
        assert largest > 0, f"{model}: all-zero maps test nothing"  # Grad-CAM or its negation is positive
        # The folds differ, so a fused function that mixed the folds' gradients would be caught.
        assert not np.allclose(reference.prob_pain[0], reference.prob_pain[1])


def test_fused_predict_equals_the_ensemble_predict(five_model_run):
    from painxai.explain.ensemble import fused_ensemble
    from painxai.models import preprocess
    from painxai.runs.reader import Run

    run = Run(five_model_run)
    ensemble = run.ensemble("vgg16")
    crops = np.random.default_rng(2).integers(0, 256, (3, ensemble.size, ensemble.size, 3), dtype=np.uint8)
    fused = fused_ensemble(ensemble).predict(preprocess("vgg16", crops))
    np.testing.assert_allclose(fused, ensemble.predict(crops), atol=1e-5)


def test_a_fold_subset_reuses_the_ensembles_traced_function(five_model_run):
    import dataclasses

    from painxai.explain.ensemble import ensemble_explain, fused_ensemble
    from painxai.runs.reader import Run

    ensemble = Run(five_model_run).ensemble("ncnn")
    crops = np.random.default_rng(3).integers(0, 256, (1, ensemble.size, ensemble.size, 3), dtype=np.uint8)
    full = ensemble_explain(ensemble, crops)
    traced = fused_ensemble(ensemble).fused.gradients.experimental_get_tracing_count()
    subset = dataclasses.replace(ensemble, folds=[2, 0], tails=[ensemble.tails[2], ensemble.tails[0]])
    part = ensemble_explain(subset, crops)
    assert part.folds == [2, 0]
    np.testing.assert_array_equal(part.maps, full.maps[[2, 0]])
    np.testing.assert_array_equal(part.prob_pain, full.prob_pain[[2, 0]])
    assert fused_ensemble(subset).fused.gradients.experimental_get_tracing_count() == traced


def test_folds_that_differ_before_the_explained_layer_each_run_their_whole_tail(five_model_run):
    """The shared-activation shortcut serves only folds that differ after the explained layer."""
    import dataclasses

    import keras

    from painxai.explain.ensemble import ensemble_explain, ensemble_explain_per_fold, fused_ensemble
    from painxai.runs.reader import Run

    ensemble = Run(five_model_run).ensemble("vgg16")
    assert fused_ensemble(ensemble).fused.shared_activations  # these folds differ only in their logits layer
    changed = keras.models.clone_model(ensemble.tails[1])
    changed.set_weights(ensemble.tails[1].get_weights())
    kernel, bias = changed.get_layer("conv5_3").get_weights()
    changed.get_layer("conv5_3").set_weights([kernel * 1.5, bias])  # the explained layer itself differs
    mixed = dataclasses.replace(ensemble, folds=[0, 1], tails=[ensemble.tails[0], changed])
    assert not fused_ensemble(mixed).fused.shared_activations
    crops = np.random.default_rng(4).integers(0, 256, (2, ensemble.size, ensemble.size, 3), dtype=np.uint8)
    fused, reference = ensemble_explain(mixed, crops), ensemble_explain_per_fold(mixed, crops)
    scale = max(float(np.abs(reference.maps).max()), 1e-12)
    np.testing.assert_allclose(fused.maps / scale, reference.maps / scale, atol=1e-5)
    np.testing.assert_allclose(fused.prob_pain, reference.prob_pain, atol=1e-5)
    assert not np.allclose(reference.maps[0], reference.maps[1])
