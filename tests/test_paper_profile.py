"""The paper profile's exact code path on CPU, at the paper's input sizes, on a tiny twin.

``painxai train --profile paper`` is meant for a GPU and takes hours there; this runs the very same path
(paper input size, augmentation with the face detector's check, both phases with their early stopping,
the ``mixed_float16`` policy the GPU switches on) for resnet50 on one fold of 12 images, with the epoch
caps and the augmentation count a researcher may pass (2 / 4 / 2). Phase 2 gets 4 epochs of one batch each
because under mixed precision Keras's dynamic loss scaling skips the first steps whose float16 gradients
overflow (it starts at a scale of 2^15 and halves it after each overflow; on this random-weight resnet50 one
or two steps are skipped); the test checks that real steps were taken.

The four other models (vgg16 and senet50 at 224 px, inception_v3 at 299 px, ncnn end to end at 120 px) run the
same path in one more ``train`` call, in float32 with caps 1 / 1 and no augmentation (one step per phase is
enough there: nothing is skipped), to keep CI's time down. For all five, a parametrised test checks that a fold
changes exactly the layers Table 1 trains in phase 2 (with SENet's squeeze-excitation gates and, as the paper
profile sets ``finetune_batchnorm="train"``, the BatchNorm layers after the Table-1 convs) and nothing it
freezes, over the whole model, trunk included. Also: the paper profile's weights default, the command-line
options, and the unstated choices recorded in run.json and listed in docs/TRAINING.md.
"""

from __future__ import annotations

import hashlib
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
OTHER_MODELS = ("vgg16", "senet50", "inception_v3", "ncnn")
OTHER_CAPS = {"max_epochs_head": 1, "max_epochs_finetune": 1, "augment_per_image": 0}
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
                model = self.model.name.removesuffix("_tail")
                sessions.append({"model": model, "before": _layer_weights(self.model), "epochs": []})

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


def _digests(model: Any) -> dict[str, str]:
    """Per layer with weights (trainable or not, BatchNorm moving statistics included), a digest of its arrays:
    a whole model's snapshot without holding a copy of its weights."""
    return {
        layer.name: hashlib.sha1(b"".join(np.ascontiguousarray(w).tobytes() for w in layer.get_weights())).hexdigest()
        for layer in model.layers
        if layer.weights
    }


def _train_recording(config: TrainConfig) -> dict[str, Any]:
    """``train(config)`` recording each fit (phase) and, per model, every layer of the whole model (trunk
    included) when its fold models are prepared and after its (single) fold trained."""
    import painxai.training.protocol as protocol

    sessions: list[dict[str, Any]] = []
    prepared: dict[str, Any] = {}
    before: dict[str, dict[str, str]] = {}

    def prepare_and_snapshot(name: str, *args: Any, **kwargs: Any) -> Any:
        data, described = prepare_model(name, *args, **kwargs)
        prepared[name], before[name] = data.model, _digests(data.model)
        return data, described

    prepare_model = protocol.prepare_model
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(protocol, "prepare_model", prepare_and_snapshot)
        summary = protocol.train(config, extra_callbacks=[_PhaseWeights(sessions)])
    after = {name: _digests(model) for name, model in prepared.items()}
    out = Path(config.out)
    return {
        "out": out, "summary": summary, "sessions": sessions, "run": json.loads((out / "run.json").read_text()),
        "before": before, "after": after,
    }


@pytest.fixture(scope="module")
def paper_run(small_twin: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("runs") / "paper"
    return _train_recording(TrainConfig(
        manifest=small_twin["manifest"], folds=small_twin["folds"], out=out, models=(MODEL,), profile="paper",
        fold=0, weights="none", cache_dir=out.parent / "cache", mixed_precision=True, **CAPS,
    ))


@pytest.fixture(scope="module")
def other_models_run(small_twin: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("runs") / "paper-others"
    return _train_recording(TrainConfig(
        manifest=small_twin["manifest"], folds=small_twin["folds"], out=out, models=OTHER_MODELS, profile="paper",
        fold=0, weights="none", cache_dir=out.parent / "cache", mixed_precision=False, **OTHER_CAPS,
    ))


def test_the_paper_path_runs_both_phases_at_paper_size(paper_run: dict[str, Any]) -> None:
    import keras

    from painxai.training.augment_cache import detector_name

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
    detector = run["data"]["face_detector"]
    # The twin's manifest gives every face box: the detector made no crop, and checked every sample.
    assert (detector["crops_detected"], detector["crops_total"]) == (0, 12)
    if detector_name() is not None:
        assert report["detector"] == "used"
        assert detector["name"] == detector_name() in ("mediapipe", "haar") and detector["augmentation_checked"]
    metrics = paper_run["summary"].trained[(MODEL, 0)]
    assert (metrics["epochs_phase1"], metrics["epochs_phase2"]) == (2, 4)
    history = (paper_run["out"] / MODEL / "fold_0" / "history.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in history[1:]] == ["head"] * 2 + ["finetune"] * 4
    predictions = (paper_run["out"] / MODEL / "fold_0" / "predictions.csv").read_text().splitlines()
    assert len(predictions) - 1 == metrics["n_test"] > 0


def test_phase_2_steps_were_real_under_mixed_precision(paper_run: dict[str, Any]) -> None:
    sessions = paper_run["sessions"]
    assert [session["model"] for session in sessions] == [MODEL, MODEL]  # phase 1 (head view), phase 2 (tail view)
    head, finetune = sessions
    spec = SPECS[MODEL]
    assert not set(spec.finetune_layers) & set(head["before"])  # phase 1 never sees the base
    assert set(spec.finetune_layers) <= set(finetune["before"])
    assert finetune["steps"] > 0, "every phase-2 step was skipped (float16 overflow): the test proves nothing"
    snapshots = [*finetune["epochs"], finetune["after"]]
    changed = {
        name for name, before in finetune["before"].items() if any(_changed(before, s[name]) for s in snapshots)
    }
    assert set(spec.finetune_layers) <= changed


@pytest.mark.slow
@pytest.mark.parametrize("model", (MODEL, *OTHER_MODELS))
def test_phase_2_trains_the_table_1_layers_and_nothing_it_freezes(model: str, request: pytest.FixtureRequest) -> None:
    """Over the whole model: the fold changed exactly the layers phase 2 trains, no frozen layer (trunk, frozen
    convs, BatchNorm of frozen convs) moved, and the fold's weights file stores exactly the changed layers."""
    result = request.getfixturevalue("paper_run" if model == MODEL else "other_models_run")
    spec = SPECS[model]
    run = result["run"]
    assert run["profile_settings"]["finetune_batchnorm"] == "train"
    assert run["model_settings"][model]["input_size"] == spec.paper_input_size
    before, after = result["before"][model], result["after"][model]
    changed = {name for name in before if before[name] != after[name]}
    trained = set(trainable_layer_names(spec, phase=2, batchnorm=True))
    frozen = set(before) - trained
    assert not changed & frozen, f"frozen layers changed: {sorted(changed & frozen)}"
    assert changed == trained, f"trained layers left unchanged: {sorted(trained - changed)}"
    assert set(spec.finetune_layers) <= changed and set(spec.head_layer_names()) <= changed
    phases = [session for session in result["sessions"] if session["model"] == model]
    # Real steps in the last phase (under mixed precision the loss scaling may skip phase 1's only two).
    assert phases[-1]["steps"] > 0
    if spec.trained_end_to_end:  # N-CNN: one end-to-end phase over every weighted layer, nothing frozen
        assert len(phases) == 1 and changed == set(before) == set(spec.finetune_layers) and not frozen
    else:  # phase 1 sees the head only; phase 2 the tail above the cut; everything below it stays
        assert len(phases) == 2 and set(phases[0]["before"]) == set(spec.head_layer_names())
        assert trained <= set(phases[1]["before"])
        below_cut = frozen - set(phases[1]["before"])
        assert below_cut and not below_cut & changed
    if model == "senet50":  # the squeeze-excitation gates of the fine-tuned blocks train with them
        assert set(spec.finetune_companions) <= changed
        assert {"conv4_6_1x1_down", "conv4_6_1x1_up"} <= frozen  # the gates of a frozen block do not
    if spec.finetune_batchnorm:  # the BatchNorm after each Table-1 conv trains; the others stay frozen
        assert set(spec.finetune_batchnorm) <= changed
        assert any(_is_batchnorm(name) for name in frozen - set(spec.finetune_batchnorm))
    if model in ("resnet50", "senet50"):
        assert {"conv5_1_1x1_reduce", "conv5_1_1x1_reduce_bn"} <= frozen  # the 10th conv from the end
    # The fold's weights file stores exactly the layers the fold may change.
    assert set(run["model_settings"][model]["fold_weights_layers"]) == trained
    if spec.finetune_batchnorm:
        assert "BatchNorm layers after them trained" in run["model_settings"][model]["protocol"]


def test_the_detector_is_not_named_where_it_decided_nothing(other_models_run: dict[str, Any]) -> None:
    detector = other_models_run["run"]["data"]["face_detector"]  # boxes from the manifest, no augmentation
    assert detector["name"] is None and not detector["augmentation_checked"] and detector["crops_detected"] == 0


def test_the_batchnorm_setting_leaves_the_demo_and_smoke_protocols_as_they_were() -> None:
    """The demo skips phase 2 and the smoke profile keeps BatchNorm frozen: their recorded protocols (which a
    resume compares) and fold files are what they were before the setting existed."""
    from painxai.training.profiles import protocol_text
    from painxai.training.protocol import fold_trained_layers

    demo, smoke = PROFILES["demo"], PROFILES["smoke"]
    assert demo.finetune_batchnorm == smoke.finetune_batchnorm == "frozen"
    for name in ("resnet50", "inception_v3"):
        assert "BatchNorm" not in protocol_text(name, demo)
        assert "BatchNorm in inference mode" in protocol_text(name, smoke)
        assert fold_trained_layers(name, demo) == SPECS[name].head_layer_names()
        assert not set(fold_trained_layers(name, smoke)) & set(SPECS[name].finetune_batchnorm)
        assert set(SPECS[name].finetune_batchnorm) <= set(fold_trained_layers(name, PROFILES["paper"]))


def _is_batchnorm(name: str) -> bool:
    return name.endswith("_bn") or name.startswith("batch_normalization")


@pytest.mark.parametrize(("model", "side"), [("resnet50", 32), ("senet50", 32), ("inception_v3", 75)])
def test_the_batchnorm_trained_in_phase_2_is_the_one_after_each_table_1_conv(model: str, side: int) -> None:
    """``SPECS[m].finetune_batchnorm`` is read off the graph: every BatchNorm layer fed by a Table-1 conv, in
    the convs' order, and no other."""
    import keras

    from painxai.models import build

    built = build(model, input_shape=(side, side, 3), weights=None)
    fed_by = {
        layer.name: layer.input._keras_history[0].name
        for layer in built.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    table_1 = SPECS[model].finetune_layers
    after_table_1 = sorted(
        (bn for bn, conv in fed_by.items() if conv in table_1), key=lambda bn: table_1.index(fed_by[bn])
    )
    assert tuple(after_table_1) == SPECS[model].finetune_batchnorm
    assert len(after_table_1) == len(table_1)  # one BatchNorm per Table-1 conv in these models


def test_the_paper_profile_needs_pretrained_weights_by_default(small_twin, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from painxai.cli import app

    assert PROFILES["paper"].default_weights == "pretrained"
    assert PROFILES["demo"].default_weights == PROFILES["smoke"].default_weights == "auto"
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "empty_home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "train", "--manifest", str(small_twin["manifest"]), "--folds", str(small_twin["folds"]),
        "--models", "vgg16", "--profile", "paper", "--out", str(out), "--allow-cpu",
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
        "--augment-per-image", "5", "--allow-cpu",
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
