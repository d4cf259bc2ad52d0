"""The run folder (painxai.runs): parallel jobs into one folder, provenance, fold files that store only what
the fold trained, the previous format, damaged runs that degrade, ``painxai check``, and the fake-run builder."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers.runs import build_run, overwrite_every_7th_byte
from typer.testing import CliRunner

from painxai.cli import app
from painxai.runs import layout, writer
from painxai.runs.provenance import data_source
from painxai.runs.reader import Run, RunError

ROOT = Path(__file__).resolve().parent.parent


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _squeezed(text: str) -> str:
    """``text`` without any whitespace (rich wraps long paths at the terminal width)."""
    return "".join(text.split())


# --- parallel jobs ------------------------------------------------------------------------------------------


def _create_and_merge(run: str, job: int, start: float) -> None:
    """One job: create the run (or find it) at ``start``, then merge its own key into run.json."""
    manifest = pd.DataFrame({"path": ["a.png"], "subject": ["s"], "dataset": ["d"], "label": ["pain"]})
    while time.time() < start:
        pass
    writer.create_run(Path(run), {"format": layout.RUN_FORMAT, "jobs": {}}, manifest, b'{"k": 1}')
    if not (Path(run) / layout.MANIFEST).is_file():
        raise AssertionError("run.json visible before manifest.csv")
    writer.update_run_json(Path(run), lambda doc: doc["jobs"].__setitem__(str(job), os.getpid()))


def test_jobs_creating_one_run_at_once_lose_nothing(tmp_path: Path) -> None:
    """Six processes create the same new run at the same instant and each merge a key: one creates it, no
    key is lost (run.json is read-modify-written under the run's lock), three times."""
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        start = time.time() + 0.5
        jobs = [context.Process(target=_create_and_merge, args=(str(run), job, start)) for job in range(6)]
        for job in jobs:
            job.start()
        for job in jobs:
            job.join(30)
        assert [job.exitcode for job in jobs] == [0] * 6
        assert sorted(writer.read_run_json(run)["jobs"]) == [str(j) for j in range(6)]
        assert not [p for p in tmp_path.iterdir() if ".creating-" in p.name]  # no staging folder left


_JOB = """
import os, sys, time
from pathlib import Path
import painxai.training.protocol  # TensorFlow and the trainer imported before the start line
from painxai.cli import app
out_root, fold, manifest, folds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
for attempt in range(3):
    Path(out_root, f"ready{attempt}-{fold}").touch()
    while len(list(Path(out_root).glob(f"ready{attempt}-*"))) < 2:
        time.sleep(0.001)
    app(["train", "--manifest", manifest, "--folds", folds, "--models", "ncnn", "--profile", "smoke",
         "--weights", "none", "--fold", fold, "--resume", "--out", str(Path(out_root, f"run{attempt}"))],
        standalone_mode=False)
"""


@pytest.mark.slow
def test_two_train_jobs_start_one_new_run_together(tiny_twin: dict[str, Path], tmp_path: Path) -> None:
    """`painxai train --fold k --resume` for folds 0 and 1 started at the same instant into one new folder,
    three times: both folds finish and run.json is complete."""
    env = {**os.environ, "PAINXAI_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(_JOB))
    arguments = [str(tiny_twin["manifest"]), str(tiny_twin["folds"])]
    jobs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path), str(fold), *arguments], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for fold in (0, 1)
    ]  # fmt: skip
    outputs = [job.communicate(timeout=300)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    for attempt in range(3):
        run = Run(tmp_path / f"run{attempt}")
        assert run.finished_folds("ncnn") == [0, 1] and run.health().ok
        assert run.config["models"] == ["ncnn"] and run.config["data_source"] == "twin"
        assert run.model_info("ncnn").input_size > 0 and "last_invocation" in run.config["timings"]


# --- provenance and what inference needs --------------------------------------------------------------------


def test_model_info_and_provenance_of_a_new_run(tmp_path: Path) -> None:
    run = Run(build_run(tmp_path / "run", ("vgg16", "ncnn"), k=2))
    info = run.model_info("vgg16")
    assert (info.input_size, info.preprocessing, info.crop_margin, info.weights, info.profile) == (
        32, "vggface1", 0.25, "random", "smoke"
    )  # fmt: skip
    provenance = run.provenance()
    assert provenance.data_source == "twin" and provenance.weights == {"vgg16": "random", "ncnn": "random"}
    assert provenance.describe() == "synthetic twin · random weights (all models) · profile smoke"
    with pytest.raises(RunError, match="no settings for 'resnet50'"):
        run.model_info("resnet50")


def test_old_runs_get_inferred_provenance(tmp_path: Path) -> None:
    """A run.json of the previous format (only ``weights`` text and ``input_size`` per model, no data source)."""
    path = build_run(tmp_path / "run", ("vgg16", "ncnn"), k=2)
    config = json.loads((path / "run.json").read_text())
    config["format"] = 1
    config["profile"] = "demo"
    config["profile_settings"] = {"name": "demo"}
    config["model_settings"] = {
        "vgg16": {"weights": "pretrained VGGFace", "input_size": 64},
        "ncnn": {"weights": "random initialisation (seed 0)", "input_size": 80},
    }
    del config["data_source"]
    (path / "run.json").write_text(json.dumps(config))
    run = Run(path)
    info = run.model_info("vgg16")
    assert (info.input_size, info.preprocessing, info.crop_margin, info.weights, info.profile) == (
        64, "vggface1", 0.25, "pretrained", "demo"
    )  # fmt: skip
    assert run.model_info("ncnn").weights == "random" and run.model_info("ncnn").fold_layers == ()
    # No manifest_source: judged by the dataset names of the run's manifest copy (twin-A / twin-B).
    assert run.provenance().describe() == "synthetic twin · vgg16 pretrained, ncnn random weights · profile demo"


def test_data_source_rule(tiny_twin: dict[str, Path], tmp_path: Path) -> None:
    """Twin = twin.json (painxai synth) beside the manifest and every dataset named twin-...; else real."""
    from painxai.data.manifest import read_manifest

    manifest = read_manifest(tiny_twin["manifest"])
    assert data_source(tiny_twin["manifest"], manifest) == "twin"
    elsewhere = tmp_path / "manifest.csv"  # the same rows without the generator's identity file
    assert data_source(elsewhere, manifest) == "real"
    renamed = manifest.assign(dataset="UNIFESP")
    assert data_source(tiny_twin["manifest"], renamed) == "real"


# --- fold files store only what the fold trained; the previous format still loads ---------------------------


@pytest.mark.slow
def test_head_only_folds_store_only_the_head(tiny_twin: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    """With fine-tuning skipped (the demo profile's case), a fold file holds the head's layers only, far
    smaller than the tail the previous format stored, and the reloaded folds give the saved predictions."""
    from painxai.data.manifest import read_manifest
    from painxai.models import SPECS, preprocess, prob_pain, split_model
    from painxai.training.pool import face_crops
    from painxai.training.profiles import PROFILES, TrainConfig
    from painxai.training.protocol import train

    head_only = dataclasses.replace(PROFILES["smoke"], name="smoke-head", max_epochs_finetune=0)
    monkeypatch.setitem(PROFILES, "smoke-head", head_only)
    out = tmp_path / "run"
    train(TrainConfig(manifest=tiny_twin["manifest"], folds=tiny_twin["folds"], out=out, models=("vgg16",),
                      profile="smoke-head", weights="none", cache_dir=tmp_path / "cache"))  # fmt: skip
    run = Run(out)
    head = list(SPECS["vgg16"].head_layer_names())
    assert run.model_info("vgg16").fold_layers == tuple(head)
    fold_file = out / "vgg16" / "fold_0" / layout.TRAINED_WEIGHTS
    with h5py.File(fold_file) as handle:
        assert sorted(handle["layers"]) == sorted(head)
    # The previous format stored the whole tail (the unchanged Table-1 convolutions too).
    network = run.load_fold_model("vgg16", 0)
    old_style = tmp_path / "tail.weights.h5"
    writer.save_model_weights(split_model(network, SPECS["vgg16"].phase2_cut_layer)[1], old_style)
    print(f"vgg16 at {run.input_size('vgg16')} px: fold file {fold_file.stat().st_size} B, "
          f"whole tail {old_style.stat().st_size} B")
    assert fold_file.stat().st_size * 3 < old_style.stat().st_size
    manifest = read_manifest(tiny_twin["manifest"])
    crops = face_crops(manifest, run.input_size("vgg16"), cache_dir=tmp_path / "cache").images
    predictions = run.predictions()
    ensemble = run.ensemble("vgg16")
    # Only the layers a fold stores are its own; the others are one object shared by the folds.
    assert ensemble.tails[0].get_layer("conv5_3") is ensemble.tails[1].get_layer("conv5_3")
    assert ensemble.tails[0].get_layer("logits") is not ensemble.tails[1].get_layer("logits")
    together = ensemble.predict(crops)
    for fold in (0, 1):
        saved = predictions[predictions["fold"] == fold]
        rows = manifest.index[manifest["path"].isin(saved["path"])].to_numpy()
        alone = prob_pain("vgg16", np.asarray(run.load_fold_model("vgg16", fold)(preprocess("vgg16", crops[rows]))))
        np.testing.assert_allclose(alone, saved["prob_pain"].to_numpy(), atol=1e-4)
        np.testing.assert_allclose(together[fold, rows], alone, atol=1e-4)


def test_runs_of_the_previous_format_still_load(tmp_path: Path) -> None:
    """Format 1: each fold file is the Keras weights of the whole tail (ncnn: the whole model)."""
    import keras

    from painxai.models import SPECS, split_model

    path = build_run(tmp_path / "run", ("vgg16", "ncnn"), k=2, weights="random")
    current = Run(path)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    expected = {model: current.ensemble(model).predict(images) for model in ("vgg16", "ncnn")}
    for model in ("vgg16", "ncnn"):
        for fold in (0, 1):
            network = current.load_fold_model(model, fold)
            cut = SPECS[model].phase2_cut_layer
            tail = network if cut is None else split_model(network, cut)[1]
            target = layout.fold_dir(path, model, fold) / layout.TRAINED_WEIGHTS
            target.unlink()
            writer.save_model_weights(tail, target)
        keras.backend.clear_session()
    config = json.loads((path / "run.json").read_text())
    config["format"] = 1
    for settings in config["model_settings"].values():
        del settings["fold_weights_layers"]
    (path / "run.json").write_text(json.dumps(config))
    old = Run(path)
    assert old.health().ok
    for model in ("vgg16", "ncnn"):
        np.testing.assert_allclose(old.ensemble(model).predict(images), expected[model], atol=1e-5)
    # `painxai check --upgrade` rewrites them as format 2: only the layers that differ from the initial ones.
    result = CliRunner().invoke(app, ["check", "--run", str(path), "--upgrade"])
    assert result.exit_code == 0, result.output
    assert "4 fold file(s) upgraded" in _one_line(result.output) and "no damaged files" in result.output
    upgraded = Run(path)
    assert upgraded.config["format"] == 2 and upgraded.model_info("vgg16").fold_layers == ("logits",)
    with h5py.File(layout.fold_dir(path, "vgg16", 0) / layout.TRAINED_WEIGHTS) as handle:
        assert list(handle["layers"]) == ["logits"]
    for model in ("vgg16", "ncnn"):
        np.testing.assert_allclose(upgraded.ensemble(model).predict(images), expected[model], atol=1e-5)


# --- damaged runs degrade -----------------------------------------------------------------------------------


DAMAGE = {
    "predictions.csv": ("missing", "missing although the fold is marked DONE"),
    "metrics.json": ('{"accuracy": 0.9', "not valid JSON"),
    "history.csv": ("epoch,phase,loss,val_loss,accuracy,val_accuracy,lr\n1,1,0.5,0.5,0.5,0.5,0.001\n",
                    "unknown phase(s) ['1']"),
    "trained.weights.h5": ("garbage", "unreadable"),
}  # fmt: skip


def test_damaged_folds_are_reported_and_left_out(tmp_path: Path) -> None:
    path = build_run(tmp_path / "run", ("vgg16", "ncnn"), k=3, unfinished=[("ncnn", 2)])
    assert Run(path).health().ok
    damaged = {}
    for fold, (name, (content, _message)) in enumerate(DAMAGE.items()):
        model = "vgg16" if fold < 3 else "ncnn"
        target = layout.fold_dir(path, model, fold % 3) / name
        if content == "missing":
            target.unlink()
        elif content == "garbage":
            overwrite_every_7th_byte(target)
        else:
            target.write_text(content)
        damaged[(model, fold % 3)] = (target, _message)
    run = Run(path)
    health = run.health()
    assert not health.ok and health.unfinished == [("ncnn", 2)]
    assert {(p.model, p.fold) for p in health.problems} == set(damaged)
    for problem in health.problems:
        target, message = damaged[(problem.model, problem.fold)]
        assert problem.path == target and message in problem.message and "--resume" in problem.message
    assert run.finished_folds("vgg16") == [] and run.finished_folds("ncnn") == [1]
    assert run.models() == ["ncnn"] and set(run.predictions()["model"]) == {"ncnn"}
    with pytest.raises(RunError, match="vgg16 has no finished fold"):
        run.ensemble("vgg16")
    result = CliRunner().invoke(app, ["check", "--run", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = _one_line(result.output)
    assert all(str(target) in _squeezed(result.output) for target, _ in damaged.values())
    assert "unfinished" in text and "ncnn fold 2" in text


def test_check_passes_a_healthy_run_and_names_a_bad_run_json(tmp_path: Path) -> None:
    path = build_run(tmp_path / "run", ("ncnn",), k=2)
    result = CliRunner().invoke(app, ["check", "--run", str(path)])
    assert result.exit_code == 0, result.output
    assert "no damaged files" in result.output and "synthetic twin" in result.output
    (path / "run.json").write_text("{not json")
    with pytest.raises(RunError, match=r"run\.json: unreadable"):
        Run(path)
    result = CliRunner().invoke(app, ["check", "--run", str(path)])
    assert result.exit_code == 2 and "run.json: unreadable" in _one_line(result.output)


def test_a_corrupt_fold_file_gives_one_line_in_explain(tmp_path: Path) -> None:
    """A fold file overwritten every 7th byte is left out (`painxai check` names it; explain asked for that
    fold says so in one line); one that passes the cheap check but does not fit the model fails its full
    load with a RunError naming the file, shown by `painxai explain` as one line, never a traceback."""
    from PIL import Image

    from painxai.runs.fold_weights import write_layer_weights

    path = build_run(tmp_path / "run", ("ncnn",), k=3, weights="random")
    corrupt = layout.fold_dir(path, "ncnn", 1) / layout.TRAINED_WEIGHTS
    overwrite_every_7th_byte(corrupt)
    checked = CliRunner().invoke(app, ["check", "--run", str(path)])
    assert checked.exit_code == 2 and str(corrupt) in _squeezed(checked.output)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(photo)
    arguments = ["explain", "--run", str(path), "--image", str(photo), "--out", str(tmp_path / "out"),
                 "--box", "20,20,76,76", "--faithfulness-steps", "0", "--folds"]  # fmt: skip
    result = CliRunner().invoke(app, [*arguments, "1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error:") and "[1]" in result.output
    misfit = layout.fold_dir(path, "ncnn", 2) / layout.TRAINED_WEIGHTS
    write_layer_weights(misfit, {"logits": [np.zeros((3, 3), np.float32)]})  # right layer, wrong shapes
    assert Run(path).finished_folds("ncnn") == [0, 2]
    with pytest.raises(RunError, match="does not fit the model"):
        Run(path).ensemble("ncnn", folds=[2])
    result = CliRunner().invoke(app, [*arguments, "2"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert str(misfit) in _squeezed(result.output) and "does not fit" in _one_line(result.output)


# --- a failed train does not block its re-run -----------------------------------------------------------------


def test_failed_train_leaves_nothing_or_says_resume(tiny_twin: dict[str, Path], tmp_path: Path) -> None:
    """A failure before the run exists leaves no folder; after, the re-run's message says --resume."""
    from painxai.training.profiles import TrainConfig, TrainError
    from painxai.training.protocol import train

    out = tmp_path / "run"
    config = TrainConfig(manifest=tiny_twin["manifest"], folds=tiny_twin["folds"], out=out, models=("ncnn",),
                         profile="smoke", weights="none", fold=5)  # fmt: skip
    with pytest.raises(TrainError, match="out of range"):
        train(config)
    assert not out.exists()
    out.mkdir()  # an empty folder is fine to train into
    arguments = ["train", "--manifest", str(tiny_twin["manifest"]), "--folds", str(tiny_twin["folds"]),
                 "--models", "ncnn", "--profile", "smoke", "--weights", "none", "--out", str(out)]  # fmt: skip
    broken_cache = tmp_path / "home"
    broken_cache.mkdir()
    (broken_cache / "cache").write_text("a file where the cache folder should be")
    env = {"PAINXAI_HOME": str(broken_cache)}
    failed = CliRunner().invoke(app, arguments, env=env)
    assert failed.exit_code != 0 and (out / "run.json").is_file()
    again = CliRunner().invoke(app, arguments, env=env)
    assert again.exit_code == 2 and "--resume" in _one_line(again.output)


# --- the fake-run builder -----------------------------------------------------------------------------------


def test_fake_runs_have_the_trainers_format(tmp_path: Path) -> None:
    path = build_run(tmp_path / "run", ("vgg16", "ncnn"), k=2)
    run = Run(path)
    history = run.history("vgg16", 0)
    assert list(history.columns) == list(layout.HISTORY_COLUMNS)
    assert set(history["phase"]) <= {"head", "finetune"} and set(run.history("ncnn", 0)["phase"]) == {"end_to_end"}
    assert list(pd.read_csv(layout.fold_dir(path, "ncnn", 1) / layout.PREDICTIONS).columns) == list(
        layout.PREDICTION_COLUMNS
    )
    metrics = run.fold_metrics()
    assert (metrics["epochs"] == metrics["epochs_phase1"] + metrics["epochs_phase2"]).all()
    with pytest.raises(FileExistsError):
        build_run(path)
