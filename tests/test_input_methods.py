"""The input methods (Integrated Gradients, RISE) against independent computations, and the method registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from painxai.errors import RequestError
from painxai.explain.integrated_gradients import IntegratedGradients
from painxai.explain.methods import METHODS, help_text, labels, method_class, parse_methods
from painxai.explain.rise import RISE, rise_masks

SIZE = 16


def linear_model(seed: int = 0) -> keras.Model:
    """logits = W flatten(x) + b: the exact IG attribution from the zero baseline is x * W[:, class]."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten(name="flatten")(inputs))
    return keras.Model(inputs, keras.layers.Activation("softmax", name="prob")(logits), name="linear")


def nonlinear_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(x)
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten(name="flatten")(x))
    return keras.Model(inputs, keras.layers.Activation("softmax", name="prob")(logits), name="nonlinear")


def region_model() -> keras.Model:
    """A model whose pain logit is the mean of the top-left 4 x 4 patch's green channel (nothing else counts)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    patch = keras.layers.Cropping2D(((0, SIZE - 4), (0, SIZE - 4)), name="patch")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(patch)
    dense = keras.layers.Dense(2, name="logits")
    logits = dense(pooled)
    dense.set_weights([np.array([[0, 0], [0, 6.0], [0, 0]], np.float32), np.array([0, -3.0], np.float32)])
    return keras.Model(inputs, keras.layers.Activation("softmax", name="prob")(logits), name="region")


def images(n: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, SIZE, SIZE, 3)).astype(np.float32)


def score(model: keras.Model, batch: np.ndarray, unit: int) -> np.ndarray:
    probe = keras.Model(model.inputs[0], model.get_layer("logits").output)
    return probe(batch).numpy()[:, unit].astype(np.float64)


# --- Integrated Gradients ------------------------------------------------------------------------------


def test_integrated_gradients_on_a_linear_model_is_input_times_weight():
    model = linear_model()
    batch = images()
    kernel = model.get_layer("logits").get_weights()[0]  # (SIZE * SIZE * 3, 2)
    for target, unit in (("pain", 1), ("nopain", 0)):
        ours = IntegratedGradients(model, steps=3).attributions(batch, target)
        expected = batch * kernel[:, unit].reshape(SIZE, SIZE, 3)
        np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
        maps = IntegratedGradients(model, steps=3).compute(batch, target).maps
        np.testing.assert_allclose(maps, np.maximum(expected.sum(axis=-1), 0), rtol=1e-4, atol=1e-5)


def test_integrated_gradients_are_complete_on_a_nonlinear_model():
    """Completeness: the attributions sum to score(x) - score(0); a plain gradient x input does not."""
    model = nonlinear_model(seed=3)
    batch = images(3, seed=2)
    expected = score(model, batch, 1) - score(model, np.zeros_like(batch), 1)
    ours = IntegratedGradients(model, steps=64, batch_size=16).attributions(batch, "pain")
    total = ours.reshape(len(batch), -1).sum(axis=1)
    np.testing.assert_allclose(total, expected, atol=0.02 * np.abs(expected).max())
    # The trivial answer (the gradient at x times x, one point at a = 1) misses by far more.
    import tensorflow as tf

    probe = keras.Model(model.inputs[0], model.get_layer("logits").output)
    tensor = tf.constant(batch)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        value = tf.reduce_sum(probe(tensor)[:, 1])
    trivial = (batch * tape.gradient(value, tensor).numpy()).reshape(len(batch), -1).sum(axis=1)
    assert np.abs(trivial - expected).max() > 10 * np.abs(total - expected).max()


def test_integrated_gradients_through_a_trunk_equal_the_whole_models():
    model = nonlinear_model(seed=4)
    trunk = keras.Model(model.inputs[0], model.get_layer("conv").output)
    tail_input = keras.Input(trunk.outputs[0].shape[1:])
    x = tail_input
    for name in ("last_conv", "flatten", "logits", "prob"):
        x = model.get_layer(name)(x)
    tail = keras.Model(tail_input, x)
    batch = images(2, seed=5)
    whole = IntegratedGradients(model, steps=4).compute(batch, "pain")
    split = IntegratedGradients(tail, trunk=trunk, steps=4).compute(batch, "pain")
    np.testing.assert_allclose(split.maps, whole.maps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(split.prob_pain, model(batch).numpy()[:, 1], rtol=1e-5)
    assert whole.maps.shape == (2, SIZE, SIZE) and whole.maps.max() > 0


# --- RISE -------------------------------------------------------------------------------------------------


def test_rise_masks_are_shifted_upsampled_binary_grids():
    masks = rise_masks(200, 4, 0.5, (SIZE, SIZE), seed=3)
    assert masks.shape == (200, SIZE, SIZE) and masks.dtype == np.float32
    assert masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.5) < 0.05  # each cell kept with probability 0.5
    assert len({m.tobytes() for m in masks}) == 200
    np.testing.assert_array_equal(masks, rise_masks(200, 4, 0.5, (SIZE, SIZE), seed=3))  # the seed fixes them
    # Bilinear: a mask varies smoothly (no jump of a whole unit between neighbouring pixels).
    assert np.abs(np.diff(masks, axis=1)).max() < 0.5


def test_rise_equals_a_naive_loop_over_the_same_masks():
    model = nonlinear_model(seed=6)
    batch = images(2, seed=7)
    rise = RISE(model, masks=40, grid=4, seed=2, batch_size=7)
    ours = rise.compute(batch, "nopain")
    masks = rise_masks(40, 4, 0.5, (SIZE, SIZE), seed=2)
    for index, image in enumerate(batch):
        expected = np.zeros((SIZE, SIZE))
        for mask in masks:  # one masked copy at a time, through the model's own softmax output
            expected += float(model(image[None] * mask[..., None]).numpy()[0, 0]) * mask
        expected /= 40 * 0.5
        np.testing.assert_allclose(ours.maps[index], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.prob_pain, model(batch).numpy()[:, 1], rtol=1e-5)


def concentrates_top_left(heatmap: np.ndarray) -> bool:
    """The map's mean in the top-left 4 x 4 patch clearly exceeds its mean elsewhere, and its peak is near it."""
    inside = np.zeros((SIZE, SIZE), bool)
    inside[:4, :4] = True
    peak = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    return bool(heatmap[inside].mean() > heatmap[~inside].mean() + 0.1 and peak[0] < 6 and peak[1] < 6)


def test_rise_puts_the_mass_where_the_model_looks():
    model = region_model()
    batch = np.abs(images(3, seed=8)) + 0.5  # a green patch present in every image: masking it lowers P(pain)
    maps = RISE(model, masks=300, grid=4, seed=0).compute(batch, "pain").maps
    assert all(concentrates_top_left(heatmap) for heatmap in maps)
    # The check is not trivially met: a flat map, and the model's own probability spread evenly, fail it.
    assert not concentrates_top_left(np.full((SIZE, SIZE), 0.5))
    assert not concentrates_top_left(np.full((SIZE, SIZE), float(model(batch[:1]).numpy()[0, 1])))
    # Nor by RISE on a black image, where masking the patch changes nothing.
    black = RISE(model, masks=300, grid=4, seed=0).compute(np.zeros_like(batch[:1]), "pain").maps
    assert not concentrates_top_left(black[0])


# --- the registry -------------------------------------------------------------------------------------


def test_each_method_is_one_class_that_says_what_it_is():
    assert list(METHODS) == ["gradcam", "counterfactual", "gradcampp", "scorecam", "integrated_gradients", "rise"]
    for name, method in METHODS.items():
        assert method.name == name and method.label and method.level in ("layer", "input")
    fusable = [name for name, method in METHODS.items() if method.fusable]
    assert fusable == ["gradcam", "counterfactual", "gradcampp"]
    assert [name for name, method in METHODS.items() if method.level == "input"] == ["integrated_gradients", "rise"]
    assert labels()["rise"] == RISE.label and "integrated_gradients" in help_text()
    assert method_class("rise") is RISE
    with pytest.raises(RequestError, match="unknown method 'lime'"):
        method_class("lime")
    assert parse_methods("all") == list(METHODS)
    assert parse_methods("rise, gradcam,rise") == ["rise", "gradcam"]
    with pytest.raises(RequestError):
        parse_methods(" , ")


def test_the_registry_does_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, painxai.explain.methods; print('tensorflow' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_painxai_explain_help_names_every_method():
    from typer.testing import CliRunner

    from painxai.cli import app

    result = CliRunner().invoke(app, ["explain", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for name in METHODS:
        assert name in result.output


def test_an_ensemble_explains_input_methods_fold_by_fold_through_the_trunk():
    from painxai.explain.ensemble import ensemble_explain
    from painxai.models import SPECS, build, preprocess, split_model
    from painxai.runs.reader import FoldEnsemble

    network = build("vgg16", input_shape=(32, 32, 3), weights=None, seed=0)
    trunk, template = split_model(network, SPECS["vgg16"].phase2_cut_layer)
    tails = []
    for fold in range(2):  # two "folds" with different tail weights
        tail = keras.models.clone_model(template)
        keras.utils.set_random_seed(20 + fold)
        tail.set_weights([np.random.normal(0, 0.05, w.shape).astype(np.float32) for w in tail.get_weights()])
        tails.append(tail)
    ensemble = FoldEnsemble(name="vgg16", folds=[1, 2], trunk=trunk, tails=tails, size=32)
    crops = np.random.default_rng(9).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    explanation = ensemble_explain(ensemble, crops, method="integrated_gradients", steps=2)
    assert explanation.maps.shape == (2, 2, 32, 32) and explanation.folds == [1, 2]
    import tensorflow as tf

    inputs = tf.constant(preprocess("vgg16", crops))
    for index, tail in enumerate(tails):  # a naive eager loop: two midpoints, the pain logit, through the trunk
        probe = keras.Model(tail.inputs[0], tail.get_layer("logits").output)
        total = np.zeros(inputs.shape, np.float64)
        for alpha in (0.25, 0.75):
            with tf.GradientTape() as tape:
                point = alpha * inputs
                tape.watch(point)
                value = tf.reduce_sum(probe(trunk(point))[:, 1])
            total += tape.gradient(value, point).numpy() / 2
        expected = np.maximum((inputs.numpy() * total).sum(axis=-1), 0)
        assert expected.max() > 0
        np.testing.assert_allclose(explanation.maps[index], expected, rtol=1e-3, atol=1e-4 * expected.max())
    np.testing.assert_allclose(explanation.prob_pain, ensemble.predict(crops), rtol=1e-4, atol=1e-6)
    assert not np.allclose(explanation.maps[0], explanation.maps[1])  # each fold its own map
