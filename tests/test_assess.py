"""One photo end to end (painxai.inference.assess) and ``painxai explain`` on a tiny two-fold ncnn run written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from painxai.data.regions import REGIONS, mask_path
from painxai.errors import RequestError

PHOTO_SHAPE = (180, 240)
BOX = (60.0, 30.0, 180.0, 150.0)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of ncnn at 120 px, folds 0 and 1, random weights differing per fold (helpers.runs.build_run)."""
    from helpers.runs import build_run

    return build_run(tmp_path_factory.mktemp("runs") / "tiny", models=("ncnn",), k=2, weights="random",
                     sizes={"ncnn": 120})


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A textured photo with a twin-style ground-truth label map beside it (eyes band, mouth band)."""
    folder = tmp_path_factory.mktemp("photo")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (*PHOTO_SHAPE, 3), dtype=np.uint8)
    label_map = np.zeros(PHOTO_SHAPE, np.uint8)
    label_map[60:80, 70:170] = REGIONS.index("eyes") + 1
    label_map[115:135, 95:145] = REGIONS.index("mouth") + 1
    path = folder / "baby.png"
    Image.fromarray(image).save(path)
    Image.fromarray(label_map).save(mask_path(path))
    return path


def test_assess_photo_with_a_given_box(tiny_run: Path, photo: Path) -> None:
    from painxai.data.images import load_image
    from painxai.inference.assess import AssessRequest, assess_photo, load_ensembles
    from painxai.runs.reader import Run

    run = Run(tiny_run)
    image = load_image(photo)
    ensembles = load_ensembles(run, "ncnn")
    result = assess_photo(image, run, AssessRequest(models=("ncnn",), box=BOX), ensembles=ensembles, source=photo)
    model = result.models["ncnn"]
    assert result.face_search is None and result.box == BOX
    assert result.regions_source == "masks"  # the regions stored beside the photo, not the landmarks'
    np.testing.assert_array_equal(result.label_map, np.asarray(Image.open(mask_path(photo))))
    assert model.folds == [0, 1] and model.crop.shape == (120, 120, 3)
    np.testing.assert_allclose(model.fold_probs, ensembles["ncnn"].predict(model.crop[None])[:, 0], rtol=1e-4)
    assert model.mean_map.shape == (120, 120) and model.photo_map.shape == PHOTO_SHAPE
    x0, y0, x1, y1 = model.transform.window
    outside = np.ones(PHOTO_SHAPE, bool)
    outside[int(np.ceil(y0)) : int(y1), int(np.ceil(x0)) : int(x1)] = False
    assert np.all(model.photo_map[outside] == 0)
    assert model.photo_map.max() > 0, "an all-zero map would make the share check vacuous"
    assert sum(model.shares.values()) == pytest.approx(1.0)
    assert f"{model.n_pain} of 2 fold model(s) say pain" in result.consensus


def test_a_request_names_models_folds_and_the_explanation_and_can_key_a_cache(tiny_run: Path, photo: Path) -> None:
    from painxai.data.images import load_image
    from painxai.inference.assess import AssessRequest, ExplanationRequest, assess_photo
    from painxai.runs.reader import Run

    asked = AssessRequest(models=["ncnn"], folds=[1], explanation=ExplanationRequest("counterfactual"), box=list(BOX))
    assert asked == AssessRequest(("ncnn",), (1,), ExplanationRequest("counterfactual"), BOX)
    assert {asked: "kept"}[AssessRequest(("ncnn",), (1,), ExplanationRequest("counterfactual"), BOX)] == "kept"
    result = assess_photo(load_image(photo), Run(tiny_run), asked)  # no file: no stored masks, not in the run
    model = result.models["ncnn"]
    assert model.folds == [1] and model.method == "counterfactual" and model.target == "pain"
    assert model.fold_choice is not None and model.fold_choice.note.startswith("not in the run's data: fold(s) 1")
    assert result.regions_source is None and result.label_map is None  # noise: no trustworthy landmarks
    with pytest.raises(RequestError, match="unfinished or damaged"):
        assess_photo(load_image(photo), Run(tiny_run), AssessRequest(folds=(5,), box=BOX))


def test_load_ensembles_rejects_unknown_models(tiny_run: Path) -> None:
    from painxai.inference.assess import load_ensembles
    from painxai.runs.reader import Run

    run = Run(tiny_run)
    with pytest.raises(RequestError, match="not in run"):
        load_ensembles(run, "vgg16")
    assert load_ensembles(run, ["ncnn"])["ncnn"].folds == [0, 1]


def test_ensembles_loaded_in_the_background_match_and_raise_on_reading(tiny_run: Path, monkeypatch) -> None:
    import threading

    from painxai.inference.assess import load_ensembles
    from painxai.runs.reader import Run, RunError

    run = Run(tiny_run)
    crop = np.random.default_rng(0).integers(0, 256, (1, 120, 120, 3), dtype=np.uint8)
    loading = load_ensembles(run, "ncnn", background=True)
    assert list(loading) == ["ncnn"] and len(loading) == 1
    np.testing.assert_allclose(loading["ncnn"].predict(crop), load_ensembles(run, "ncnn")["ncnn"].predict(crop),
                               rtol=1e-5)
    # A model that fails to load fails in the loader thread; the reader gets the error, nothing hangs.

    def damaged(name: str) -> None:
        raise RunError(f"{name}: no finished fold")

    monkeypatch.setattr(run, "ensemble", damaged)
    failing = load_ensembles(run, "ncnn", background=True)
    with pytest.raises(RunError, match="no finished fold"):
        failing["ncnn"]
    assert all(t.daemon for t in threading.enumerate() if t.name == "painxai-load-ensembles")


def test_painxai_explain_writes_pngs_and_json(tiny_run: Path, photo: Path, tmp_path: Path) -> None:
    from painxai.cli import app

    out = tmp_path / "out"
    args = ["explain", "--run", str(tiny_run), "--image", str(photo), "--out", str(out), "--box", "60,30,180,150",
            "--faithfulness-steps", "4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "explain.json").read_text())
    entry = report["models"]["ncnn"]
    assert report["regions"] == "ground truth" and len(entry["prob_pain"]) == 2
    assert entry["prob_pain_mean"] == pytest.approx(np.mean(entry["prob_pain"]))
    assert set(entry["faithfulness"]) >= {"deletion_auc", "insertion_auc", "random_deletion_auc"}
    for name in ("ncnn_gradcam.png", "side_by_side_gradcam.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    bad = CliRunner().invoke(app, [*args[:-2], "--method", "magic"])
    assert bad.exit_code == 2 and "unknown method" in bad.output


def test_op_by_op_restores_tensorflows_setting_also_after_an_error():
    import tensorflow as tf

    from painxai.inference.assess import op_by_op

    assert not tf.config.functions_run_eagerly()
    with op_by_op():
        assert tf.config.functions_run_eagerly()
    with pytest.raises(RuntimeError), op_by_op():
        raise RuntimeError("a failed assessment")
    assert not tf.config.functions_run_eagerly()
