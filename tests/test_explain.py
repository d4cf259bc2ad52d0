"""Correctness of the explanations: CAMs against independent implementations, display, attribution, faithfulness."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from painxai.data.regions import CUE_REGIONS, REGIONS
from painxai.errors import RequestError
from painxai.explain import attribution, display, faithfulness
from painxai.explain.cam import (
    ClassTarget,
    CounterfactualGradCAM,
    GradCAM,
    GradCAMPlusPlus,
    ScoreCAM,
    prob_pain_from_logits,
    upsample,
)

SIZE = 32
LAYER = "last_conv"


def tiny_model(units: int, seed: int = 0) -> keras.Model:
    """A small model with the registry's naming: a named last conv, then "logits" and "prob"."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool_a")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name=LAYER)(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(units, name="logits")(x)
    prob = keras.layers.Activation("softmax" if units == 2 else "sigmoid", name="prob")(logits)
    return keras.Model(inputs, prob, name=f"tiny{units}")


def batch(n: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, SIZE, SIZE, 3)).astype(np.float32)


def tape_gradcam(
    model: keras.Model, images: np.ndarray, unit: int, sign: float, negate: bool = False, layer: str = LAYER,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Grad-CAM written independently: eager GradientTape, one image at a time, resized to ``size``."""
    probe = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.get_layer("logits").output])
    maps = []
    for image in images:
        with tf.GradientTape() as tape:
            acts, logits = probe(image[None])
            score = sign * logits[0, unit]
        grads = tape.gradient(score, acts)[0].numpy()
        alphas = grads.mean(axis=(0, 1)) * (-1.0 if negate else 1.0)
        cam = np.maximum((acts[0].numpy() * alphas).sum(axis=-1), 0.0)
        maps.append(tf.image.resize(cam[..., None], size or images.shape[1:3], method="bilinear").numpy()[..., 0])
    return np.array(maps)


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-4) -> None:
    scale = float(np.abs(expected).max())
    assert scale > 0, "reference map is all zero: the comparison would prove nothing"
    assert np.abs(actual - expected).max() <= rel * scale


@pytest.mark.parametrize(("units", "label", "unit", "sign"), [
    (2, "pain", 1, 1.0), (2, "nopain", 0, 1.0), (1, "pain", 0, 1.0), (1, "nopain", 0, -1.0),
])
def test_gradcam_equals_plain_gradient_tape(units: int, label: str, unit: int, sign: float) -> None:
    model = tiny_model(units)
    images = batch()
    ours = GradCAM(model, LAYER)(images, label)
    assert ours.shape == (3, SIZE, SIZE) and ours.dtype == np.float32
    assert_close(ours, tape_gradcam(model, images, unit, sign))


def test_counterfactual_is_gradcam_with_negated_gradients() -> None:
    model = tiny_model(2)
    images = batch()
    ours = CounterfactualGradCAM(model, LAYER)(images, "pain")
    assert_close(ours, tape_gradcam(model, images, 1, 1.0, negate=True))


@pytest.mark.parametrize("units", [2, 1])
def test_gradcam_equals_tf_keras_vis(units: int) -> None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    model = tiny_model(units, seed=3)
    images = batch(4, seed=5)
    logits_model = keras.Model(model.inputs[0], model.get_layer("logits").output)
    score = CategoricalScore([1] * 4) if units == 2 else BinaryScore([True] * 4)
    theirs = Gradcam(logits_model, clone=False)(
        score, images, penultimate_layer=LAYER, expand_cam=False, normalize_cam=False
    )
    ours = GradCAM(model, LAYER).compute(images, "pain")
    assert_close(ours.low_res, np.asarray(theirs))
    assert_close(ours.maps, upsample(np.asarray(theirs), (SIZE, SIZE)))


def test_gradcam_plus_plus_matches_the_closed_form() -> None:
    model = tiny_model(2, seed=4)
    images = batch(2)
    probe = keras.Model(model.inputs[0], [model.get_layer(LAYER).output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        acts, logits = probe(images)
        score = tf.reduce_sum(logits[:, 1])
    grads = tape.gradient(score, acts).numpy().astype(np.float64)
    acts = acts.numpy().astype(np.float64)
    expected = []
    for a, g in zip(acts, grads, strict=True):
        denominator = 2 * g**2 + a.sum(axis=(0, 1)) * g**3
        alpha = np.where(denominator != 0, g**2 / np.where(denominator != 0, denominator, 1), 0)
        weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
        expected.append(np.maximum((a * weights).sum(-1), 0))
    assert_close(GradCAMPlusPlus(model, LAYER).compute(images, "pain").low_res, np.array(expected))


def test_scorecam_weights_are_masked_probabilities() -> None:
    model = tiny_model(2, seed=6)
    images = batch(2)
    ours = ScoreCAM(model, LAYER, max_channels=6, batch_size=4).compute(images, "nopain")
    probe = keras.Model(model.inputs[0], model.get_layer(LAYER).output)
    for index, image in enumerate(images):
        acts = probe(image[None]).numpy()[0]
        weights = []
        for channel in range(acts.shape[-1]):
            mask = tf.image.resize(acts[..., channel : channel + 1], (SIZE, SIZE)).numpy()[..., 0]
            mask = (mask - mask.min()) / max(mask.max() - mask.min(), 1e-7)
            weights.append(model(image[None] * mask[..., None]).numpy()[0, 0])  # softmax output, class 0
        expected = np.maximum((acts * np.array(weights)).sum(-1), 0)
        assert_close(ours.low_res[index], expected, rel=1e-3)


def test_trunk_and_tail_give_the_full_models_maps() -> None:
    model = tiny_model(2, seed=7)
    trunk = keras.Model(model.inputs[0], model.get_layer("pool_a").output)
    tail_input = keras.Input(trunk.outputs[0].shape[1:])
    x = tail_input
    for name in (LAYER, "flatten", "logits", "prob"):
        x = model.get_layer(name)(x)
    tail = keras.Model(tail_input, x)
    images = batch()
    full = GradCAM(model, LAYER).compute(images)
    split = GradCAM(tail, LAYER, trunk=trunk).compute(images)
    assert_close(split.maps, full.maps)
    np.testing.assert_allclose(split.prob_pain, model(images).numpy()[:, 1], rtol=1e-5)


def test_targets_and_probabilities() -> None:
    assert ClassTarget("pain").logit_weights(1).tolist() == [1.0]
    assert ClassTarget("nopain").logit_weights(2).tolist() == [1.0, 0.0]
    np.testing.assert_allclose(prob_pain_from_logits(np.array([[0.0, np.log(3.0)]])), [0.75], rtol=1e-6)
    np.testing.assert_allclose(ClassTarget("nopain").probability(np.array([[np.log(3.0)]])), [0.25], rtol=1e-6)
    with pytest.raises(RequestError, match="unknown target"):
        ClassTarget("ouch")
    with pytest.raises(ValueError, match="3 units"):
        ClassTarget("pain").logit_weights(3)
    with pytest.raises(ValueError, match="images must be"):
        GradCAM(tiny_model(2), LAYER)(np.zeros((SIZE, SIZE, 3), np.float32))


@pytest.mark.parametrize(("name", "size"), [("ncnn", 120), ("vgg16", 32), ("inception_v3", 139)])
def test_public_gradcam_on_registry_models(name: str, size: int) -> None:
    from painxai.explain import gradcam
    from painxai.models import SPECS, build, preprocess

    model = build(name, input_shape=(size, size, 3), weights=None, seed=1)
    crops = np.random.default_rng(2).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    inputs, layer = preprocess(name, crops), SPECS[name].explained_layer
    # With random weights one class's map can be all zero (ReLU); both targets together never are.
    ours = np.concatenate([gradcam(model, crops), gradcam(model, crops, target="nopain")])
    if SPECS[name].output == "softmax2":
        expected = [tape_gradcam(model, inputs, 1, 1.0, layer=layer), tape_gradcam(model, inputs, 0, 1.0, layer=layer)]
    else:
        expected = [tape_gradcam(model, inputs, 0, 1.0, layer=layer), tape_gradcam(model, inputs, 0, -1.0, layer=layer)]
    assert ours.shape == (4, size, size) and ours.dtype == np.float32
    assert_close(ours, np.concatenate(expected))
    with pytest.raises(ValueError, match="model takes"):
        gradcam(model, crops[:, :-1])
    with pytest.raises(ValueError, match="uint8"):
        gradcam(model, crops.astype(np.float32))


def test_fold_ensemble_runs_the_trunk_once_and_matches_each_fold() -> None:
    from painxai.explain.ensemble import ensemble_explain
    from painxai.models import SPECS, build, preprocess, split_model
    from painxai.runs.reader import FoldEnsemble

    network = build("vgg16", input_shape=(32, 32, 3), weights=None, seed=0)
    trunk, template = split_model(network, SPECS["vgg16"].phase2_cut_layer)
    tails = []
    for fold in range(2):  # two "folds": the template's architecture with different tail weights
        tail = keras.models.clone_model(template)
        keras.utils.set_random_seed(10 + fold)
        tail.set_weights([np.random.normal(0, 0.05, w.shape).astype(np.float32) for w in tail.get_weights()])
        tails.append(tail)
    ensemble = FoldEnsemble(name="vgg16", folds=[3, 7], trunk=trunk, tails=tails, size=32)
    crops = np.random.default_rng(4).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    explanation = ensemble_explain(ensemble, crops)
    assert explanation.maps.shape == (2, 2, 32, 32) and explanation.folds == [3, 7]
    features = trunk(preprocess("vgg16", crops)).numpy()
    for index, tail in enumerate(tails):
        assert_close(explanation.maps[index], tape_gradcam(tail, features, 1, 1.0, layer="conv5_3", size=(32, 32)))
    np.testing.assert_allclose(explanation.prob_pain, ensemble.predict(crops), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explanation.std(), explanation.maps.std(axis=0))


# --- display -----------------------------------------------------------------------------------


def test_overlay_and_scales() -> None:
    image = np.full((20, 30, 3), 100, np.uint8)
    heatmap = np.zeros((10, 15), np.float32)
    heatmap[5, 7] = 2.0
    blended = display.overlay(image, heatmap, vmax=None, alpha=0.0)
    np.testing.assert_array_equal(blended, image)
    full = display.overlay(image, np.full((20, 30), 4.0, np.float32), vmax=2.0, alpha=1.0)
    np.testing.assert_array_equal(full[0, 0], display.colourise(np.array(1.0)))  # saturates at vmax
    assert display.shared_scale([np.zeros((4, 4)), np.arange(101.0)]) == pytest.approx(99.01)  # 1..100
    assert display.shared_scale([np.zeros((4, 4))]) == 0.0
    np.testing.assert_array_equal(display.normalise(np.ones((2, 2)), vmax=0.0), np.zeros((2, 2)))
    assert display.colour_bar(1.0, height=50, width=5).shape == (50, 5, 3)
    with pytest.raises(ValueError, match="RGB uint8"):
        display.overlay(image.astype(np.float32), heatmap)


@pytest.mark.parametrize("cmap", list(display.CMAPS))
def test_an_overlay_pixel_is_the_photo_pixel_where_the_map_is_zero(cmap: str) -> None:
    photo = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    heatmap = np.zeros((64, 48), np.float32)
    heatmap[10:30, 5:25] = np.linspace(0.5, 3.0, 20 * 20, dtype=np.float32).reshape(20, 20)
    heatmap[40:50, 30:40] = -1.0  # negative values (a counterfactual's other side) count as 0 too
    shown = display.overlay(photo, heatmap, vmax=2.0, cmap=cmap)
    zero = heatmap <= 0
    np.testing.assert_array_equal(shown[zero], photo[zero])
    # Opacity grows with the value: at vmax and above the pixel is the top colour at MAX_ALPHA's opacity.
    top = display.colourise(np.array(1.0), cmap).astype(float)
    expected = photo[25, 20] + display.MAX_ALPHA * (top - photo[25, 20])
    np.testing.assert_allclose(shown[25, 20], expected, atol=1.0)
    moved = np.abs(shown.astype(int) - photo.astype(int)).sum(axis=-1)
    assert moved[11, 6] < moved[28, 20]  # a weak value changes the photo less than a strong one
    # Every map is read against its own maximum when vmax is None, and an empty map leaves the photo alone.
    np.testing.assert_array_equal(display.overlay(photo, np.zeros((8, 8))), photo)


def test_the_default_colour_map_is_perceptually_uniform_and_jet_stays_available() -> None:
    from matplotlib import colormaps

    assert display.DEFAULT_CMAP in ("inferno", "magma", "viridis", "plasma", "cividis", "turbo")
    assert "jet" in display.CMAPS and display.DEFAULT_CMAP in display.CMAPS
    for name in display.CMAPS:
        assert name in colormaps


def test_region_outlines_follow_the_label_map() -> None:
    picture = np.zeros((10, 12, 3), np.uint8)
    labels = np.zeros((10, 12), np.uint8)
    labels[2:6, 3:9] = 2
    labels[6:9, 3:9] = 5
    outlined = display.outline_regions(picture, labels)
    drawn = (outlined == display.OUTLINE_COLOUR).all(axis=-1)
    assert drawn[2, 3:9].all() and drawn[2:6, 3].all()  # the top and left borders of region 2
    assert drawn[6, 4] and drawn[5, 4]  # both sides of the border between regions 2 and 5
    assert not drawn[3:5, 4:8].any()  # the inside of a region stays as it was
    assert not drawn[labels == 0].any()  # outside every region: nothing drawn
    assert not picture.any()  # the input is not modified
    with pytest.raises(ValueError, match="does not match"):
        display.outline_regions(picture, labels[:5])


def test_scale_labels_and_a_horizontal_colour_bar() -> None:
    assert display.scale_label(17.5) == "0–17.5"
    assert display.scale_label(None, np.array([[0.0, 2.25]])) == "0–2.25"
    assert display.scale_label(None, np.zeros((3, 3))) == "0 (empty map)"
    bar = display.colour_bar(1.0, height=6, width=100, horizontal=True)
    assert bar.shape == (6, 100, 3)
    np.testing.assert_array_equal(bar[0, 0], display.colourise(np.array(0.0)))  # 0 on the left
    np.testing.assert_array_equal(bar[5, 99], display.colourise(np.array(1.0)))  # the top on the right


def test_side_by_side_figure_renders_a_png() -> None:
    photo = np.zeros((40, 40, 3), np.uint8)
    maps = {"a": np.random.default_rng(0).random((40, 40)), "b": np.zeros((40, 40))}
    figure = display.side_by_side_figure(photo, maps, titles={"a": "a p=0.9"})
    png = display.figure_png(figure)
    assert png.startswith(b"\x89PNG")


# --- region attribution ------------------------------------------------------------------------


def label_map_with(region: str, box: tuple[int, int, int, int], shape: tuple[int, int] = (224, 224)) -> np.ndarray:
    label_map = np.zeros(shape, np.uint8)
    y0, y1, x0, x1 = box
    label_map[y0:y1, x0:x1] = REGIONS.index(region) + 1
    return label_map


def test_region_shares_sum_to_one_and_follow_the_mass() -> None:
    label_map = label_map_with("eyes", (50, 80, 40, 180)) + label_map_with("chin", (190, 220, 80, 140))
    heatmap = np.random.default_rng(0).normal(0, 1, (224, 224))
    shares = attribution.region_shares(heatmap, label_map)
    assert set(shares) == {*REGIONS, "outside"}
    assert sum(shares.values()) == pytest.approx(1.0)
    concentrated = np.zeros((224, 224))
    concentrated[60, 100] = 3.0
    concentrated[200, 100] = 1.0
    shares = attribution.region_shares(concentrated, label_map)
    assert shares["eyes"] == pytest.approx(0.75) and shares["chin"] == pytest.approx(0.25)
    assert np.isnan(attribution.region_shares(np.zeros((224, 224)), label_map)["eyes"])
    summary = attribution.aggregate_shares([shares, {**shares, "eyes": 0.25, "chin": 0.75}])
    assert summary["eyes"]["mean"] == pytest.approx(0.5) and summary["eyes"]["std"] == pytest.approx(0.25)


def test_pointing_game_hits_a_peak_inside_a_cue_region_only() -> None:
    label_map = label_map_with("mouth", (150, 180, 80, 140)) + label_map_with("chin", (190, 220, 80, 140))
    yy, xx = np.mgrid[:224, :224]
    peak_in_mouth = np.exp(-((yy - 165) ** 2 + (xx - 110) ** 2) / 200.0)
    peak_on_chin = np.exp(-((yy - 210) ** 2 + (xx - 110) ** 2) / 200.0)
    peak_near_mouth = np.exp(-((yy - 140) ** 2 + (xx - 110) ** 2) / 200.0)  # 10 px above: within tolerance
    assert attribution.pointing_game(peak_in_mouth, label_map)
    assert not attribution.pointing_game(peak_on_chin, label_map)
    assert attribution.pointing_game(peak_on_chin, label_map, regions=("chin",))
    assert attribution.pointing_game(peak_near_mouth, label_map)
    assert not attribution.pointing_game(peak_near_mouth, label_map, tolerance_px=0)
    assert not attribution.pointing_game(np.zeros((224, 224)), label_map)
    assert set(CUE_REGIONS) <= set(REGIONS)
    with pytest.raises(ValueError, match="same"):
        attribution.region_shares(np.zeros((10, 10)), np.zeros((10, 11), np.uint8))


# --- faithfulness ------------------------------------------------------------------------------


def cue_detector(patch: tuple[slice, slice]):
    """A model we construct: its pain probability rises with the fine texture inside one patch."""

    def predict(images: np.ndarray) -> np.ndarray:
        region = images[:, patch[0], patch[1]].astype(np.float64)
        texture = np.abs(np.diff(region, axis=2)).mean(axis=(1, 2, 3))
        return 1.0 / (1.0 + np.exp(-(texture - 20.0) / 5.0))

    return predict


def test_deletion_of_a_perfect_map_drops_faster_than_a_random_map() -> None:
    rng = np.random.default_rng(0)
    image = np.full((1, 64, 64, 3), 128, np.uint8)
    patch = (slice(10, 26), slice(30, 50))
    image[0, patch[0], patch[1]] = rng.choice([0, 255], size=(16, 20, 1)).astype(np.uint8)  # checker-like cue
    perfect = np.zeros((1, 64, 64), np.float32)
    perfect[0, patch[0], patch[1]] = 1.0
    predict = cue_detector(patch)
    assert predict(image)[0] > 0.99
    curves = faithfulness.deletion_insertion(image, perfect, predict, steps=20)
    baseline = faithfulness.random_map_curves(image, predict, steps=20)
    assert curves.deletion.shape == (1, 21) and curves.fractions[-1] == 1.0
    assert curves.deletion[0, 0] == pytest.approx(predict(image)[0])
    assert curves.deletion_auc[0] < 0.2 < baseline.deletion_auc[0]
    assert curves.insertion_auc[0] > baseline.insertion_auc[0]
    with pytest.raises(ValueError, match="predict returned"):
        faithfulness.deletion_insertion(image, perfect, lambda batch: np.zeros(3))
