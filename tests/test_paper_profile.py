"""The paper profile's exact code path on CPU, at the paper's input size, on a tiny twin.

``painxai train --profile paper`` is meant for a GPU and takes hours there; this runs the very same path
(paper input size, augmentation with the face detector's check, both phases with their early stopping,
the ``mixed_float16`` policy the GPU switches on) for resnet50 on one fold of 12 images, with the epoch
caps and the augmentation count a researcher may pass (2 / 4 / 2), and checks that phase 2 trained the
layers Table 1 fine-tunes and nothing it freezes. Phase 2 gets 4 epochs of one batch each because under
mixed precision Keras's dynamic loss scaling skips the first steps whose float16 gradients overflow
(it starts at a scale of 2^15 and halves it after each overflow; on this random-weight resnet50 one or
two steps are skipped); the test checks that real steps were taken. Also: the paper profile's weights default, the
command-line options, and the unstated choices recorded in run.json and listed in docs/TRAINING.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from painxai.models import SPECS, trainable_layer_names
from painxai.training.choices import choices_record
from painxai.training.profiles import PROFILES, TrainConfig, resolve_profile

MODEL = "resnet50"
CAPS = {"max_epochs_head": 2, "max_epochs_finetune": 4, "augment_per_image": 2}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "TRAINING.md"


@pytest.fixture(scope="module")
def small_twin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The smallest twin (3 subjects per dataset), one image per subject and class, 2 folds: fold 0
    trains on 3 subjects (one of them for validation)."""
    from painxai.data.folds import write_folds
    from painxai.data.manifest import read_manifest, write_manifest
    from painxai.synth.twin import generate_twin

    root = tmp_path_factory.mktemp("paper_twin")
    summary = generate_twin(root, seed=0, size_scale=0.02, workers=1)
    manifest = read_manifest(summary.manifest_path)
    small = root / "manifest-small.csv"  # beside twin.json, so the run knows it is the twin
    write_manifest(manifest.groupby(["subject", "label"]).head(1), small)
    folds = root / "folds.json"
    write_folds(small, folds, k=2, seed=0)
    return {"manifest": small, "folds": folds}


class _PhaseWeights:
    """A keras callback recording, for each ``fit`` (phase), every layer's weights before training, after
    each epoch and at the end (after the best epoch's weights are restored), and the optimizer steps
    really applied (a loss-scale optimizer does not count the steps it skipped)."""

    def __new__(cls, sessions: list[dict[str, Any]]) -> Any:
        import keras

        class Recorder(keras.callbacks.Callback):
            def on_train_begin(self, logs: dict | None = None) -> None:
                sessions.append({"before": _layer_weights(self.model), "epochs": []})

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                sessions[-1]["epochs"].append(_layer_weights(self.model))

            def on_train_end(self, logs: dict | None = None) -> None:
                sessions[-1]["after"] = _layer_weights(self.model)
                sessions[-1]["steps"] = int(self.model.optimizer.iterations.numpy())

        return Recorder()


def _layer_weights(model: Any) -> dict[str, list[np.ndarray]]:
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


def _changed(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


@pytest.fixture(scope="module")
def paper_run(small_twin: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from painxai.training.protocol import train

    out = tmp_path_factory.mktemp("runs") / "paper"
    sessions: list[dict[str, Any]] = []
    config = TrainConfig(
        manifest=small_twin["manifest"], folds=small_twin["folds"], out=out, models=(MODEL,), profile="paper",
        fold=0, weights="none", cache_dir=out.parent / "cache", mixed_precision=True, **CAPS,
    )
    summary = train(config, extra_callbacks=[_PhaseWeights(sessions)])
    return {"out": out, "summary": summary, "sessions": sessions, "run": json.loads((out / "run.json").read_text())}


def test_the_paper_path_runs_both_phases_at_paper_size(paper_run: dict[str, Any]) -> None:
    import keras

    from painxai.training.augment import detector_name

    run = paper_run["run"]
    assert run["profile"] == "paper" and run["profile_overrides"] == CAPS
    settings = run["profile_settings"]
    assert {name: settings[name] for name in CAPS} == CAPS
    assert settings["ncnn_max_epochs"] == CAPS["max_epochs_finetune"]
    assert (settings["patience_head"], settings["patience_finetune"]) == (5, 10)  # the paper's, not capped
    assert run["model_settings"][MODEL]["input_size"] == SPECS[MODEL].paper_input_size == 224
    assert run["timings"]["last_invocation"]["precision"] == "mixed_float16"
    assert run["data_composition_notes"] == []  # the twin is not compared with the paper's databases
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    report = run["data"]["augment_report"]
    assert run["data"]["augmented_samples"] > 0 and report["kept"] == run["data"]["augmented_samples"]
    if detector_name() is not None:
        assert report["detector"] == "used"
    metrics = paper_run["summary"].trained[(MODEL, 0)]
    assert (metrics["epochs_phase1"], metrics["epochs_phase2"]) == (2, 4)
    history = (paper_run["out"] / MODEL / "fold_0" / "history.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in history[1:]] == ["head"] * 2 + ["finetune"] * 4
    predictions = (paper_run["out"] / MODEL / "fold_0" / "predictions.csv").read_text().splitlines()
    assert len(predictions) - 1 == metrics["n_test"] > 0


def test_phase_2_trains_the_table_1_layers_and_nothing_it_freezes(paper_run: dict[str, Any]) -> None:
    sessions = paper_run["sessions"]
    assert len(sessions) == 2  # phase 1 (head view), phase 2 (tail view)
    head, finetune = sessions
    spec = SPECS[MODEL]
    table_1 = set(spec.finetune_layers)
    trained = set(trainable_layer_names(spec, phase=2))
    assert not table_1 & set(head["before"])  # phase 1 never sees the base
    assert table_1 <= set(finetune["before"])
    assert finetune["steps"] > 0, "every phase-2 step was skipped (float16 overflow): the test proves nothing"
    snapshots = [*finetune["epochs"], finetune["after"]]
    changed = {
        name for name, before in finetune["before"].items() if any(_changed(before, s[name]) for s in snapshots)
    }
    assert table_1 <= changed, sorted(table_1 - changed)
    assert set(spec.head_layer_names()) <= changed
    frozen = set(finetune["before"]) - trained
    # The tail holds stage 5's BatchNorm layers (and conv5_1's reduce conv, which carries the stride):
    # Table 1 leaves them frozen.
    assert "conv5_1_1x1_reduce" in frozen and any(name.endswith("_bn") for name in frozen)
    assert not changed & frozen, sorted(changed & frozen)
    # The fold's weights file stores exactly the layers the fold may change.
    run = paper_run["run"]
    assert set(run["model_settings"][MODEL]["fold_weights_layers"]) == trained


def test_the_paper_profile_needs_pretrained_weights_by_default(small_twin, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from painxai.cli import app

    assert PROFILES["paper"].default_weights == "pretrained"
    assert PROFILES["demo"].default_weights == PROFILES["smoke"].default_weights == "auto"
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "empty_home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--manifest", str(small_twin["manifest"]), "--folds", str(small_twin["folds"]),
        "--models", "vgg16", "--profile", "paper", "--out", str(out),
    ])
    assert result.exit_code == 2, result.output
    assert "painxai weights" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_the_command_line_options_reach_the_profile(small_twin, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    import painxai.training.protocol as protocol
    from painxai.cli import app

    seen: list[TrainConfig] = []
    monkeypatch.setattr(protocol, "train", lambda config, reporter=None: seen.append(config) or protocol.RunSummary(
        out=config.out))
    result = CliRunner().invoke(app, [
        "train", "--manifest", str(small_twin["manifest"]), "--folds", str(small_twin["folds"]), "--profile",
        "paper", "--out", str(tmp_path / "run"), "--max-epochs-head", "3", "--max-epochs-finetune", "4",
        "--augment-per-image", "5",
    ])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.weights is None and config.overrides() == {
        "max_epochs_head": 3, "max_epochs_finetune": 4, "augment_per_image": 5}
    profile = resolve_profile(config)
    assert (profile.max_epochs_head, profile.max_epochs_finetune, profile.ncnn_max_epochs) == (3, 4, 4)
    assert profile.augment_per_image == 5 and profile.patience_head == 5
    monkeypatch.undo()  # the real train: it checks the options before any work
    bad = CliRunner().invoke(app, [
        "train", "--manifest", str(small_twin["manifest"]), "--folds", str(small_twin["folds"]), "--profile",
        "paper", "--out", str(tmp_path / "run"), "--max-epochs-head", "-1", "--weights", "none",
    ])
    assert bad.exit_code == 2 and "--max-epochs-head -1" in bad.output


def test_unstated_choices_are_in_run_json_and_in_the_docs_table(paper_run: dict[str, Any]) -> None:
    recorded = paper_run["run"]["choices"]
    assert recorded == choices_record(resolve_profile(TrainConfig(Path(), Path(), Path(), profile="paper", **CAPS)))
    table = DOCS.read_text().split("## Choices the paper does not state", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.MULTILINE))
    assert documented == {choice["name"] for choice in recorded}
    assert all(choice["why"] for choice in recorded)
