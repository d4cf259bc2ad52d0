"""The trust audit: randomisation test, localisation against model-free baselines, verdicts, out-of-fold choice."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import spearmanr

from painxai.audit.verdict import INFORMATIVE, NOT_INFORMATIVE, NOT_JUDGEABLE, UNDECIDED, verdict
from painxai.errors import RequestError
from painxai.explain.cam import GradCAM
from painxai.explain.localisation import pointing_score
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
    from painxai.evaluation.bootstrap import subject_bootstrap

    last = subject_bootstrap(result.spearman[-1], np.arange(4).astype(str)).as_dict()
    label, reasons = verdict(_figures(randomised_spearman=last))
    assert label == NOT_INFORMATIVE
    assert any(r.startswith("fails: after randomising") for r in reasons)
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

# --- localisation, intervals and the verdict --------------------------------------------------------------

SIZE = 32
CUE_LABELS = (1, 2, 4, 5)  # label-map ids of forehead_brow, eyes, nasolabial, mouth


def _face_labels() -> np.ndarray:
    """A face-like label map: brow on top, eyes, nose, nasolabial folds, mouth at the bottom."""
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[2:9, 4:28] = 1  # forehead_brow
    labels[10:14, 6:26] = 2  # eyes
    labels[15:20, 13:19] = 3  # nose (not a cue region)
    labels[16:22, 6:11] = labels[16:22, 21:26] = 4  # nasolabial
    labels[23:28, 10:22] = 5  # mouth
    return labels


def _ring_labels() -> np.ndarray:
    """The four cue regions as concentric square rings around the centre: symmetric in every quadrant."""
    labels = np.zeros((SIZE, SIZE), np.uint8)
    distance = np.maximum(*np.abs(np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2))
    for ring, region in enumerate(CUE_LABELS):
        labels[(distance >= 3 * ring + 1) & (distance < 3 * ring + 4)] = region
    return labels


def _cues(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(count, 4) distinct cue intensities per image, in a random order, and (count,) subjects (4 images each)."""
    rng = np.random.default_rng(seed)
    cues = np.array([rng.permutation([0.2, 0.45, 0.7, 0.95]) for _ in range(count)])
    return cues, np.repeat(np.arange(count // 4), 4)


def _localisation(maps, labels, cues, subjects, low_shape):
    from painxai.audit.model import localisation_figures
    from painxai.explain.localisation import through_grid, truth_maps

    # The data prior as the audit builds it: the mean ground truth through the grid, the same for every image.
    prior = through_grid(truth_maps(labels, cues).mean(axis=0, keepdims=True), low_shape)
    return localisation_figures(maps, {"data prior": np.repeat(prior, len(maps), axis=0)}, labels, cues,
                                subjects.astype(str), low_shape, seed=0)


def _interval(mean: float, low: float, high: float) -> dict:
    return {"mean": mean, "low": low, "high": high, "images": 40, "subjects": 10}


def _figures(**changes) -> dict:
    """An audit entry whose every check passes, with ``changes`` applied."""
    figures = {
        "empty_share": 0.0,
        "map_resolution": [4, 4],
        "randomisation": {"steps": ["logits", "c2"], "spearman": [0.4, 0.1], "ssim": [0.5, 0.2]},
        "intervals": {
            "empty_share": _interval(0.0, 0.0, 0.05),
            "randomised_spearman": _interval(0.1, 0.0, 0.2),
            "deletion_minus_random": _interval(-0.2, -0.3, -0.1),
            "insertion_minus_random": _interval(0.2, 0.1, 0.3),
        },
    }
    for key, value in changes.items():
        (figures["intervals"] if key in figures["intervals"] else figures)[key] = value
    return figures


def test_the_ground_truth_passes_and_fixed_maps_and_noise_fail_the_image_specific_check():
    """Synthetic maps whose answers are known, through the audit's own localisation and verdict."""
    from painxai.explain.localisation import truth_maps

    cues, subjects = _cues(40)
    labels = [_face_labels()] * len(cues)
    truth = truth_maps(labels, cues)
    brows = np.repeat((_face_labels() == 1)[None].astype(np.float32), len(cues), axis=0)  # always the brows
    noise = np.random.default_rng(1).random(truth.shape).astype(np.float32)
    verdicts = {}
    for name, maps in (("truth", truth), ("brows", brows), ("noise", noise)):
        local = _localisation(maps, labels, cues, subjects, (8, 8))
        verdicts[name] = verdict(_figures(localisation=local))
        if name == "truth":
            assert local["cue_correlation"] == pytest.approx(1.0)
            assert local["intervals"]["cue_correlation_minus_best_baseline"]["low"] > 0.5
    assert verdicts["truth"][0] == INFORMATIVE
    for name in ("brows", "noise"):
        label, reasons = verdicts[name]
        assert label == NOT_INFORMATIVE, (name, reasons)
        assert any(r.startswith("fails: the map's mass per cue region follows") for r in reasons)


def test_a_grid_no_map_can_use_is_cannot_be_judged():
    """On cue regions symmetric in every quadrant, a 2 x 2 map gives each region the same mean value (the odd
    terms of a bilinear surface cancel): no map at that grid, not even the ground truth, can follow the cues."""
    from painxai.explain.localisation import truth_maps

    cues, subjects = _cues(40)
    labels = [_ring_labels()] * len(cues)
    local = _localisation(truth_maps(labels, cues), labels, cues, subjects, (2, 2))
    assert local["best_possible"]["correlation"] == pytest.approx(0.0, abs=1e-6)
    label, reasons = verdict(_figures(localisation=local))
    assert label == NOT_JUDGEABLE
    assert any(r.startswith("cannot be judged at this map resolution") for r in reasons)
    finer = _localisation(truth_maps(labels, cues), labels, cues, subjects, (8, 8))
    assert verdict(_figures(localisation=finer))[0] == INFORMATIVE


def test_an_interval_that_straddles_a_threshold_is_undecided():
    label, reasons = verdict(_figures(randomised_spearman=_interval(0.45, 0.3, 0.6)))
    assert label == UNDECIDED and any(r.startswith("undecided: after randomising") for r in reasons)
    assert verdict(_figures(randomised_spearman=_interval(0.7, 0.55, 0.8)))[0] == NOT_INFORMATIVE


def test_verdict_fails_empty_maps_and_unfaithful_maps():
    label, reasons = verdict(_figures(empty_share=_interval(0.8, 0.7, 0.9)))
    assert label == NOT_INFORMATIVE and reasons[0].startswith("fails: share of empty maps 0.80")
    assert verdict(_figures(deletion_minus_random=_interval(0.1, 0.05, 0.2)))[0] == NOT_INFORMATIVE
    assert verdict(_figures(randomised_spearman=None))[0] == UNDECIDED  # no interval: nothing decided


def test_localisation_scores_match_independent_computations():
    from scipy.stats import spearmanr

    from painxai.explain.localisation import CUE_IDS, score_maps

    rng = np.random.default_rng(3)
    labels = [_face_labels()] * 12
    maps = rng.normal(size=(12, SIZE, SIZE)).astype(np.float32)
    maps[0] = -1.0  # an empty map: scores 0 everywhere
    cues, _ = _cues(12)
    scores = score_maps(maps, labels, cues)
    for i in range(1, 12):
        positive = np.maximum(maps[i], 0)
        on_cues = np.isin(labels[i], CUE_IDS)
        assert scores.share[i] == pytest.approx(positive[on_cues].sum() / positive.sum())
        densities = [positive[labels[i] == region].mean() for region in CUE_IDS]
        assert scores.correlation[i] == pytest.approx(spearmanr(densities, cues[i]).statistic)
        assert scores.pointing[i] == float(on_cues.ravel()[np.argmax(maps[i])])
    assert scores.empty.tolist() == [True] + [False] * 11
    assert (scores.pointing[0], scores.share[0], scores.correlation[0]) == (0.0, 0.0, 0.0)


def test_pointing_score_shares_tied_maxima():
    hits = np.zeros((4, 4), bool)
    hits[0, :2] = True
    assert pointing_score(np.ones((4, 4)), hits) == pytest.approx(2 / 16)
    assert pointing_score(np.zeros((4, 4)), hits) == 0.0


def test_subject_bootstrap_resamples_subjects_and_covers_the_mean():
    from painxai.evaluation.bootstrap import resample_counts, subject_bootstrap

    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(8)], 5)
    values = rng.normal(size=40) + np.repeat(rng.normal(size=8), 5)  # images of one subject move together
    result = subject_bootstrap(values, subjects, resamples=500, seed=3)
    # Independently: concatenate the drawn subjects' images, as a reader of the definition would.
    groups = {name: values[subjects == name] for name in np.unique(subjects)}
    names = sorted(groups)
    means = [np.concatenate([groups[n] for n, k in zip(names, row, strict=True) for _ in range(k)]).mean()
             for row in resample_counts(8, 500, 3)]
    assert (result.low, result.high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert (result.n_images, result.n_subjects) == (40, 8)
    # Coverage of the true mean 0 over repeated samples: near 95 % (a per-image bootstrap would be too narrow).
    hits = 0
    for repeat in range(200):
        sample = np.random.default_rng(100 + repeat)
        data = sample.normal(size=40) + np.repeat(sample.normal(size=8), 5)
        interval = subject_bootstrap(data, subjects, resamples=300, seed=repeat)
        hits += interval.low <= 0.0 <= interval.high
    assert 0.82 <= hits / 200 <= 0.99
    assert subject_bootstrap([np.nan], ["a"]).mean is None


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
