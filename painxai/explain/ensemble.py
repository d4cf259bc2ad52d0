"""Maps of a fold ensemble: the shared frozen trunk runs once, then every fold's tail explains after it.

All folds of a model start from the same initial weights and train only the layers after the
model's phase-2 cut, so the layers before the cut are identical across folds
(:class:`painxai.runs.reader.FoldEnsemble` keeps them once, as ``trunk``). The last conv layer lives in
the tails, so a fold's map needs only the trunk's output: one trunk pass serves all ten folds.

For the ``fusable`` methods (the gradient CAMs) the whole ensemble is one computation
(:class:`FusedEnsemble`): one compiled function runs the trunk, the F tails and a single backward pass,
traced once per ensemble instead of once per fold. The backward pass differentiates the *sum* of the F
folds' class scores: fold f's score depends only on its own tail's activations, so d(sum)/d(acts_f) is
exactly fold f's own gradient.
When the folds trained only layers after the explained one (the demo's heads), the activations there
are computed once too and each fold runs only its head, from its own copy of them. Every other method
(Score-CAM, and the input methods, which need the whole network from the pixels) goes fold by fold.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

import keras
import numpy as np
import tensorflow as tf

from painxai.explain.cam import (
    LOGITS_LAYER,
    BaseCAM,
    ClassTarget,
    alive,
    as_target,
    check_crops,
    forward,
    layer_output,
    prob_pain_from_logits,
    upsample,
)
from painxai.explain.methods import DEFAULT_METHOD, method_class
from painxai.labels import PAIN


class FoldEnsembleLike(Protocol):
    """What :func:`ensemble_explain` needs of :class:`painxai.runs.reader.FoldEnsemble`."""

    name: str
    folds: list[int]
    trunk: keras.Model | None
    tails: list[keras.Model]

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """RGB uint8 crops -> the folds' float32 input (the preprocessing run.json records)."""
        ...


@dataclass(frozen=True)
class EnsembleExplanation:
    """One model's fold maps. maps: (F, N, H, W) float32 raw; prob_pain: (F, N); folds: the F fold ids."""

    name: str
    folds: list[int]
    maps: np.ndarray
    prob_pain: np.ndarray

    def mean(self) -> np.ndarray:
        """The fold-mean map (N, H, W)."""
        return self.maps.mean(axis=0)

    def std(self) -> np.ndarray:
        """The pixel-wise standard deviation over folds (N, H, W) (population, ddof 0)."""
        return self.maps.std(axis=0)


def ensemble_explain(
    ensemble: FoldEnsembleLike,
    images: np.ndarray,
    method: str = DEFAULT_METHOD,
    target: str | ClassTarget = PAIN,
    layer: str | None = None,
    **method_options: Any,
) -> EnsembleExplanation:
    """Every fold's maps and pain probabilities for RGB uint8 crops (N, H, W, 3) at the model input size.

    layer: default ``SPECS[ensemble.name].explained_layer``; it must live in the tails (input methods
    ignore it). method_options: passed to the method's class (e.g. ``max_channels`` for Score-CAM,
    ``steps`` for Integrated Gradients). ``fusable`` methods run as one fused computation
    (:func:`fused_ensemble`); the result equals :func:`ensemble_explain_per_fold` (to float32 rounding).
    """
    if method_class(method).fusable and not method_options:
        images, layer, inputs = _prepare(ensemble, images, layer)
        return fused_ensemble(ensemble, layer).explain(inputs, method, target, images.shape[1:3])
    return ensemble_explain_per_fold(ensemble, images, method, target, layer, **method_options)


def ensemble_explain_per_fold(
    ensemble: FoldEnsembleLike,
    images: np.ndarray,
    method: str = DEFAULT_METHOD,
    target: str | ClassTarget = PAIN,
    layer: str | None = None,
    **method_options: Any,
) -> EnsembleExplanation:
    """:func:`ensemble_explain` one fold at a time (one compiled function per fold): the path of the methods
    that are not ``fusable``, and the reference the fused computation is tested and benchmarked against."""
    images, layer, inputs = _prepare(ensemble, images, layer)
    method_type = method_class(method)
    # An input method runs the whole network from the pixels: it has no use for the trunk's features.
    trunk = ensemble.trunk if method_type.level == "layer" else None
    features = None if trunk is None else forward(trunk, inputs)
    results = [
        method_type(tail, layer, trunk=ensemble.trunk, **method_options).compute(inputs, target, features)
        for tail in ensemble.tails
    ]
    return EnsembleExplanation(
        name=ensemble.name,
        folds=list(ensemble.folds),
        maps=np.stack([result.maps for result in results]),
        prob_pain=np.stack([result.prob_pain for result in results]),
    )


def _prepare(ensemble: FoldEnsembleLike, images: np.ndarray, layer: str | None) -> tuple[np.ndarray, str, np.ndarray]:
    """Checked uint8 crops (N, S, S, 3), the layer to explain, and the preprocessed float32 inputs."""
    from painxai.models import SPECS

    if not ensemble.tails:
        raise ValueError(f"the {ensemble.name} ensemble has no fold models")
    first = ensemble.trunk if ensemble.trunk is not None else ensemble.tails[0]
    images = check_crops(images, tuple(first.inputs[0].shape[1:3]))
    return images, layer or SPECS[ensemble.name].explained_layer, ensemble.preprocess(images)


class FusedEnsemble:
    """The trunk and the F fold tails of one ensemble as one compiled function, traced once.

    ``gradients(inputs, weights)`` takes preprocessed images (N, S, S, 3) float32 and the logit weights
    of a :class:`ClassTarget`; it returns the tails' activations at ``layer`` (F, N, h, w, C), d score /
    d activations (F, N, h, w, C) and logits (F, N, units). ``logits(inputs)`` skips the gradients.
    The models are held by weak references, so this cache never keeps an evicted ensemble alive.
    """

    def __init__(self, ensemble: FoldEnsembleLike, layer: str) -> None:
        self.name = ensemble.name
        self.folds = list(ensemble.folds)
        # Which row each tail is, and the trunk they share: a fold subset of this ensemble is served by it.
        self._rows = {id(tail): row for row, tail in enumerate(ensemble.tails)}
        self._trunk = None if ensemble.trunk is None else weakref.ref(ensemble.trunk)
        first = ensemble.trunk if ensemble.trunk is not None else ensemble.tails[0]
        signature = tf.TensorSpec((None, *first.inputs[0].shape[1:]), tf.float32)
        tails = ensemble.tails
        # When the folds differ only after ``layer`` (a run whose folds trained only their heads), its
        # activations are the same for every fold: computed once by ``lower`` (tail 0's layers up to it),
        # then each fold's ``upper`` part goes from there to its logits. Otherwise each fold runs its tail.
        lower = keras.Model(tails[0].inputs[0], layer_output(tails[0], layer))
        self.shared_activations = same_weights(lower, tails)
        lower = lower if self.shared_activations else None
        uppers = [
            keras.Model(layer_output(tail, layer), layer_output(tail, LOGITS_LAYER)) if lower is not None
            else keras.Model(tail.inputs[0], [layer_output(tail, layer), layer_output(tail, LOGITS_LAYER)])
            for tail in tails
        ]
        self.units = int(uppers[0].outputs[-1].shape[-1])
        trunk_ref = self._trunk
        lower_ref = None if lower is None else weakref.ref(lower)
        upper_refs = [weakref.ref(upper) for upper in uppers]
        self._parts = [lower, *uppers]  # alive as long as this object (the cache entry keyed by the ensemble)
        # One call at a time per ensemble (~0.1 s each): concurrent calls of one compiled function made
        # TensorFlow set up its kernels again for each (seconds each, and memory that stayed); sessions
        # asking for different models still run side by side.
        self._lock = threading.Lock()

        def features(batch: tf.Tensor) -> tf.Tensor:
            shared = batch if trunk_ref is None else alive(trunk_ref)(batch, training=False)
            return shared if lower_ref is None else alive(lower_ref)(shared, training=False)

        def activations_and_logits(shared: tf.Tensor, tape: tf.GradientTape | None) -> list[tuple[tf.Tensor, ...]]:
            if lower_ref is None:
                return [alive(ref)(shared, training=False) for ref in upper_refs]
            # One copy of the shared activations per fold, so that each fold's gradient is its own.
            copies = [tf.identity(shared) for _ in upper_refs]
            if tape is not None:
                for copy in copies:
                    tape.watch(copy)
            return [(copy, alive(ref)(copy, training=False)) for copy, ref in zip(copies, upper_refs, strict=True)]

        @tf.function(input_signature=[signature, tf.TensorSpec((self.units,), tf.float32)])
        def gradients(batch: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            shared = features(batch)  # outside the tape: no gradient flows into the frozen layers
            with tf.GradientTape() as tape:
                outputs = activations_and_logits(shared, tape)
                score = tf.add_n([tf.reduce_sum(tf.linalg.matvec(logits, weights)) for _, logits in outputs])
            acts = [a for a, _ in outputs]
            grads = tape.gradient(score, acts)
            return tf.stack(acts), tf.stack(grads), tf.stack([logits for _, logits in outputs])

        @tf.function(input_signature=[signature])
        def logits(batch: tf.Tensor) -> tf.Tensor:
            return tf.stack([logits for _, logits in activations_and_logits(features(batch), None)])

        self.gradients = gradients
        self.logits = logits

    def explain(
        self, inputs: np.ndarray, method: str, target: str | ClassTarget, size: tuple[int, int]
    ) -> EnsembleExplanation:
        """Maps (F, N, *size) and pain probabilities (F, N) of preprocessed ``inputs`` (N, S, S, 3)."""
        method_type = method_class(method)
        if not (issubclass(method_type, BaseCAM) and method_type.fusable):
            raise ValueError(f"the fused computation serves the fusable CAM methods, not {method!r}")
        target = as_target(target)
        weights = target.logit_weights(self.units)
        with self._lock:
            acts, grads, logits = (t.numpy() for t in self.gradients(np.asarray(inputs, np.float32), weights))
        # These methods' channel weights use only acts and grads (no instance state), exactly as per fold.
        maps, probs = [], []
        for fold_acts, fold_grads, fold_logits in zip(acts, grads, logits, strict=True):
            weights_nc = method_type.weights_from_gradients(fold_acts, fold_grads)
            low_res = np.maximum(np.einsum("nhwc,nc->nhw", fold_acts, weights_nc), 0.0).astype(np.float32)
            maps.append(upsample(low_res, size))
            probs.append(prob_pain_from_logits(fold_logits))
        return EnsembleExplanation(self.name, list(self.folds), np.stack(maps), np.stack(probs))

    def rows_of(self, ensemble: FoldEnsembleLike) -> list[int] | None:
        """The rows of ``ensemble``'s tails in this one, or None when it is not a fold subset of this one."""
        same_trunk = (ensemble.trunk is None) if self._trunk is None else (self._trunk() is ensemble.trunk)
        rows = [self._rows.get(id(tail)) for tail in ensemble.tails]
        known = [row for row in rows if row is not None]
        return known if same_trunk and len(known) == len(rows) else None

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Pain probabilities (F, N) float32 of preprocessed ``inputs`` (N, S, S, 3)."""
        with self._lock:
            logits = self.logits(np.asarray(inputs, np.float32)).numpy()
        return np.stack([prob_pain_from_logits(fold_logits) for fold_logits in logits])


def same_weights(lower: keras.Model, tails: list[keras.Model]) -> bool:
    """True when every tail has the same weights as ``lower`` (a part of the first tail) in each of its
    layers, so that ``lower``'s output is the same for every fold."""
    for part in lower.layers:
        if not part.weights:
            continue
        reference = None
        for tail in tails[1:]:
            other = tail.get_layer(part.name)
            if other is part:  # one layer object shared by the folds (see Run.ensemble)
                continue
            reference = part.get_weights() if reference is None else reference
            others = other.get_weights()
            if not all(np.array_equal(a, b) for a, b in zip(reference, others, strict=True)):
                return False
    return True


@dataclass(frozen=True)
class FusedSelection:
    """Some folds of a :class:`FusedEnsemble`: ``rows`` index its tails, ``folds`` are their fold ids.

    A photo of the run's own data is scored by the one fold that never saw its subject; running the whole
    ensemble's traced function and keeping that fold's row costs ~0.1 s, tracing a function for that one
    fold would cost seconds.
    """

    fused: FusedEnsemble
    rows: tuple[int, ...]
    folds: tuple[int, ...]

    def explain(
        self, inputs: np.ndarray, method: str, target: str | ClassTarget, size: tuple[int, int]
    ) -> EnsembleExplanation:
        """:meth:`FusedEnsemble.explain` for these folds: maps (F', N, *size), prob_pain (F', N)."""
        full = self.fused.explain(inputs, method, target, size)
        rows = list(self.rows)
        return EnsembleExplanation(full.name, list(self.folds), full.maps[rows], full.prob_pain[rows])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Pain probabilities (F', N) float32 of preprocessed ``inputs`` (N, S, S, 3) for these folds."""
        return self.fused.predict(inputs)[list(self.rows)]


# Each tail -> layer -> the fused ensemble that holds it (weak keys: an entry goes with its tail's model).
_FUSED: weakref.WeakKeyDictionary[keras.Model, dict[str, FusedEnsemble]] = weakref.WeakKeyDictionary()
_FUSED_LOCK = threading.Lock()


def fused_ensemble(ensemble: FoldEnsembleLike, layer: str | None = None) -> FusedSelection:
    """The :class:`FusedEnsemble` serving ``ensemble`` at ``layer`` (default: the model's last conv layer),
    restricted to its folds: a cached one whose tails include all of ``ensemble``'s (a fold subset of a
    loaded ensemble reuses its traced function), else a new one, cached for each of its tails."""
    from painxai.models import SPECS

    if not ensemble.tails:
        raise ValueError(f"the {ensemble.name} ensemble has no fold models")
    layer = layer or SPECS[ensemble.name].explained_layer
    with _FUSED_LOCK:  # building is quick (no tracing); the lock only keeps two sessions from building twice
        fused = _FUSED.get(ensemble.tails[0], {}).get(layer)
        rows = None if fused is None else fused.rows_of(ensemble)
        if fused is None or rows is None:
            fused = FusedEnsemble(ensemble, layer)
            for tail in ensemble.tails:
                _FUSED.setdefault(tail, {})[layer] = fused
            rows = list(range(len(ensemble.tails)))
    return FusedSelection(fused, tuple(rows), tuple(ensemble.folds))


def warm_up(ensemble: FoldEnsembleLike) -> None:
    """Trace and run the ensemble's fused function now (one blank image), so the first photo does not wait.

    It runs twice: in this thread, then in a new one. Measured on the demo run (2 cores): after a warm-up
    in one thread only, the first call from any other thread still took 1-4 s per model (0.1 s after),
    and the dashboard serves every photo from a new thread; the second, throwaway thread takes that cost.
    """
    fused = fused_ensemble(ensemble)
    first = ensemble.trunk if ensemble.trunk is not None else ensemble.tails[0]
    blank = np.zeros((1, *first.inputs[0].shape[1:]), np.float32)
    size = tuple(first.inputs[0].shape[1:3])

    def explain_blank() -> None:  # the whole path of a photo: the compiled function, then the upsampling
        fused.explain(blank, DEFAULT_METHOD, PAIN, size)

    explain_blank()
    other = threading.Thread(target=explain_blank, name="painxai-warm-up")
    other.start()
    other.join()


def ensemble_maps(
    ensemble: FoldEnsembleLike, images: np.ndarray, method: str = DEFAULT_METHOD, target: str | ClassTarget = PAIN
) -> np.ndarray:
    """The fold maps (F, N, H, W) float32 raw of :func:`ensemble_explain`."""
    return ensemble_explain(ensemble, images, method, target).maps
