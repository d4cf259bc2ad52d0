"""The paper's training protocol over leave-subjects-out folds, with cached features, artifacts and resume.

Per model and fold (SPEC §1):

- **phase 1** ("head"): the base is frozen; only the new dense head trains, until
  ``patience_head`` epochs without a lower validation loss; the best weights are restored.
- **phase 2** ("finetune"): the Table-1 layers (``SPECS[name].finetune_layers``) are unfrozen, with
  BatchNorm kept in inference mode, at a lower learning rate, until ``patience_finetune`` epochs
  without improvement; the best weights are restored.
- ``ncnn`` trains end to end ("end_to_end") with RMSprop, lr 1e-4, batch 16, patience 10.

Optimisers of the pretrained models (the paper does not give them): Adam, lr 1e-4 in phase 1 and
1e-5 in phase 2 (ten times lower, the usual fine-tuning ratio); the demo profile raises both (its
bases are random and its epochs capped; see :data:`PROFILES`). Loss: cross-entropy weighted by
balanced class weights (``n / (2 n_class)`` over the fold's training images, augmented included).

Speed: layers below ``phase2_cut_layer`` never train and every fold starts from the same
``initial.weights.h5``, so their output ("cut features") is computed once per image and model and
shared by all folds; phase 2 trains only the tail above the cut on those features. Phase 1 needs
only the base's output ("head features"), computed once from the cut features. Mixed precision and
XLA are switched on only when a GPU is present.

Run layout (docs/ARCHITECTURE.md): ``run.json``, ``manifest.csv``, ``folds.json``, per model
``initial.weights.h5`` and ``fold_<k>/`` holding ``trained.weights.h5`` (the tail's weights: the
layers above the cut, for ncnn the whole model), ``history.csv``, ``predictions.csv``,
``metrics.json`` and ``DONE``, written last. A fold folder without ``DONE`` is deleted and redone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.data.folds import read_folds
from painxai.data.manifest import read_manifest, sha256_file, write_manifest
from painxai.errors import PainxaiError
from painxai.training.pool import (
    FoldIndices,
    ImagePool,
    build_pool,
    face_crops,
    fold_indices,
    resize_images,
    training_subjects,
)

MODEL_NAMES = ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn")
WEIGHT_CHOICES = ("pretrained", "none", "auto")
RUN_FORMAT = 1


class TrainError(PainxaiError, ValueError):
    """A training request that cannot be met (bad options, a run folder that does not match)."""


@dataclass(frozen=True)
class Profile:
    """One row of the training-profile table.

    ``input_size``: "paper" or "demo" (``SPECS[name].paper_input_size``/``demo_input_size``) or
    "min" (``min_input_size``, for tests). ``max_epochs_*``: None = no cap (stop on patience only).
    ``lr_*``: Adam learning rates of phase 1 / phase 2 of the pretrained models.
    A cap of 0 skips that phase. ``ncnn_augmented``: whether the end-to-end N-CNN also trains on the
    augmented samples. ``standardize_head_inputs``: train the head on base features
    standardized with the fold's training statistics, then fold that affine map into the first dense
    layer (same architecture and outputs; see :func:`fold_standardization`). Without it, a head on
    raw random-base features barely learns (their shared positive offset dwarfs the differences).
    ``feature_dtype``: storage of the cached features ("float16" halves memory at paper size).
    """

    name: str
    description: str
    input_size: str
    augment_per_image: int
    patience_head: int
    patience_finetune: int
    max_epochs_head: int | None
    max_epochs_finetune: int | None
    batch_size: int
    lr_head: float
    lr_finetune: float
    ncnn_lr: float
    ncnn_batch_size: int
    ncnn_patience: int
    ncnn_max_epochs: int | None
    validation_fraction: float
    feature_dtype: str
    standardize_head_inputs: bool
    ncnn_augmented: bool = True


PROFILES: dict[str, Profile] = {
    "paper": Profile(
        name="paper",
        description="the paper's protocol: paper input sizes, 20 augmented samples per training image, "
        "patience 5 then 10, no epoch cap (meant for a GPU)",
        input_size="paper",
        augment_per_image=20,
        patience_head=5,
        patience_finetune=10,
        max_epochs_head=None,
        max_epochs_finetune=None,
        batch_size=32,
        lr_head=1e-4,
        lr_finetune=1e-5,
        ncnn_lr=1e-4,
        ncnn_batch_size=16,
        ncnn_patience=10,
        ncnn_max_epochs=None,
        validation_fraction=0.1,
        feature_dtype="float16",
        standardize_head_inputs=False,
    ),
    "demo": Profile(
        name="demo",
        description="CPU demo on the twin: SPECS demo input sizes, 2 augmented samples per image, head-only "
        "training on cached features (fine-tuning skipped: it costs 15-80 ms per image and epoch on 2 cores), "
        "standardized head inputs, epoch caps; ncnn at 80 px on the original images only (it has no cached "
        "features, so augmented samples would triple its cost), in batches of 8 instead of 16 (twice the "
        "updates per epoch at the same cost: 0.85 mean accuracy in 20 epochs against 0.82 in 30)",
        input_size="demo",
        augment_per_image=2,
        patience_head=8,
        patience_finetune=10,
        max_epochs_head=30,
        max_epochs_finetune=0,
        batch_size=32,
        lr_head=1e-3,
        lr_finetune=1e-4,
        ncnn_lr=1e-4,
        ncnn_batch_size=8,
        ncnn_patience=10,
        ncnn_max_epochs=20,
        validation_fraction=0.2,
        feature_dtype="float32",
        standardize_head_inputs=True,
        ncnn_augmented=False,
    ),
    "smoke": Profile(
        name="smoke",
        description="seconds, for tests: smallest inputs, no augmentation, 2 + 2 epochs",
        input_size="min",
        augment_per_image=0,
        patience_head=1,
        patience_finetune=1,
        max_epochs_head=2,
        max_epochs_finetune=2,
        batch_size=32,
        lr_head=1e-3,
        lr_finetune=1e-4,
        ncnn_lr=1e-3,
        ncnn_batch_size=32,
        ncnn_patience=1,
        ncnn_max_epochs=2,
        validation_fraction=0.2,
        feature_dtype="float32",
        standardize_head_inputs=True,
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    """What ``painxai train`` was asked to do."""

    manifest: Path
    folds: Path
    out: Path
    models: tuple[str, ...] = MODEL_NAMES
    profile: str = "demo"
    fold: int | None = None
    weights: str = "auto"
    resume: bool = False
    seed: int = 0
    cache_dir: Path | None = None


class Reporter:
    """Receives progress events; the default does nothing (the CLI shows rich progress bars)."""

    def run_started(self, jobs: int, skipped: int) -> None:
        """``jobs`` (model, fold) pairs will train; ``skipped`` were already finished."""

    def message(self, text: str) -> None:
        """A line worth showing (cache use, weights fallback...)."""

    def fold_started(self, model: str, fold: int, max_epochs: int | None) -> None:
        """A fold begins; ``max_epochs`` is the cap over all phases, or None without a cap."""

    def epoch_done(self, model: str, fold: int, phase: str, epoch: int, logs: dict[str, float]) -> None:
        """One epoch of ``phase`` ended (``epoch`` counts from 1 within the phase)."""

    def fold_done(self, model: str, fold: int, metrics: dict[str, Any]) -> None:
        """A fold finished and its artifacts are on disk."""


@dataclass
class RunSummary:
    """What one ``train`` call did: finished folds (model, fold) -> metrics, skipped folds, seconds."""

    out: Path
    trained: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Run folder: paths, run.json, resume checks


def fold_dir(out: Path, model: str, fold: int) -> Path:
    """``<run>/<model>/fold_<k>``."""
    return Path(out) / model / f"fold_{fold}"


def is_fold_done(out: Path, model: str, fold: int) -> bool:
    """True when the fold's ``DONE`` marker exists (every other file was written before it)."""
    return (fold_dir(out, model, fold) / "DONE").is_file()


def input_size(profile: Profile, model: str) -> int:
    """The square input side in pixels of ``model`` under ``profile``."""
    from painxai.models import SPECS

    spec = SPECS[model]
    return int({"paper": spec.paper_input_size, "demo": spec.demo_input_size, "min": spec.min_input_size}[
        profile.input_size
    ])


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers, and of Python."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    packages = ("painxai", "tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "opencv-contrib-python")
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def _check_resume(existing: dict, fresh: dict, out: Path) -> None:
    """Refuse to continue a run whose data or profile differ from what is asked now."""
    for key, what in (
        ("manifest_sha256", "manifest"),
        ("folds_sha256", "folds file"),
        ("profile", "profile"),
        ("seed", "seed"),
    ):
        if existing.get(key) != fresh.get(key):
            raise TrainError(
                f"{out}: cannot resume: the {what} differs from the run's ({key} {existing.get(key)!r} in "
                f"run.json, {fresh.get(key)!r} now). Use a new --out folder, or the run's own files."
            )


def _prepare_run(config: TrainConfig, profile: Profile) -> tuple[pd.DataFrame, dict, dict]:
    """Validate inputs, create or check the run folder, and return (manifest, folds, run.json)."""
    manifest = read_manifest(config.manifest)
    folds = read_folds(config.folds, manifest)
    if config.fold is not None and not 0 <= config.fold < int(folds["k"]):
        raise TrainError(f"--fold {config.fold} is out of range: the folds file has k = {folds['k']}")
    out = Path(config.out)
    fresh = {
        "format": RUN_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": profile.name,
        "profile_settings": dataclasses.asdict(profile),
        "seed": config.seed,
        "models": list(config.models),
        "weights_option": config.weights,
        "manifest_source": str(Path(config.manifest).resolve()),
        "manifest_sha256": sha256_file(config.manifest),
        "folds_source": str(Path(config.folds).resolve()),
        "folds_sha256": sha256_file(config.folds),
        "k": int(folds["k"]),
        "class_weighting": "balanced: weight n / (2 n_class) per training image, from the fold's training "
        "labels (augmented samples included); validation loss unweighted",
        "validation": f"about {profile.validation_fraction:.0%} of each dataset's training subjects, by subject "
        "(painxai.data.folds.validation_subjects, seed + fold)",
        "versions": package_versions(),
        "model_settings": {},
        "timings": {},
    }
    run_json = out / "run.json"
    if run_json.is_file():
        if not config.resume:
            raise TrainError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
        existing = read_run_json(out)
        _check_resume(existing, fresh, out)
        existing["models"] = sorted(set(existing.get("models", [])) | set(config.models), key=MODEL_NAMES.index)
        document = existing
    else:
        if out.exists() and any(out.iterdir()):
            raise TrainError(f"{out} exists and is not a painxai run (no run.json): choose an empty or new folder")
        document = fresh
        document["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu_present()}
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(manifest, out / "manifest.csv")
    atomic.write_bytes(out / "folds.json", Path(config.folds).read_bytes())
    atomic.write_json(run_json, document)
    return manifest, folds, document


def read_run_json(out: Path) -> dict:
    """The run's ``run.json`` as a dict; a clear error when it is missing or unreadable."""
    import json

    path = Path(out) / "run.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise TrainError(f"{out}: not a painxai run (no run.json)") from error
    except (OSError, ValueError) as error:
        raise TrainError(f"{path}: unreadable ({error})") from error


def _update_run_json(out: Path, update: Callable[[dict], None]) -> None:
    """Re-read run.json, apply ``update`` and write it back atomically (parallel fold jobs each
    merge their own part; the last writer wins only for the keys both touched)."""
    document = read_run_json(out)
    update(document)
    atomic.write_json(Path(out) / "run.json", document)


# ---------------------------------------------------------------------------------------------
# Models: initial weights, splits, cached features


def gpu_present() -> bool:
    """True when TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def save_weights_atomic(model: Any, final: Path) -> None:
    """The layer weights of ``model`` to ``final`` (a ``.weights.h5`` path), atomically.

    Saved through an uncompiled model over the same layers: a compiled model's ``save_weights`` also
    writes its optimizer's state (Adam's two moments: 3x the file, 162 MB instead of 54 MB for a vgg16
    tail), which no loader reads. The file loads into the original model unchanged.
    """
    import keras

    with atomic.atomic_path(final) as tmp:
        keras_name = tmp.with_name(tmp.name + ".weights.h5")
        try:
            keras.Model(model.inputs, model.outputs).save_weights(keras_name)
            os.replace(keras_name, tmp)
        finally:
            keras_name.unlink(missing_ok=True)


def build_initial(name: str, size: int, weights: str, seed: int, reporter: Reporter) -> tuple[Any, str]:
    """Build ``name`` at ``size`` with the asked weights; returns (model, description of the weights).

    ``weights``: "pretrained" (fail when missing), "none" (seeded random initialisation) or "auto"
    (pretrained when available, else seeded random with a warning). ncnn has no pretrained weights.
    """
    from painxai.models import SPECS, build

    shape = (size, size, 3)
    if SPECS[name].base_weights is None or weights == "none":
        return build(name, input_shape=shape, weights=None, seed=seed), f"random initialisation (seed {seed})"
    if weights == "pretrained":
        return build(name, input_shape=shape, weights="pretrained", seed=seed), f"pretrained {SPECS[name].base_weights}"
    from painxai.models import WeightsMissingError

    try:
        return build(name, input_shape=shape, weights="pretrained", seed=seed), f"pretrained {SPECS[name].base_weights}"
    except WeightsMissingError:
        text = (
            f"{name}: pretrained {SPECS[name].base_weights} weights ({SPECS[name].weights_file}) not found, "
            f"using a seeded random initialisation (seed {seed}); results will not match the paper. To get "
            f"them: painxai weights fetch --model {name}, or painxai weights import FILE --model {name}"
        )
        reporter.message(f"[yellow]warning:[/] {text}")
        return build(name, input_shape=shape, weights=None, seed=seed), f"random initialisation (seed {seed})"


def head_cut_layer(model: Any) -> str:
    """The layer whose output feeds the first Dense layer: the frozen base's output in phase 1."""
    import keras

    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.Dense):
            return model.layers[index - 1].name
    raise TrainError(f"{model.name}: no Dense layer found; cannot locate the head")


@dataclass
class ModelData:
    """A model, its compiled training views and its cached features for one run invocation.

    ``model``: the full keras model; ``tail``: the layers above the cut (the whole model for ncnn),
    compiled for phase 2 (end to end for ncnn); ``head``: the dense head compiled for phase 1 (None
    for ncnn). Both are compiled once and reused by every fold (tracing a train step costs seconds).
    ``start_state``: (variable, value) pairs of every model and optimizer variable (weights, dropout
    seed states, optimizer moments, step counters) as they were before any fold trained; restoring
    them makes each fold independent of the folds before it. ``cut_features`` (P, ...): the tail's
    inputs for every pool image; ``head_features`` (P, D): the head's inputs (None for ncnn).
    """

    name: str
    size: int
    model: Any
    tail: Any
    head: Any
    start_state: list[tuple[Any, np.ndarray]]
    cut_features: np.ndarray
    head_features: np.ndarray | None
    feature_seconds: float

    def reset(self) -> None:
        """Put the model and its optimizers back to the state every fold starts from."""
        for variable, value in self.start_state:
            variable.assign(value)


def _predict_batches(function: Callable[[np.ndarray], Any], inputs: np.ndarray, batch: int, dtype: str) -> np.ndarray:
    """Apply ``function`` to ``inputs`` in batches; returns the stacked outputs as ``dtype``."""
    starts = range(0, len(inputs), batch)
    parts = [np.asarray(function(inputs[start : start + batch])).astype(dtype) for start in starts]
    return np.concatenate(parts)


def model_images(pool: ImagePool, size: int, manifest: pd.DataFrame, cache_dir: Path | None) -> np.ndarray:
    """The pool at ``size`` px (P, size, size, 3) uint8: the originals cropped directly at ``size`` (as
    the dashboard and explanations crop them, so a fold model sees the same pixels there), the
    augmented samples resized from the pool."""
    if pool.size == size:
        return pool.images
    originals = face_crops(manifest, size, cache_dir=cache_dir).images
    return np.concatenate([originals, resize_images(pool.images[pool.n_original :], size)])


def prepare_model(
    name: str,
    profile: Profile,
    pool: ImagePool,
    manifest: pd.DataFrame,
    out: Path,
    weights: str,
    seed: int,
    reporter: Reporter,
    cache_dir: Path | None = None,
) -> tuple[ModelData, str]:
    """Build ``name``, save or reuse ``<run>/<name>/initial.weights.h5``, and compute the cached
    features of every pool image. Returns the model data and a description of the weights used."""
    import keras
    import tensorflow as tf

    from painxai.models import SPECS, preprocess, split_model, trainable_layer_names

    spec = SPECS[name]
    size = input_size(profile, name)
    initial_file = Path(out) / name / "initial.weights.h5"
    model, described = build_initial(name, size, weights, seed, reporter)
    images = model_images(pool, size, manifest, cache_dir)
    if initial_file.is_file():
        model.load_weights(initial_file)
    else:
        save_weights_atomic(model, initial_file)
    started = time.perf_counter()
    if spec.phase2_cut_layer is None:
        cut = preprocess(name, images).astype(profile.feature_dtype)
        _set_trainable(model, set(trainable_layer_names(spec)))
        compile_for_training(model, spec.output, keras.optimizers.RMSprop(profile.ncnn_lr))
        data = ModelData(name, size, model, model, None, _start_state(model), cut, None, 0.0)
        return data, described
    trunk, tail = split_model(model, spec.phase2_cut_layer)
    run_trunk = tf.function(lambda x: trunk(x, training=False), autograph=False)
    cut = _predict_batches(lambda b: run_trunk(preprocess(name, b)), images, 64, profile.feature_dtype)
    head_cut = head_cut_layer(model)
    middle = keras.Model(model.get_layer(spec.phase2_cut_layer).output, model.get_layer(head_cut).output)
    run_middle = tf.function(lambda x: middle(x, training=False), autograph=False)
    head_features = _predict_batches(lambda b: run_middle(b.astype("float32")), cut, 256, profile.feature_dtype)
    _base, head = split_model(model, head_cut)
    # Head layers train in both phases; the tail's Table-1 layers only in phase 2, and the head
    # model does not contain them, so one set of flags serves both compiled views.
    _set_trainable(tail, set(trainable_layer_names(spec, phase=2)))
    # 64 steps per call: a head step takes ~4 ms, and Python's per-step overhead cost 5-15 % of an epoch (measured).
    compile_for_training(head, spec.output, keras.optimizers.Adam(profile.lr_head), steps_per_execution=64)
    compile_for_training(tail, spec.output, keras.optimizers.Adam(profile.lr_finetune))
    data = ModelData(
        name, size, model, tail, head, _start_state(model, head, tail), cut, head_features,
        time.perf_counter() - started,
    )
    return data, described


def _start_state(model: Any, *compiled: Any) -> list[tuple[Any, np.ndarray]]:
    """Snapshot of ``model``'s variables and of the (built) optimizers of the ``compiled`` views."""
    state = [(v, np.array(v.numpy())) for v in model.variables]
    for view in compiled or (model,):
        view.optimizer.build(view.trainable_variables)
        state += [(v, np.array(v.numpy())) for v in view.optimizer.variables]
    return state


# ---------------------------------------------------------------------------------------------
# One fold


def _patience_callback(patience: int) -> Any:
    """Early stopping on validation loss that always restores the best epoch's weights at the end,
    also when an epoch cap stops training first (Keras's EarlyStopping restores only on a patience
    stop)."""
    import keras

    class _PatienceStop(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = math.inf
            self.best_weights: list[np.ndarray] | None = None
            self.wait = 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            current = (logs or {}).get("val_loss", math.inf)
            if current < self.best:
                self.best, self.wait = current, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return _PatienceStop()


def _reporting_callback(reporter: Reporter, model: str, fold: int, phase: str, rows: list[dict]) -> Any:
    import keras

    class _Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            learning_rate = float(np.asarray(self.model.optimizer.learning_rate))
            rows.append(
                {
                    "epoch": len(rows) + 1,
                    "phase": phase,
                    "loss": logs.get("loss"),
                    "val_loss": logs.get("val_loss"),
                    "accuracy": logs.get("accuracy"),
                    "val_accuracy": logs.get("val_accuracy"),
                    "lr": learning_rate,
                }
            )
            reporter.epoch_done(model, fold, phase, epoch + 1, logs)

    return _Record()


def _dataset(features: np.ndarray, labels: np.ndarray, weights: np.ndarray | None, batch: int, seed: int | None) -> Any:
    """A tf.data pipeline over rows of a cached feature array, gathered per batch (no copy of the
    whole array into the graph); shuffled when ``seed`` is given."""
    import tensorflow as tf

    rows = tf.data.Dataset.range(len(features))
    if seed is not None:
        rows = rows.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    rows = rows.batch(batch)
    out_shape = (None, *features.shape[1:])

    def gather(index: np.ndarray) -> tuple[np.ndarray, ...]:
        parts = (features[index].astype(np.float32), labels[index].astype(np.float32))
        return (*parts, weights[index].astype(np.float32)) if weights is not None else parts

    types = (tf.float32, tf.float32, tf.float32) if weights is not None else (tf.float32, tf.float32)

    def load(index: Any) -> tuple[Any, ...]:
        tensors = tf.numpy_function(gather, [index], types)
        tensors[0].set_shape(out_shape)
        for tensor in tensors[1:]:
            tensor.set_shape((None,))
        return tuple(tensors)

    return rows.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Balanced per-image weights (N,) float32: ``n / (2 n_class)`` for each image's class."""
    counts = np.bincount(labels.astype(int), minlength=2).astype(float)
    per_class = np.where(counts > 0, len(labels) / (2 * np.maximum(counts, 1)), 0.0)
    return per_class[labels.astype(int)].astype(np.float32)


def compile_for_training(model: Any, output: str, optimizer: Any, steps_per_execution: int = 1) -> None:
    """Compile for training (XLA only with a GPU). ``steps_per_execution`` > 1 runs that many train
    steps per call from Python, for models whose steps take a few milliseconds (the dense heads)."""
    import keras

    loss = (
        keras.losses.SparseCategoricalCrossentropy()
        if output == "softmax2"
        else keras.losses.BinaryCrossentropy()
    )
    metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy") if output == "softmax2" else (
        keras.metrics.BinaryAccuracy(name="accuracy")
    )
    model.compile(
        optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=gpu_present(),
        steps_per_execution=steps_per_execution,
    )


def _fit(
    model: Any,
    features: np.ndarray,
    labels: np.ndarray,
    indices: FoldIndices,
    batch: int,
    patience: int,
    max_epochs: int | None,
    seed: int,
    callbacks: list[Any],
) -> int:
    """Train the compiled ``model`` on the fold's rows of ``features`` with early stopping; returns
    the epochs run."""
    train = _dataset(
        features[indices.train], labels[indices.train], class_weights(labels[indices.train]), batch, seed
    )
    validation = _dataset(features[indices.validation], labels[indices.validation], None, 256, None)
    history = model.fit(
        train,
        validation_data=validation,
        epochs=max_epochs if max_epochs is not None else 100_000,
        callbacks=[_patience_callback(patience), *callbacks],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
    )
    return len(history.history.get("loss", []))


def _set_trainable(tail: Any, trainable: set[str]) -> None:
    """Freeze every tail layer except ``trainable`` (by name). Frozen BatchNorm layers run in
    inference mode in Keras 3, which keeps their statistics fixed as the protocol requires."""
    for layer in tail.layers:
        layer.trainable = layer.name in trainable


def train_fold(
    data: ModelData,
    profile: Profile,
    pool: ImagePool,
    indices: FoldIndices,
    fold: int,
    seed: int,
    reporter: Reporter,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[list[dict], np.ndarray, dict[str, int]]:
    """Run the protocol for one fold; returns (history rows, test prob_pain (T,), epochs per phase).

    The model and its optimizers are reset to the run's starting state first, so a fold gives the
    same result whether or not other folds trained before it in this process. A phase whose epoch
    cap is 0 in the profile is skipped.
    """
    import keras

    from painxai.models import prob_pain

    keras.utils.set_random_seed(seed + fold)
    data.reset()
    labels = pool.labels
    rows: list[dict] = []
    epochs = {"head": 0, "finetune": 0, "end_to_end": 0}

    def run_phase(
        phase: str, view: Any, features: np.ndarray, batch: int, patience: int, cap: int | None,
        rows_used: FoldIndices = indices,
    ) -> None:
        if cap != 0:
            callbacks = [_reporting_callback(reporter, data.name, fold, phase, rows), *extra_callbacks]
            epochs[phase] = _fit(view, features, labels, rows_used, batch, patience, cap, seed + fold, callbacks)

    if data.head is None:
        run_phase(
            "end_to_end", data.tail, data.cut_features, profile.ncnn_batch_size, profile.ncnn_patience,
            profile.ncnn_max_epochs, trained_rows(data.name, profile, pool, indices),
        )
    else:
        features = data.head_features
        if profile.standardize_head_inputs and profile.max_epochs_head != 0:
            mean, scale = feature_standardization(features[indices.train])
            features = (features.astype(np.float32) - mean) / scale
        run_phase("head", data.head, features, profile.batch_size, profile.patience_head, profile.max_epochs_head)
        if features is not data.head_features:
            fold_standardization(data.head.get_layer(_first_dense(data.head)), mean, scale)
        run_phase(
            "finetune", data.tail, data.cut_features, profile.batch_size, profile.patience_finetune,
            profile.max_epochs_finetune,
        )
    test_inputs = data.cut_features[indices.test].astype(np.float32)
    outputs = np.concatenate([
        np.asarray(data.tail(test_inputs[start : start + 256], training=False))
        for start in range(0, len(test_inputs), 256)
    ])
    return rows, prob_pain(data.name, outputs), epochs


def trained_rows(name: str, profile: Profile, pool: ImagePool, indices: FoldIndices) -> FoldIndices:
    """The fold's pool rows that ``name`` trains on: all of ``indices``, except that N-CNN leaves out
    the augmented samples when the profile says so."""
    from painxai.models import SPECS

    if SPECS[name].trained_end_to_end and not profile.ncnn_augmented:
        # Pool rows are originals first, then augmented samples.
        return dataclasses.replace(indices, train=indices.train[indices.train < pool.n_original])
    return indices


def _first_dense(model: Any) -> str:
    import keras

    return next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense))


def feature_standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (D,) float32 of training features (N, D); constant features get
    scale 1 (they carry no information, and dividing by ~0 would blow up)."""
    mean = features.mean(axis=0, dtype=np.float64)
    std = features.std(axis=0, dtype=np.float64)
    scale = np.where(std > 1e-6 * max(float(std.max()), 1e-12), std, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


def fold_standardization(dense: Any, mean: np.ndarray, scale: np.ndarray) -> None:
    """Rewrite a Dense layer trained on standardized inputs ``(x - mean) / scale`` so that it gives
    the same outputs on raw ``x``: kernel / scale (per input row), bias - (mean / scale) @ kernel.
    The model keeps its Table-1 architecture; only its training was preconditioned."""
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in dense.get_weights())
    dense.set_weights([
        (kernel / scale[:, None]).astype(np.float32),
        (bias - (mean / scale) @ kernel).astype(np.float32),
    ])


def _metrics(labels: np.ndarray, probabilities: np.ndarray, epochs: dict[str, int], **extra: Any) -> dict[str, Any]:
    """The fold's metrics via :func:`painxai.evaluation.metrics.fold_metrics` (JSON-safe)."""
    from painxai.evaluation.metrics import fold_metrics, json_safe

    total = sum(epochs.values())
    return json_safe(
        fold_metrics(
            labels,
            probabilities,
            int(total),
            epochs_phase1=int(epochs["head"]),
            epochs_phase2=int(epochs["finetune"] + epochs["end_to_end"]),
            **extra,
        )
    )


def write_fold(
    out: Path,
    data: ModelData,
    fold: int,
    manifest: pd.DataFrame,
    pool: ImagePool,
    indices: FoldIndices,
    rows: list[dict],
    probabilities: np.ndarray,
    metrics: dict[str, Any],
) -> Path:
    """Write the fold's artifacts atomically, ``DONE`` last. Returns the fold folder."""
    import io

    folder = fold_dir(out, data.name, fold)
    save_weights_atomic(data.tail, folder / "trained.weights.h5")
    history = pd.DataFrame(rows, columns=["epoch", "phase", "loss", "val_loss", "accuracy", "val_accuracy", "lr"])
    atomic.write_text(folder / "history.csv", history.to_csv(index=False))
    test_rows = manifest.iloc[pool.source_row[indices.test]]
    predictions = pd.DataFrame(
        {
            "path": test_rows["path"].to_numpy(),
            "subject": test_rows["subject"].to_numpy(),
            "dataset": test_rows["dataset"].to_numpy(),
            "label": test_rows["label"].to_numpy(),
            "prob_pain": np.round(probabilities.astype(float), 6),
        }
    )
    buffer = io.StringIO()
    predictions.to_csv(buffer, index=False)
    atomic.write_text(folder / "predictions.csv", buffer.getvalue())
    atomic.write_json(folder / "metrics.json", metrics)
    atomic.write_text(folder / "DONE", time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")
    return folder


# ---------------------------------------------------------------------------------------------
# The run


def _configure_device() -> None:
    """Mixed precision only with a GPU (on CPU float16 is slower and less accurate)."""
    if gpu_present():
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")


def parse_models(text: str) -> tuple[str, ...]:
    """``"all"`` or a comma list of model names -> tuple in the canonical order; unknown names raise."""
    if text.strip() == "all":
        return MODEL_NAMES
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown or not names:
        raise TrainError(f"unknown model(s) {unknown or text!r}; choose from {', '.join(MODEL_NAMES)} or 'all'")
    return tuple(sorted(set(names), key=MODEL_NAMES.index))


def _require_pretrained(models: Sequence[str]) -> None:
    """Raise ``WeightsMissingError`` (with how to get them) before anything is written, when a model's
    pretrained base weights are not on this machine."""
    from painxai.models import SPECS
    from painxai.models.weights import pretrained_file

    for name in models:
        if SPECS[name].weights_file is not None:
            pretrained_file(SPECS[name])


def train(
    config: TrainConfig, reporter: Reporter | None = None, extra_callbacks: Sequence[Any] = ()
) -> RunSummary:
    """Train ``config.models`` on the folds (all, or ``config.fold``) and write the run folder.

    With ``config.resume``, finished folds (``DONE`` present) are skipped and unfinished ones are
    deleted and redone; the manifest, folds file, profile and seed must match the run's run.json.
    ``extra_callbacks`` are keras callbacks added to every phase (tests use one to simulate a kill).
    """
    reporter = reporter or Reporter()
    if config.profile not in PROFILES:
        raise TrainError(f"unknown profile {config.profile!r}; choose from {', '.join(PROFILES)}")
    if config.weights not in WEIGHT_CHOICES:
        raise TrainError(f"unknown --weights {config.weights!r}; choose from {', '.join(WEIGHT_CHOICES)}")
    profile = PROFILES[config.profile]
    if config.weights == "pretrained":
        _require_pretrained(config.models)
    started = time.perf_counter()
    manifest, folds_doc, _document = _prepare_run(config, profile)
    out = Path(config.out)
    folds = [config.fold] if config.fold is not None else list(range(int(folds_doc["k"])))
    jobs = [(m, f) for m in config.models for f in folds if not is_fold_done(out, m, f)]
    summary = RunSummary(out=out, skipped=[(m, f) for m in config.models for f in folds if is_fold_done(out, m, f)])
    reporter.run_started(len(jobs), len(summary.skipped))
    if not jobs:
        summary.seconds = time.perf_counter() - started
        return summary
    _configure_device()
    from painxai.paths import home

    cache_dir = Path(config.cache_dir) if config.cache_dir is not None else home() / "cache"
    # One pool size per profile, whichever models this call trains: augmented samples are resized from
    # the pool, so a model's training data (and accuracy) must not depend on the other models in the call.
    pool_size = max(input_size(profile, m) for m in MODEL_NAMES)
    pool_started = time.perf_counter()
    pool = build_pool(
        manifest,
        pool_size,
        training_subjects(folds_doc, sorted({f for _, f in jobs})),
        profile.augment_per_image,
        config.seed,
        cache_dir,
    )
    pool_seconds = time.perf_counter() - pool_started
    reporter.message(
        f"{pool.n_original} images ({_crop_text(pool.crop_sources)}) + {len(pool.images) - pool.n_original} "
        f"augmented samples at {pool_size} px in {pool_seconds:.1f} s"
    )
    model_records: dict[str, dict] = {}
    for name in config.models:
        model_jobs = [f for m, f in jobs if m == name]
        if not model_jobs:
            continue
        data, described = prepare_model(
            name, profile, pool, manifest, out, config.weights, config.seed, reporter, cache_dir
        )
        model_records[name] = {
            "weights": described,
            "input_size": data.size,
            "feature_seconds": round(data.feature_seconds, 3),
            "protocol": _protocol_text(name, profile),
            "cached_feature_dtype": profile.feature_dtype,
        }
        _update_run_json(out, lambda doc, n=name: doc["model_settings"].__setitem__(n, model_records[n]))
        for fold in model_jobs:
            folder = fold_dir(out, name, fold)
            if folder.exists():
                shutil.rmtree(folder)  # an unfinished fold is redone from scratch
            reporter.fold_started(name, fold, _max_epochs(name, profile))
            fold_started = time.perf_counter()
            indices = fold_indices(pool, folds_doc, fold, profile.validation_fraction, config.seed, manifest)
            rows, probabilities, epochs = train_fold(
                data, profile, pool, indices, fold, config.seed, reporter, extra_callbacks
            )
            metrics = _metrics(
                pool.labels[indices.test],
                probabilities,
                epochs,
                seconds=round(time.perf_counter() - fold_started, 3),
                n_train=len(trained_rows(name, profile, pool, indices).train),
                n_validation=len(indices.validation),
                n_test=len(indices.test),
                validation_subjects=indices.validation_subjects,
                test_subjects=indices.test_subjects,
            )
            write_fold(out, data, fold, manifest, pool, indices, rows, probabilities, metrics)
            summary.trained[(name, fold)] = metrics
            reporter.fold_done(name, fold, metrics)
        del data
    summary.seconds = time.perf_counter() - started

    def record_timings(doc: dict) -> None:
        doc["timings"]["last_invocation"] = {
            "seconds": round(summary.seconds, 3),
            "pool_seconds": round(pool_seconds, 3),
            "folds_trained": len(summary.trained),
        }
        doc["data"] = {
            "pool_size_px": pool_size,
            "crop_sources": pool.crop_sources,
            "augmented_samples": len(pool.images) - pool.n_original,
            "augment_report": pool.augment_report,
        }

    _update_run_json(out, record_timings)
    return summary


def _crop_text(sources: dict[str, int]) -> str:
    return ", ".join(f"{count} faces from {source}" for source, count in sources.items() if count)


def _max_epochs(name: str, profile: Profile) -> int | None:
    """Epoch cap over all phases of one fold, or None when patience alone stops training."""
    from painxai.models import SPECS

    if SPECS[name].phase2_cut_layer is None:
        return profile.ncnn_max_epochs
    caps = (profile.max_epochs_head, profile.max_epochs_finetune)
    return None if None in caps else sum(caps)


def _protocol_text(name: str, profile: Profile) -> str:
    """The protocol of ``name`` under ``profile`` in words, for run.json."""
    from painxai.models import SPECS

    spec = SPECS[name]
    if spec.phase2_cut_layer is None:
        return (
            f"end to end, RMSprop lr {profile.ncnn_lr:g}, batch {profile.ncnn_batch_size}, patience "
            f"{profile.ncnn_patience}, epoch cap {profile.ncnn_max_epochs}"
        )
    head = (
        "no head-only phase"
        if profile.max_epochs_head == 0
        else f"phase 1 head only (base frozen), Adam lr {profile.lr_head:g}, patience {profile.patience_head}, "
        f"epoch cap {profile.max_epochs_head}"
    )
    finetune = (
        "no fine-tuning phase"
        if profile.max_epochs_finetune == 0
        else f"phase 2 head + {len(spec.finetune_layers)} Table-1 layers ({spec.finetune_layers[0]}.."
        f"{spec.finetune_layers[-1]}), BatchNorm in inference mode, Adam lr {profile.lr_finetune:g}, patience "
        f"{profile.patience_finetune}, epoch cap {profile.max_epochs_finetune}"
    )
    return f"{head}; {finetune}; batch {profile.batch_size}"
