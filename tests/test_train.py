"""Training runs: smoke protocol end to end, artifacts, resume after a kill, refusals, reading runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from painxai.data.folds import read_folds
from painxai.data.manifest import read_manifest
from painxai.runs.reader import Run, RunError
from painxai.training.fit import class_weights
from painxai.training.pool import ImagePool, fold_indices
from painxai.training.profiles import TrainConfig, TrainError
from painxai.training.protocol import train

MODELS = ("vgg16", "ncnn")


class SimulatedKill(RuntimeError):
    """Raised by the kill callback, standing in for a process killed mid-fold."""


def _kill_after(epochs: int):
    import keras

    class KillAfter(keras.callbacks.Callback):
        seen = 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            KillAfter.seen += 1
            if KillAfter.seen >= epochs:
                raise SimulatedKill(f"killed after {epochs} epoch(s)")

    return KillAfter()


def _config(twin: dict[str, Path], out: Path, **changes) -> TrainConfig:
    settings = {
        "manifest": twin["manifest"],
        "folds": twin["folds"],
        "out": out,
        "models": MODELS,
        "profile": "smoke",
        "weights": "none",
        "cache_dir": out.parent / "cache",
    }
    settings.update(changes)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def smoke_run(tiny_twin: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "smoke"
    summary = train(_config(tiny_twin, out))
    assert sorted(summary.trained) == [(m, f) for m in sorted(MODELS) for f in (0, 1)]
    return out


def test_smoke_run_writes_every_artifact(smoke_run: Path, tiny_twin: dict[str, Path]) -> None:
    document = json.loads((smoke_run / "run.json").read_text())
    assert document["profile"] == "smoke"
    assert document["manifest_sha256"] and document["folds_sha256"]
    assert "balanced" in document["class_weighting"]
    assert set(document["model_settings"]) == set(MODELS)
    assert "random" in document["model_settings"]["vgg16"]["weights"]
    assert document["format"] == 2 and document["data_source"] == "twin"
    vgg16 = document["model_settings"]["vgg16"]
    assert (vgg16["weights_kind"], vgg16["weights_sha256"], vgg16["profile"]) == ("random", None, "smoke")
    assert (vgg16["preprocessing"], vgg16["crop_margin"]) == ("vggface1", 0.25)
    assert "logits" in vgg16["fold_weights_layers"] and "conv5_3" in vgg16["fold_weights_layers"]  # fine-tuned
    assert Run(smoke_run).provenance().describe() == "synthetic twin · random weights (all models) · profile smoke"
    manifest = read_manifest(tiny_twin["manifest"])
    folds = read_folds(tiny_twin["folds"])
    for model in MODELS:
        assert (smoke_run / model / "initial.weights.h5").is_file()
        for fold in (0, 1):
            folder = smoke_run / model / f"fold_{fold}"
            for name in ("trained.weights.h5", "history.csv", "predictions.csv", "metrics.json", "DONE"):
                assert (folder / name).is_file(), f"{folder / name} missing"
            predictions = pd.read_csv(folder / "predictions.csv", dtype={"subject": str})
            assert list(predictions.columns) == ["path", "subject", "dataset", "label", "prob_pain"]
            test_subjects = set(folds["folds"][fold]["test_subjects"])
            assert set(predictions["subject"]) == test_subjects
            assert len(predictions) == manifest["subject"].isin(test_subjects).sum()
            assert predictions["prob_pain"].between(0, 1).all()
            metrics = json.loads((folder / "metrics.json").read_text())
            history = pd.read_csv(folder / "history.csv")
            assert metrics["epochs"] == len(history) == metrics["epochs_phase1"] + metrics["epochs_phase2"]
            assert list(history.columns) == ["epoch", "phase", "loss", "val_loss", "accuracy", "val_accuracy", "lr"]
            labels = (predictions["label"] == "pain").to_numpy()
            expected = float(np.mean((predictions["prob_pain"].to_numpy() >= 0.5) == labels))
            assert metrics["accuracy"] == pytest.approx(expected)
    phases = set(pd.read_csv(smoke_run / "vgg16" / "fold_0" / "history.csv")["phase"])
    assert phases == {"head", "finetune"}
    with h5py.File(smoke_run / "vgg16" / "fold_0" / "trained.weights.h5") as weights:
        assert "layers" in weights and "optimizer" not in weights  # no optimizer state on disk
    assert set(pd.read_csv(smoke_run / "ncnn" / "fold_0" / "history.csv")["phase"]) == {"end_to_end"}


def test_fold_models_reload_to_the_saved_predictions(smoke_run: Path, tiny_twin: dict[str, Path]) -> None:
    """initial + trained weights rebuild each fold's model exactly: its test predictions match the
    file, through load_fold_model and through the shared-trunk ensemble."""
    from painxai.models import preprocess, prob_pain
    from painxai.training.pool import face_crops

    run = Run(smoke_run)
    manifest = run.manifest()
    for model in MODELS:
        size = run.input_size(model)
        crops = face_crops(manifest, size, cache_dir=smoke_run.parent / "cache").images
        ensemble = run.ensemble(model)
        assert ensemble.folds == [0, 1]
        assert (ensemble.trunk is None) == (model == "ncnn")
        together = ensemble.predict(crops)
        assert together.shape == (2, len(manifest))
        predictions = run.predictions()
        for index, fold in enumerate((0, 1)):
            saved = predictions[(predictions["model"] == model) & (predictions["fold"] == fold)]
            rows = manifest.index[manifest["path"].isin(saved["path"])].to_numpy()
            network = run.load_fold_model(model, fold)
            alone = prob_pain(model, np.asarray(network(preprocess(model, crops[rows]), training=False)))
            np.testing.assert_allclose(alone, saved["prob_pain"].to_numpy(), atol=1e-4)
            np.testing.assert_allclose(together[index, rows], alone, atol=1e-4)


def test_run_reader_tables(smoke_run: Path) -> None:
    run = Run(smoke_run)
    assert run.models() == list(MODELS)
    metrics = run.fold_metrics()
    assert {"model", "fold", "accuracy", "f1", "auc", "epochs", "epochs_phase1", "epochs_phase2", "seconds"} <= set(
        metrics.columns
    )
    assert len(metrics) == 4
    assert len(run.history("vgg16", 1)) >= 2
    with pytest.raises(RunError, match="not finished"):
        run.history("vgg16", 7)


def test_resume_after_kill_redoes_only_the_half_fold(
    smoke_run: Path, tiny_twin: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    config = _config(tiny_twin, out, models=("ncnn",))
    with pytest.raises(SimulatedKill):
        train(config, extra_callbacks=[_kill_after(3)])  # fold 0 takes 2 epochs; dies in fold 1
    assert (out / "ncnn" / "fold_0" / "DONE").is_file()
    assert not (out / "ncnn" / "fold_1" / "DONE").exists()
    # A half-written file of the dead fold must never be read.
    (out / "ncnn" / "fold_1").mkdir(parents=True, exist_ok=True)
    (out / "ncnn" / "fold_1" / "metrics.json").write_text('{"accuracy": 0.9')
    in_progress = Run(out)
    assert in_progress.models() == ["ncnn"] and in_progress.finished_folds("ncnn") == [0]
    assert set(in_progress.predictions()["fold"]) == {0}
    assert len(in_progress.fold_metrics()) == 1
    done_before = (out / "ncnn" / "fold_0" / "DONE").stat().st_mtime_ns

    with pytest.raises(TrainError, match="--resume"):
        train(config)
    summary = train(TrainConfig(**{**config.__dict__, "resume": True}))
    assert list(summary.trained) == [("ncnn", 1)] and summary.skipped == [("ncnn", 0)]
    assert (out / "ncnn" / "fold_0" / "DONE").stat().st_mtime_ns == done_before
    assert json.loads((out / "ncnn" / "fold_1" / "metrics.json").read_text())["epochs"] >= 1
    # Identical initial weights and seeds: the redone fold equals the uninterrupted run's fold.
    redone = pd.read_csv(out / "ncnn" / "fold_1" / "predictions.csv")
    reference = pd.read_csv(smoke_run / "ncnn" / "fold_1" / "predictions.csv")
    np.testing.assert_allclose(redone["prob_pain"], reference["prob_pain"], atol=1e-4)


def test_resume_refuses_other_folds_or_profile(smoke_run: Path, tiny_twin: dict[str, Path], tmp_path: Path) -> None:
    other_folds = tmp_path / "folds.json"
    document = json.loads(tiny_twin["folds"].read_text())
    document["folds"].reverse()
    other_folds.write_text(json.dumps(document))
    with pytest.raises(TrainError, match="folds file differs"):
        train(_config(tiny_twin, smoke_run, folds=other_folds, resume=True))
    with pytest.raises(TrainError, match="profile differs"):
        train(_config(tiny_twin, smoke_run, profile="demo", resume=True))
    # The same request resumes at once: everything is finished.
    summary = train(_config(tiny_twin, smoke_run, resume=True))
    assert not summary.trained and len(summary.skipped) == 4


def test_fold_indices_keep_augmented_samples_to_training_subjects(tiny_twin: dict[str, Path]) -> None:
    manifest = read_manifest(tiny_twin["manifest"])
    folds = read_folds(tiny_twin["folds"])
    n = len(manifest)
    # Pretend every image has two augmented samples (fold selection only looks at the metadata).
    source_row = np.concatenate([np.arange(n), np.repeat(np.arange(n), 2)])
    labels = (manifest["label"] == "pain").to_numpy().astype(np.int8)
    pool = ImagePool(
        images=np.zeros((3 * n, 8, 8, 3), np.uint8),
        labels=labels[source_row],
        subjects=manifest["subject"].to_numpy().astype(str)[source_row],
        augmented=np.arange(3 * n) >= n,
        source_row=source_row,
        n_original=n,
        crop_sources={"manifest": n},
    )
    for fold in (0, 1):
        indices = fold_indices(pool, folds, fold, 0.2, 0, manifest)
        held_out = set(indices.validation_subjects) | set(indices.test_subjects)
        assert not held_out & set(pool.subjects[indices.train])
        assert not pool.augmented[indices.validation].any() and not pool.augmented[indices.test].any()
        assert pool.augmented[indices.train].any()
        assert set(pool.subjects[indices.test]) == set(folds["folds"][fold]["test_subjects"])
        assert set(pool.subjects[indices.validation]) == set(indices.validation_subjects)


def test_class_weights_balance_the_classes() -> None:
    labels = np.array([1, 1, 1, 0], dtype=np.int8)
    weights = class_weights(labels)
    assert weights[labels == 1].sum() == pytest.approx(weights[labels == 0].sum())
    assert weights.sum() == pytest.approx(len(labels))


def test_cli_train_resumes_a_finished_run(smoke_run: Path, tiny_twin: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from painxai.cli import app

    copy = tmp_path / "copy"
    shutil.copytree(smoke_run, copy)
    arguments = ["train", "--manifest", str(tiny_twin["manifest"]), "--folds", str(tiny_twin["folds"])]
    arguments += ["--models", "vgg16,ncnn", "--profile", "smoke", "--out", str(copy), "--weights", "none"]
    result = CliRunner().invoke(app, [*arguments, "--resume"])
    assert result.exit_code == 0, result.output
    assert "4 fold(s) already finished" in result.output
    refused = CliRunner().invoke(app, arguments)
    assert refused.exit_code == 2 and "--resume" in refused.output
    unknown = CliRunner().invoke(app, [*arguments[:-4], "--models", "alexnet", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "unknown model" in unknown.output


def test_missing_pretrained_weights_stop_before_anything_is_written(tiny_twin, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from painxai.cli import app

    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "empty_home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--manifest", str(tiny_twin["manifest"]), "--folds", str(tiny_twin["folds"]),
        "--models", "vgg16", "--profile", "smoke", "--weights", "pretrained", "--out", str(out),
    ])
    assert result.exit_code == 2, result.output
    assert "painxai weights import" in result.output and "Traceback" not in result.output
    assert not out.exists()
