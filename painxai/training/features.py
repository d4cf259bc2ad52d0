"""Cached features: every fold of a model starts from the same initial weights, so the frozen layers'
output is computed once per image and model and shared by all folds.

Layers below ``phase2_cut_layer`` never train: their output ("cut features") is computed once per pool
image; phase 2 trains only the tail above the cut on those features. Phase 1 needs only the base's
output ("head features"), computed once from the cut features. ``<run>/<model>/initial.weights.h5``
holds the weights every fold starts from (written by the first job, reused by the others).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai.data.images import resize_images
from painxai.runs import layout
from painxai.runs.writer import save_model_weights
from painxai.training.fit import Reporter, compile_for_training, set_trainable
from painxai.training.pool import ImagePool, face_crops
from painxai.training.profiles import Profile, TrainError, input_size, trains_batchnorm


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


def model_images(
    pool: ImagePool, size: int, manifest: pd.DataFrame, cache_dir: Path | None, margin: float
) -> np.ndarray:
    """The pool at ``size`` px (P, size, size, 3) uint8: the originals cropped directly at ``size`` (as
    the dashboard and explanations crop them, so a fold model sees the same pixels there), the
    augmented samples resized from the pool."""
    if pool.size == size:
        return pool.images
    originals = face_crops(manifest, size, margin, cache_dir=cache_dir).images
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
    initial_file = layout.initial_weights(Path(out), name)
    model, described = build_initial(name, size, weights, seed, reporter)
    images = model_images(pool, size, manifest, cache_dir, profile.crop_margin)
    if initial_file.is_file():
        model.load_weights(initial_file)
    else:
        save_model_weights(model, initial_file)
    started = time.perf_counter()
    if spec.trained_end_to_end:
        cut = preprocess(name, images).astype(profile.feature_dtype)
        set_trainable(model, set(trainable_layer_names(spec)))
        compile_for_training(model, spec.output, keras.optimizers.RMSprop(profile.ncnn_lr))
        data = ModelData(name, size, model, model, None, _start_state(model), cut, None, 0.0)
        return data, described
    cut_layer = spec.phase2_cut_layer
    assert cut_layer is not None  # a model not trained end to end has its cut
    trunk, tail = split_model(model, cut_layer)
    run_trunk = tf.function(lambda x: trunk(x, training=False), autograph=False)
    cut = _predict_batches(lambda b: run_trunk(preprocess(name, b)), images, 64, profile.feature_dtype)
    head_cut = head_cut_layer(model)
    middle = keras.Model(model.get_layer(cut_layer).output, model.get_layer(head_cut).output)
    run_middle = tf.function(lambda x: middle(x, training=False), autograph=False)
    head_features = _predict_batches(lambda b: run_middle(b.astype("float32")), cut, 256, profile.feature_dtype)
    _base, head = split_model(model, head_cut)
    # Head layers train in both phases; the tail's Table-1 layers (and, when the profile says so, their
    # BatchNorm) only in phase 2, and the head model does not contain them, so one set of flags serves both
    # compiled views.
    set_trainable(tail, set(trainable_layer_names(spec, phase=2, batchnorm=trains_batchnorm(profile))))
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
