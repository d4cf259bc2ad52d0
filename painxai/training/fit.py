"""The fit loop: compiling a training view, tf.data pipelines over cached features, balanced class
weights, early stopping that restores the best epoch, and progress reporting (:class:`Reporter`).

Loss: cross-entropy weighted by balanced class weights (``n / (2 n_class)`` over the fold's training
images, augmented included); validation loss unweighted. XLA is switched on only when a GPU is present.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from painxai.training.pool import FoldIndices


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


def gpu_present() -> bool:
    """True when TensorFlow sees a GPU."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def patience_callback(patience: int) -> Any:
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


def reporting_callback(reporter: Reporter, model: str, fold: int, phase: str, rows: list[dict]) -> Any:
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

    # The loss is computed in float32 also under the mixed_float16 policy (GPU), on the float32 outputs.
    loss = (
        keras.losses.SparseCategoricalCrossentropy(dtype="float32")
        if output == "softmax2"
        else keras.losses.BinaryCrossentropy(dtype="float32")
    )
    metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy") if output == "softmax2" else (
        keras.metrics.BinaryAccuracy(name="accuracy")
    )
    model.compile(
        optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=gpu_present(),
        steps_per_execution=steps_per_execution,
    )


def fit(
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
        callbacks=[patience_callback(patience), *callbacks],
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
    )
    return len(history.history.get("loss", []))


def set_trainable(tail: Any, trainable: set[str]) -> None:
    """Freeze every tail layer except ``trainable`` (by name). Frozen BatchNorm layers run in
    inference mode in Keras 3, which keeps their statistics fixed; BatchNorm layers in ``trainable`` (the
    profile's ``finetune_batchnorm == "train"``) run in training mode under ``fit``."""
    for layer in tail.layers:
        layer.trainable = layer.name in trainable
