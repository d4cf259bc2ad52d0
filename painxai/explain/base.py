"""What every explanation method is: one class declaring its name, label, level and whether it fuses.

In the spirit of Captum's ``attribute``: each method is one class with one call,
``Method(model, layer=None, trunk=None, **options).compute(images, target, features=None) -> MapResult``.
Its class attributes say what the rest of painxai needs to know without a name check:

- ``name``: the key of :data:`painxai.explain.methods.METHODS` (``painxai explain --method``);
- ``label``: its human name (the dashboard, the CLI's help, the audit's tables);
- ``level``: ``"layer"`` (a map made at a convolutional layer and upsampled: the CAMs of
  :mod:`painxai.explain.cam`) or ``"input"`` (an attribution on the input pixels: Integrated Gradients,
  RISE);
- ``fusable``: the channel weights depend only on the activations and gradients at the layer, so the F
  folds of an ensemble are one compiled computation (:class:`painxai.explain.ensemble.FusedEnsemble`);
  every other method goes fold by fold;
- ``audit_options``: the options the audit uses (cheaper than the defaults where the defaults would not
  fit the audit's time budget, docs/TRUST.md).

Inputs are *preprocessed* float32 images (N, H, W, 3). ``model`` ends with a ``Dense(name="logits")``
layer; when ``trunk`` is given, ``model`` is the tail of a split network and images go through ``trunk``
first. The class score is a linear read-out of the logits (:class:`painxai.explain.cam.ClassTarget`).

This module and the method modules import TensorFlow only inside functions, so the registry (and
``painxai explain --help``) stays light.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

if TYPE_CHECKING:
    import keras

    from painxai.explain.cam import ClassTarget

Level = Literal["layer", "input"]


@dataclass(frozen=True)
class MapResult:
    """Maps and the predictions they explain.

    maps: (N, H, W) float32 raw maps at the image size. low_res: (N, h, w) float32 at the method's own
    resolution (a layer method's layer; the input size for an input method). prob_pain: (N,) float32 pain
    probability of the unmodified inputs.
    """

    maps: np.ndarray
    low_res: np.ndarray
    prob_pain: np.ndarray


class ExplanationMethod:
    """The protocol every method class follows (see the module doc); subclasses set the class attributes."""

    name: ClassVar[str]
    label: ClassVar[str]
    level: ClassVar[Level]
    fusable: ClassVar[bool] = False
    audit_options: ClassVar[Mapping[str, int]] = {}

    model: keras.Model
    trunk: keras.Model | None

    def __init__(self, model: keras.Model, layer: str | None = None, trunk: keras.Model | None = None) -> None:
        self.model = model
        self.trunk = trunk

    def __call__(self, images: np.ndarray, target: str | ClassTarget = "pain") -> np.ndarray:
        """Raw maps (N, H, W) float32 for preprocessed images (N, H, W, 3)."""
        return self.compute(images, target).maps

    def compute(
        self, images: np.ndarray, target: str | ClassTarget = "pain", features: np.ndarray | None = None
    ) -> MapResult:
        """Maps and probabilities for preprocessed images (N, H, W, 3) float32; ``features``: the trunk's
        output for these images when the caller already has it (a layer method uses it; an input method,
        which needs the images themselves, ignores it)."""
        raise NotImplementedError


def check_images(images: np.ndarray) -> np.ndarray:
    """Preprocessed images as float32 (N, H, W, 3); ValueError for any other shape."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3); got shape {images.shape}")
    return images


class _InputGraph:
    """Compiled functions of one (trunk, model) from the preprocessed input to the logits: the logits, and
    the input gradient of a linear logit score. The trunk is held weakly (the fused ensemble's rule)."""

    def __init__(self, model: keras.Model, trunk: keras.Model | None) -> None:
        import keras
        import tensorflow as tf

        from painxai.explain.cam import LOGITS_LAYER, layer_output

        head = keras.Model(model.inputs[0], layer_output(model, LOGITS_LAYER), name=f"{model.name}_input_logits")
        first = trunk if trunk is not None else model
        self.units = int(head.outputs[0].shape[-1])
        self.trunk = None if trunk is None else weakref.ref(trunk)
        trunk_ref = self.trunk
        signature = tf.TensorSpec((None, *first.inputs[0].shape[1:]), tf.float32)

        def logits_of(batch: tf.Tensor) -> tf.Tensor:
            live_trunk = None if trunk_ref is None else trunk_ref()
            shared = batch if live_trunk is None else live_trunk(batch, training=False)
            return head(shared, training=False)

        @tf.function(input_signature=[signature, tf.TensorSpec((self.units,), tf.float32)])
        def gradients(batch: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                tape.watch(batch)
                out = logits_of(batch)
                score = tf.linalg.matvec(out, weights)
            # Images are independent in inference mode, so the gradient of the batch sum is per image.
            return tape.gradient(score, batch), out

        @tf.function(input_signature=[signature])
        def logits(batch: tf.Tensor) -> tf.Tensor:
            return logits_of(batch)

        self.head = head  # alive as long as this graph
        self.gradients = gradients
        self.logits = logits


_INPUT_GRAPHS: weakref.WeakKeyDictionary[keras.Model, _InputGraph] = weakref.WeakKeyDictionary()


def input_graph(model: keras.Model, trunk: keras.Model | None) -> _InputGraph:
    """The cached compiled functions from the input through ``trunk`` (or none) and ``model`` to the logits."""
    graph = _INPUT_GRAPHS.get(model)
    cached_trunk = None if graph is None or graph.trunk is None else graph.trunk()
    if graph is None or cached_trunk is not trunk:
        graph = _INPUT_GRAPHS[model] = _InputGraph(model, trunk)
    return graph


class InputMethod(ExplanationMethod):
    """An attribution on the input pixels, through the trunk and the model (``layer`` is not used).

    ``batch_size``: images (interpolants, masked copies) per pass of the model.
    """

    level = "input"

    def __init__(
        self, model: keras.Model, layer: str | None = None, trunk: keras.Model | None = None, batch_size: int = 32
    ) -> None:
        super().__init__(model, layer, trunk)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.graph = input_graph(model, trunk)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Logits (M, units) float32 of preprocessed images (M, H, W, 3), in batches of ``batch_size``."""
        chunks = [self.graph.logits(images[start : start + self.batch_size]).numpy()
                  for start in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.graph.units), np.float32)

    def input_gradients(self, images: np.ndarray, target: ClassTarget) -> np.ndarray:
        """d score / d input (M, H, W, 3) float32 of preprocessed images (M, H, W, 3), in batches."""
        weights = target.logit_weights(self.graph.units)
        chunks = [self.graph.gradients(images[start : start + self.batch_size], weights)[0].numpy()
                  for start in range(0, len(images), self.batch_size)]
        return np.concatenate(chunks)

    def compute(
        self, images: np.ndarray, target: str | ClassTarget = "pain", features: np.ndarray | None = None
    ) -> MapResult:
        from painxai.explain.cam import as_target, prob_pain_from_logits

        images = check_images(images)
        target = as_target(target)
        maps = np.zeros(images.shape[:3], np.float32)
        for index, image in enumerate(images):
            maps[index] = self.attribute(image, target)
        return MapResult(maps, maps, prob_pain_from_logits(self.logits(images)))

    def attribute(self, image: np.ndarray, target: ClassTarget) -> np.ndarray:
        """The map (H, W) of one preprocessed image (H, W, 3)."""
        raise NotImplementedError

