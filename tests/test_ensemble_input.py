"""Input methods on a run's fold ensembles: fold by fold (never the fused CAM function), through the shared trunk,
each fold's maps those of that fold's whole network."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.runs import build_run

MODEL = "vgg16"  # a trunk shared by the folds and fold tails that differ in their logits layer


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    from painxai.runs.reader import Run

    root = build_run(tmp_path_factory.mktemp("input_methods") / "run", (MODEL,), k=2, weights="random")
    return Run(root).ensemble(MODEL)


def whole_network(ensemble, tail):
    """The fold's trunk and tail as one flat Keras model from the preprocessed input: the tail's layers (a chain
    for vgg16's head) called again on the trunk's output, so the method needs no trunk argument."""
    import keras

    inputs = keras.Input(ensemble.trunk.inputs[0].shape[1:])
    x = ensemble.trunk(inputs)
    for layer in tail.layers[1:]:
        x = layer(x)
    return keras.Model(inputs, x, name=MODEL)


@pytest.mark.parametrize(("method", "options"), [("integrated_gradients", {"steps": 3}), ("rise", {"masks": 12})])
def test_an_input_method_runs_fold_by_fold_through_the_trunk(ensemble, monkeypatch, method, options):
    from painxai.explain import ensemble as ensemble_module
    from painxai.explain.methods import method_class
    from painxai.models import preprocess

    assert ensemble.trunk is not None and len(ensemble.tails) == 2

    def no_fusing(*_args, **_kwargs):
        raise AssertionError("an input method must not take the fused CAM path")

    monkeypatch.setattr(ensemble_module, "fused_ensemble", no_fusing)
    crops = np.random.default_rng(0).integers(0, 256, (2, ensemble.size, ensemble.size, 3), dtype=np.uint8)
    explained = ensemble_module.ensemble_explain(ensemble, crops, method, "pain", **options)
    # Also without options: an input method is never fusable, whatever it is asked.
    assert ensemble_module.ensemble_explain(ensemble, crops[:1], method, "pain").maps.shape[:2] == (2, 1)
    assert explained.maps.shape == (2, 2, ensemble.size, ensemble.size) and explained.folds == ensemble.folds
    inputs = preprocess(MODEL, crops)
    for row, tail in enumerate(ensemble.tails):
        reference = method_class(method)(whole_network(ensemble, tail), **options).compute(inputs, "pain")
        scale = max(float(np.abs(reference.maps).max()), 1e-12)
        np.testing.assert_allclose(explained.maps[row] / scale, reference.maps / scale, atol=1e-4)
        np.testing.assert_allclose(explained.prob_pain[row], reference.prob_pain, atol=1e-5)
    # The folds differ, so maps from one fold's network given to both would be caught above.
    assert not np.allclose(explained.prob_pain[0], explained.prob_pain[1])
