"""The trust audit: randomisation test, localisation against model-free baselines, verdicts, out-of-fold choice."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import spearmanr

from painxai.audit.verdict import INFORMATIVE, NOT_INFORMATIVE, verdict
from painxai.errors import RequestError
from painxai.explain.cam import GradCAM
from painxai.explain.localisation import centre_prior, localisation, pointing_score
from painxai.explain.sanity import cascade_layers, randomisation_test, spearman_per_image, ssim_per_image
from painxai.inference import out_of_fold

# --- the randomisation test ---------------------------------------------------------------------------


def _small_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(2, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="prob")(x), name="small")


def _plain_gradcam(model: keras.Model, images: np.ndarray, layer: str) -> np.ndarray:
    """Grad-CAM of the pain class (logit 1) written out in eager TensorFlow, without painxai."""
    probe = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        acts, logits = probe(images, training=False)
        score = tf.reduce_sum(logits[:, 1])
    grads = tape.gradient(score, acts)
    cam = tf.nn.relu(tf.reduce_sum(acts * tf.reduce_mean(grads, axis=(1, 2), keepdims=True), axis=-1))
    return tf.image.resize(cam[..., None], images.shape[1:3], method="bilinear").numpy()[..., 0]


def test_cascade_goes_from_the_output_down_through_the_last_conv_layers():
    model = _small_model()
    assert cascade_layers(model, "c2", conv_steps=2) == ["logits", "c2", "c1"]
    assert cascade_layers(model, "c2", conv_steps=1) == ["logits", "c2"]
    with pytest.raises(ValueError, match="no layer"):
        cascade_layers(model, "nothing")


def test_randomisation_test_matches_an_independent_computation():
    model = _small_model()
    trained = [w.copy() for w in model.get_weights()]
    images = np.random.default_rng(1).normal(size=(5, 16, 16, 3)).astype(np.float32)
    cam = GradCAM(model, "c2")
    steps = cascade_layers(model, "c2", conv_steps=2)
    result = randomisation_test(model, steps, lambda: cam(images), seed=7)

    # The model comes back with its trained weights.
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), trained, strict=True))
    # Independently: the documented rule (same-std Gaussian per array, constant arrays such as zero biases
    # kept, one generator over the cascade),
    # plain Grad-CAM, scipy's Spearman.
    copy = _small_model()
    copy.set_weights(trained)
    reference = _plain_gradcam(copy, images, "c2")
    rng = np.random.default_rng(7)
    for step, name in enumerate(steps):
        layer = copy.get_layer(name)
        layer.set_weights([w if w.std() == 0 else rng.normal(0, w.std(), w.shape).astype(w.dtype)
                           for w in layer.get_weights()])
        maps = _plain_gradcam(copy, images, "c2")
        for i in range(len(images)):
            flat_ref, flat_new = reference[i].ravel(), maps[i].ravel()
            if np.ptp(flat_ref) == 0 or np.ptp(flat_new) == 0:
                continue  # the edge cases are tested on their own below
            expected = spearmanr(flat_ref, flat_new).statistic
            assert result.spearman[step, i] == pytest.approx(expected, abs=2e-3)
    assert result.spearman.shape == result.ssim.shape == (3, 5)
    assert result.summary()["steps"] == steps


def test_a_map_that_ignores_the_model_fails_the_randomisation_test():
    from scipy.ndimage import sobel

    model = _small_model()
    images = np.random.default_rng(2).normal(size=(4, 16, 16, 3)).astype(np.float32)

    def edges() -> np.ndarray:  # an image-gradient map: the same whatever the weights
        grey = images.mean(axis=-1)
        return np.hypot(sobel(grey, axis=1), sobel(grey, axis=2))

    result = randomisation_test(model, cascade_layers(model, "c2"), edges, seed=0)
    assert np.allclose(result.spearman, 1.0) and np.allclose(result.ssim, 1.0)
    figures = _figures(randomisation=result.summary())
    label, reasons = verdict(figures)
    assert label == NOT_INFORMATIVE
    assert any(r.startswith("fails") and "does not depend on what the model learned" in r for r in reasons)
    # The same figures with a map that changed pass.
    assert verdict(_figures())[0] == INFORMATIVE


def test_similarity_edge_cases():
    empty, ramp = np.zeros((1, 8, 8)), np.arange(64.0).reshape(1, 8, 8)
    assert np.isnan(spearman_per_image(empty, empty)[0])
    assert spearman_per_image(empty, ramp)[0] == 0.0
    assert spearman_per_image(ramp, -ramp)[0] == pytest.approx(-1.0)
    assert ssim_per_image(ramp, 2 * ramp)[0] == pytest.approx(1.0)
    assert np.isnan(ssim_per_image(np.ones((1, 2, 2)), np.ones((1, 2, 2)))[0])  # too small for a window



@pytest.mark.parametrize(("shape", "window"), [((3, 3), 3), ((7, 9), 7), ((14, 14), 7), ((28, 20), 5)])
def test_ssim_matches_scikit_image(shape, window):
    """Our scipy SSIM against scikit-image's (the oracle; a test-only package), on maps like the audit's:
    random, sparse (ReLU'd), one near-copy of the other."""
    from skimage.metrics import structural_similarity

    from painxai.explain.sanity import ssim

    rng = np.random.default_rng(shape[0] * 100 + window)
    for _ in range(5):
        x = np.clip(rng.normal(0.2, 0.5, shape), 0, 1)
        y = np.clip(x + rng.normal(0, 0.3, shape), 0, 1) if rng.random() < 0.5 else rng.random(shape)
        expected = structural_similarity(x, y, data_range=1.0, win_size=window)
        assert ssim(x, y, window) == pytest.approx(expected, abs=1e-12)

# --- localisation and the verdict ---------------------------------------------------------------------

SIZE = 32
MOUTH = 5  # label-map id of "mouth" (REGIONS index 4, + 1)


def _label_map() -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[2:9, 4:28] = 1  # forehead_brow
    labels[10:14, 6:26] = 2  # eyes
    labels[15:20, 13:19] = 3  # nose (not a cue region)
    labels[22:27, 10:22] = MOUTH
    return labels


def _blob_images(count: int, seed: int = 0) -> np.ndarray:
    """Dark faces with one bright spot inside the mouth region."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, SIZE, SIZE, 3), np.float32)
    for image in images:
        row, col = rng.integers(23, 26), rng.integers(11, 21)
        image[row - 1 : row + 2, col - 1 : col + 2] = 1.0
    return images


def _model(first_layer: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = first_layer(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(1, name="logits", kernel_initializer="ones", bias_initializer="zeros")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="prob")(logits))


def _looking_model() -> keras.Model:
    """Its only feature is brightness (a 1x1 convolution averaging the channels): it looks at the spot."""
    conv = keras.layers.Conv2D(1, 1, name="conv", kernel_initializer=keras.initializers.Constant(1 / 3),
                               bias_initializer="zeros")
    return _model(conv)


class _FixedSpot(keras.layers.Layer):
    """A feature map that ignores the image: a bump in the bottom-left corner, outside every region. (Its
    weight only puts a variable on the path, which the gradient tape of painxai.explain.cam records.)"""

    def build(self, input_shape):
        rows, cols = np.mgrid[:SIZE, :SIZE]
        bump = np.exp(-((rows - 30) ** 2 + (cols - 1) ** 2) / 8.0).astype(np.float32)[None, :, :, None]
        self.bump = self.add_weight(shape=bump.shape, initializer=keras.initializers.Constant(bump), name="bump")

    def call(self, inputs):
        return inputs[..., :1] * 0.0 + self.bump


def test_a_model_looking_at_the_cue_passes_localisation_and_one_ignoring_it_fails():
    images, labels = _blob_images(6), [_label_map()] * 6
    looking = GradCAM(_looking_model(), "conv").compute(images)
    ignoring = GradCAM(_model(_FixedSpot(name="conv")), "conv").compute(images)
    good = localisation(looking.maps, looking.low_res.shape[1:], labels)
    bad = localisation(ignoring.maps, ignoring.low_res.shape[1:], labels)
    assert good["pointing_game"] == 1.0 and bad["pointing_game"] == 0.0
    cue_area = np.isin(_label_map(), [1, 2, 4, 5]).mean()
    assert good["baseline_pointing_game"]["uniform"] == pytest.approx(cue_area)
    assert good["baseline_pointing_game"]["centre"] == 0.0  # the centre of this face is the nose
    assert good["cue_share"] > max(good["baseline_cue_share"].values())
    assert bad["cue_share"] < max(bad["baseline_cue_share"].values())
    assert verdict(_figures(localisation=good))[0] == INFORMATIVE
    label, reasons = verdict(_figures(localisation=bad))
    assert label == NOT_INFORMATIVE and any("pointing game 0.00" in r and r.startswith("fails") for r in reasons)


def test_a_baseline_that_always_hits_leaves_the_pointing_game_out():
    local = {"source": "masks", "pointing_game": 1.0, "baseline_pointing_game": {"uniform": 0.3, "centre": 1.0},
             "cue_share": 0.6, "baseline_cue_share": {"uniform": 0.4, "centre": 0.5}}
    label, reasons = verdict(_figures(localisation=local))
    assert label == INFORMATIVE and any("cannot tell" in r for r in reasons)


def test_pointing_score_shares_tied_maxima_and_centre_prior_peaks_in_the_middle():
    hits = np.zeros((4, 4), bool)
    hits[0, :2] = True
    flat = np.ones((4, 4))
    assert pointing_score(flat, hits) == pytest.approx(2 / 16)
    assert pointing_score(np.zeros((4, 4)), hits) == 0.0
    prior = centre_prior((5, 5))
    assert np.unravel_index(prior.argmax(), prior.shape) == (2, 2)
    assert np.ptp(centre_prior((2, 2))) == 0  # a 2 x 2 map has no centre cell: the prior is flat


def _figures(**changes) -> dict:
    figures = {
        "empty_share": 0.0,
        "map_resolution": [4, 4],
        "randomisation": {"steps": ["logits", "c2"], "spearman": [0.4, 0.1], "ssim": [0.5, 0.2]},
        "faithfulness": {"deletion_auc": 0.3, "insertion_auc": 0.7, "random_deletion_auc": 0.5,
                         "random_insertion_auc": 0.5},
    }
    figures.update(changes)
    return figures


def test_verdict_fails_empty_maps_and_unfaithful_maps():
    label, reasons = verdict(_figures(empty_share=0.8))
    assert label == NOT_INFORMATIVE and reasons[0].startswith("fails: 80%")
    unfaithful = {"deletion_auc": 0.6, "insertion_auc": 0.7, "random_deletion_auc": 0.5, "random_insertion_auc": 0.5}
    assert verdict(_figures(faithfulness=unfaithful))[0] == NOT_INFORMATIVE
    assert verdict(_figures(randomisation={"steps": ["a"], "spearman": [None], "ssim": [None]}))[0] == NOT_INFORMATIVE


# --- out-of-fold ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twin_run(tiny_twin, tmp_path_factory):
    """A run of no model over the tiny twin's manifest (absolute paths) and folds: enough to match images."""
    from helpers.runs import build_run

    from painxai.data.folds import fold_subjects, read_folds
    from painxai.data.manifest import read_manifest

    document = read_folds(tiny_twin["folds"])
    folds = [fold_subjects(document, fold) for fold in range(int(document["k"]))]
    manifest = read_manifest(tiny_twin["manifest"])
    return build_run(tmp_path_factory.mktemp("runs") / "twin_run", (), data=(manifest, folds))


def test_a_twin_image_is_explained_by_the_fold_that_held_its_subject_out(twin_run):
    from pathlib import Path

    from painxai.runs.reader import Run

    run = Run(twin_run)
    manifest, folds = run.manifest(), run.folds()
    row = manifest.iloc[len(manifest) // 2]
    expected = next(f["fold"] for f in folds["folds"] if str(row["subject"]) in map(str, f["test_subjects"]))
    upload = Path(row["path"]).read_bytes()

    match = out_of_fold.find_in_run(run, data=upload)  # an upload: recognised by its bytes
    assert match is not None and (match.subject, match.fold) == (str(row["subject"]), expected)
    assert out_of_fold.find_in_run(run, path=row["path"]) == match  # the CLI: recognised by its path

    choice = out_of_fold.choose_folds([0, 1], match)
    assert choice.folds == [expected] and choice.out_of_fold is True
    assert f"never saw subject {row['subject']}" in choice.note
    in_sample = out_of_fold.choose_folds([0, 1], match, "all")
    assert in_sample.folds == [0, 1] and in_sample.out_of_fold is False and "in-sample" in in_sample.note
    assert out_of_fold.choose_folds([0, 1], match, [1 - expected]).out_of_fold is False
    with pytest.raises(RequestError, match="unfinished or damaged"):
        out_of_fold.choose_folds([1 - expected], match)

    stranger = out_of_fold.find_in_run(run, data=b"not an image of the run")
    assert stranger is None
    outside = out_of_fold.choose_folds([0, 1], stranger)
    assert outside.folds == [0, 1] and outside.out_of_fold is None


def test_fold_requests_parse():
    assert out_of_fold.parse_fold_request("out-of-fold") == "out-of-fold"
    assert out_of_fold.parse_fold_request("3,1,3") == [1, 3]
    with pytest.raises(RequestError, match="out-of-fold"):
        out_of_fold.parse_fold_request("some")


def test_painxai_explain_records_the_folds_and_whether_they_were_out_of_fold(tmp_path):
    from helpers.runs import build_run
    from PIL import Image
    from typer.testing import CliRunner

    from painxai.cli import app
    from painxai.data.folds import fold_of_subjects
    from painxai.runs.reader import Run

    run_path = build_run(tmp_path / "run", models=("ncnn",), k=2, weights="random", sizes={"ncnn": 64})
    run = Run(run_path)
    row = run.manifest().iloc[0]
    expected = fold_of_subjects(run.folds())[str(row["subject"])]
    # A textured photo the input gate accepts, in place of the run's small flat test image.
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (180, 240, 3), dtype=np.uint8)).save(row["path"])
    base = ["explain", "--run", str(run_path), "--image", row["path"], "--box", "60,30,180,150",
            "--faithfulness-steps", "0"]
    reports = {}
    for request in ("out-of-fold", "all"):
        out = tmp_path / request
        result = CliRunner().invoke(app, [*base, "--out", str(out), "--folds", request])
        assert result.exit_code == 0, result.output
        reports[request] = json.loads((out / "explain.json").read_text())
    own = reports["out-of-fold"]["models"]["ncnn"]
    assert own["folds"] == [expected] and own["out_of_fold"] is True and len(own["prob_pain"]) == 1
    assert reports["out-of-fold"]["in_run_data"] == {"subject": str(row["subject"]), "test_fold": expected}
    every = reports["all"]["models"]["ncnn"]
    assert every["folds"] == [0, 1] and every["out_of_fold"] is False and "in-sample" in every["fold_note"]
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "bad"), "--folds", "most"])
    assert bad.exit_code == 2 and "--folds must be" in bad.output


def test_painxai_audit_refuses_unknown_models(tmp_path):
    from helpers.runs import build_run
    from typer.testing import CliRunner

    from painxai.cli import app

    run_path = build_run(tmp_path / "run", models=("ncnn",), k=2)
    result = CliRunner().invoke(app, ["audit", "--run", str(run_path), "--models", "vgg16"])
    assert result.exit_code == 2 and "not in run" in result.output
    assert not (run_path / "audit.json").exists()
