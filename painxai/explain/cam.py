"""Class activation maps: one base class, each method a short subclass (the layout of pytorch-grad-cam).

Every map is computed at a convolutional layer of a Keras model that ends with a ``Dense(name="logits")``
layer (then ``Activation(name="prob")``), as every model of :mod:`painxai.models` does. The class score
is taken *before* the softmax/sigmoid (docs/PROTOCOL.md#grad-cam), through a :class:`ClassTarget`.

Maps are raw: ReLU'd, not normalised, upsampled bilinearly (half-pixel centres, like ``cv2.resize``)
to the image size, float32 (N, H, W). Their unit is "score units per activation", so the maps of one
model are comparable across images, and :mod:`painxai.explain.display` offers one shared scale
across models.

For speed (a ``tf.function`` is 3-10x faster than eager, measured on 2 CPU cores) one compiled function per
(model, layer) is built on first use and cached for as long as the model lives. TensorFlow is imported
inside the functions, so the method registry (:mod:`painxai.explain.methods`) can list these classes
without loading it.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from painxai.errors import RequestError
from painxai.explain.base import ExplanationMethod, MapResult, check_images
from painxai.labels import CLASSES, PAIN

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

LOGITS_LAYER = "logits"


class ClassTarget:
    """The class a map explains, as a linear read-out of the logits layer.

    For a two-unit softmax model (class 1 = pain) the score of class c is ``logits[:, c]``; for a
    one-unit sigmoid model it is ``+logit`` for pain and ``-logit`` for no pain (the log-odds of the
    class). Both are a dot product of the logits with a weight vector, so one compiled gradient
    function serves every target.
    """

    def __init__(self, label: str) -> None:
        if label not in CLASSES:
            raise RequestError(f"unknown target {label!r}: expected one of {', '.join(CLASSES)}")
        self.label = label

    def __repr__(self) -> str:
        return f"ClassTarget({self.label!r})"

    def logit_weights(self, units: int) -> np.ndarray:
        """The weights w (units,) float32 such that the class score is ``logits @ w``."""
        if units == 2:
            return np.eye(len(CLASSES), dtype=np.float32)[CLASSES.index(self.label)]
        if units == 1:
            return np.array([1.0 if self.label == PAIN else -1.0], dtype=np.float32)
        raise ValueError(f"the logits layer has {units} units; expected 2 (softmax) or 1 (sigmoid)")

    def probability(self, logits: np.ndarray) -> np.ndarray:
        """The probability of this class from logits (N, units): softmax for 2 units, sigmoid for 1; (N,)."""
        return prob_pain_from_logits(logits) if self.label == PAIN else 1.0 - prob_pain_from_logits(logits)


def prob_pain_from_logits(logits: np.ndarray) -> np.ndarray:
    """The pain probability (N,) float32 from logits (N, 2) (softmax, class 1) or (N, 1) (sigmoid)."""
    from scipy.special import expit  # no overflow warning for large logits, unlike 1 / (1 + exp(-x))

    logits = np.asarray(logits, dtype=np.float64)
    if logits.shape[-1] == 2:
        return expit(logits[:, 1] - logits[:, 0]).astype(np.float32)
    if logits.shape[-1] == 1:
        return expit(logits[:, 0]).astype(np.float32)
    raise ValueError(f"logits of shape {logits.shape}: expected (N, 2) or (N, 1)")


def as_target(target: str | ClassTarget) -> ClassTarget:
    """Accept a label ("pain" | "nopain") or a :class:`ClassTarget`."""
    return target if isinstance(target, ClassTarget) else ClassTarget(target)


def default_layer(model: keras.Model) -> str:
    """The layer to explain: ``SPECS[name].explained_layer`` for registry models, else the last Conv2D.

    The registry knows better than "the last Conv2D" (inception_v3's last conv block is the
    concatenation ``mixed10``), and a fold tail keeps its model's name.
    """
    from painxai.models import SPECS

    spec = SPECS.get(model.name)
    return spec.explained_layer if spec is not None else last_conv_layer(model)


def last_conv_layer(model: keras.Model) -> str:
    """The name of the last 2-D convolution of ``model``."""
    import keras

    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model {model.name!r} has no Conv2D layer; name the layer to explain")
    return convs[-1]


class _CamGraph:
    """Compiled functions of one (model, layer): activations + gradients of a linear logit score, and logits."""

    def __init__(self, model: keras.Model, layer: str) -> None:
        import keras
        import tensorflow as tf

        activations = layer_output(model, layer)
        logits = layer_output(model, LOGITS_LAYER)
        inputs = model.inputs[0]
        self.units = int(logits.shape[-1])
        graph = keras.Model(inputs, [activations, logits], name=f"{model.name}_cam_{layer}")
        signature = tf.TensorSpec((None, *inputs.shape[1:]), tf.float32)

        @tf.function(input_signature=[signature, tf.TensorSpec((self.units,), tf.float32)])
        def gradients(batch: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            # The tape records the graph through its (watched) weights, which is what links ``out`` to
            # ``acts``; only d score / d acts is asked for, so no weight gradient is computed.
            with tf.GradientTape() as tape:
                acts, out = graph(batch, training=False)
                score = tf.linalg.matvec(out, weights)
            # Images are independent in inference mode, so the gradient of the batch sum is per image.
            return acts, tape.gradient(score, acts), out

        @tf.function(input_signature=[signature])
        def activations_and_logits(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return graph(batch, training=False)

        self.gradients = gradients
        self.activations_and_logits = activations_and_logits


def layer_output(model: keras.Model, name: str) -> keras.KerasTensor:
    """The symbolic output of layer ``name`` *within* ``model``'s own graph.

    ``layer.output`` is the output of the layer's first call; a fold tail reuses the layers of a
    full model on a new input, so its tensors are the later calls' outputs. Keras keeps the node
    keys of a functional model in ``_nodes`` (private, but stable since Keras 3.0).
    """
    from keras.src.ops.function import make_node_key

    try:
        layer = model.get_layer(name)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer {name!r}") from None
    for index, node in enumerate(layer._inbound_nodes):
        if make_node_key(layer, index) in model._nodes:
            return node.output_tensors[0]
    raise ValueError(f"layer {name!r} is not part of model {model.name!r}'s graph")


_GRAPHS: weakref.WeakKeyDictionary[keras.Model, dict[str, _CamGraph]] = weakref.WeakKeyDictionary()


def cam_graph(model: keras.Model, layer: str) -> _CamGraph:
    """The cached compiled functions of (model, layer), built on first use."""
    per_model = _GRAPHS.setdefault(model, {})
    if layer not in per_model:
        per_model[layer] = _CamGraph(model, layer)
    return per_model[layer]


_FORWARDS: weakref.WeakKeyDictionary[keras.Model, tf.types.experimental.PolymorphicFunction] = (
    weakref.WeakKeyDictionary()
)


Referent = TypeVar("Referent")


def alive(ref: weakref.ref[Referent]) -> Referent:
    """The object behind a weak reference that a cached compiled function holds; whoever owns the function keeps
    the object alive while the function can still run, so a dead reference is a programming error."""
    value = ref()
    if value is None:
        raise RuntimeError("a cached compiled function outlived the model it computes")
    return value


def forward(model: keras.Model, batch: np.ndarray) -> np.ndarray:
    """``model(batch)`` in inference mode through a cached compiled function; batch (N, ...) float32."""
    import tensorflow as tf

    function = _FORWARDS.get(model)
    if function is None:
        signature = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        # A weak reference, or the cached function would keep its own key (the model) alive forever.
        model_ref = weakref.ref(model)
        function = tf.function(lambda inputs: alive(model_ref)(inputs, training=False), input_signature=[signature])
        _FORWARDS[model] = function
    return function(np.asarray(batch, dtype=np.float32)).numpy()


class BaseCAM(ExplanationMethod):
    """A class activation map method: ``map = ReLU(sum_k w_k A_k)`` with per-method channel weights.

    ``model`` must have the layer ``layer`` (default: :func:`default_layer`) and a "logits" layer. When
    ``trunk`` is given, ``model`` is the tail of a split network: it takes ``trunk``'s output, and
    images go through ``trunk`` first (or callers pass the trunk features they computed once).
    Inputs are *preprocessed* float32 images (N, H, W, 3); :func:`gradcam` takes uint8 crops.
    A ``fusable`` subclass computes its channel weights in :meth:`weights_from_gradients` (activations and
    gradients only), which the fused fold ensemble calls too; the others override :meth:`channel_weights`.
    """

    level = "layer"
    uses_gradients: ClassVar[bool] = True

    def __init__(self, model: keras.Model, layer: str | None = None, trunk: keras.Model | None = None) -> None:
        super().__init__(model, layer, trunk)
        self.layer = layer or default_layer(model)
        self.graph = cam_graph(model, self.layer)

    def compute(
        self, images: np.ndarray, target: str | ClassTarget = PAIN, features: np.ndarray | None = None
    ) -> MapResult:
        """Maps and probabilities for preprocessed images (N, H, W, 3) float32.

        ``features``: the trunk's output for these images when the caller already has it (the fold
        ensemble computes it once for all folds); ignored without a trunk.
        """
        images = check_images(images)
        target = as_target(target)
        if features is None:
            features = self._features(images)
        if self.uses_gradients:
            weights = target.logit_weights(self.graph.units)
            acts, grads, logits = (t.numpy() for t in self.graph.gradients(features, weights))
        else:
            acts, logits = (t.numpy() for t in self.graph.activations_and_logits(features))
            grads = None
        channel_weights = self.channel_weights(images, acts, grads, target)
        low_res = np.maximum(np.einsum("nhwc,nc->nhw", acts, channel_weights), 0.0).astype(np.float32)
        return MapResult(upsample(low_res, images.shape[1:3]), low_res, prob_pain_from_logits(logits))

    def _features(self, images: np.ndarray) -> np.ndarray:
        """What ``model`` takes: the images themselves, or the trunk's output for them."""
        return images if self.trunk is None else forward(self.trunk, images)

    def channel_weights(
        self, images: np.ndarray, acts: np.ndarray, grads: np.ndarray | None, target: ClassTarget
    ) -> np.ndarray:
        """The weight (N, C) of each activation channel; acts and grads are (N, h, w, C)."""
        if grads is None:
            raise ValueError(f"{type(self).__name__} needs gradients")
        return self.weights_from_gradients(acts, grads)

    @staticmethod
    def weights_from_gradients(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """Channel weights (N, C) from activations and gradients (N, h, w, C) alone (``fusable`` methods)."""
        raise NotImplementedError


class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al. 2017): w_k = spatial mean of d score / d A_k."""

    name = "gradcam"
    label = "Grad-CAM"
    fusable = True

    @staticmethod
    def weights_from_gradients(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
        return grads.mean(axis=(1, 2))


class CounterfactualGradCAM(BaseCAM):
    """Counterfactual Grad-CAM: the negated Grad-CAM weights, i.e. what speaks *against* the class."""

    name = "counterfactual"
    label = "Counterfactual Grad-CAM (what speaks against the class)"
    fusable = True

    @staticmethod
    def weights_from_gradients(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
        return -grads.mean(axis=(1, 2))


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018), closed form of the paper's eq. 19.

    alpha = g^2 / (2 g^2 + sum_ij(A) g^3), w_k = sum_ij alpha ReLU(g), with g = d score / d A.
    The paper differentiates exp(score); that only multiplies the whole map by exp(score), which we
    leave out so raw maps stay on the same scale as Grad-CAM's. (tf-keras-vis also renormalises the
    alphas to sum to 1 per channel, which the paper does not; its maps therefore differ from ours.)
    """

    name = "gradcampp"
    label = "Grad-CAM++"
    fusable = True

    @staticmethod
    def weights_from_gradients(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
        grads = grads.astype(np.float64)
        squared = grads**2
        denominator = 2.0 * squared + acts.sum(axis=(1, 2), keepdims=True) * squared * grads
        alphas = np.divide(squared, denominator, out=np.zeros_like(squared), where=denominator != 0)
        return (alphas * np.maximum(grads, 0.0)).sum(axis=(1, 2)).astype(np.float32)


class ScoreCAM(BaseCAM):
    """Score-CAM (Wang et al. 2020): w_k = class probability of the image masked by channel k.

    Each channel is upsampled to the image, scaled to [0, 1] and multiplied into the *preprocessed*
    image (so masked pixels become the preprocessing's zero: the dataset mean colour for the VGGFace
    models, mid grey for inception_v3, black for ncnn). Only the ``max_channels`` channels with the
    largest spatial standard deviation are used ("Faster Score-CAM", as in tf-keras-vis); the others
    get weight 0. That costs N x max_channels forward passes, batched by ``batch_size``.
    """

    name = "scorecam"
    label = "Score-CAM"
    uses_gradients = False

    def __init__(
        self,
        model: keras.Model,
        layer: str | None = None,
        trunk: keras.Model | None = None,
        max_channels: int = 32,
        batch_size: int = 32,
    ) -> None:
        super().__init__(model, layer, trunk)
        if max_channels < 1 or batch_size < 1:
            raise ValueError("max_channels and batch_size must be at least 1")
        self.max_channels = max_channels
        self.batch_size = batch_size

    def channel_weights(
        self, images: np.ndarray, acts: np.ndarray, grads: np.ndarray | None, target: ClassTarget
    ) -> np.ndarray:
        n, _, _, channels = acts.shape
        keep = min(self.max_channels, channels)
        chosen = np.argsort(-acts.std(axis=(1, 2)), axis=1, kind="stable")[:, :keep]  # (N, K)
        weights = np.zeros((n, channels), dtype=np.float32)
        for index in range(n):
            selected = np.moveaxis(acts[index][..., chosen[index]], -1, 0)  # (K, h, w)
            masks = upsample(selected, images.shape[1:3])
            low = masks.min(axis=(1, 2), keepdims=True)
            high = masks.max(axis=(1, 2), keepdims=True)
            masks = (masks - low) / np.maximum(high - low, 1e-7)
            masked = images[index][None] * masks[..., None]  # (K, H, W, 3)
            weights[index, chosen[index]] = target.probability(self._logits(masked))
        return weights

    def _logits(self, images: np.ndarray) -> np.ndarray:
        """Logits (M, units) of preprocessed images, through the trunk when there is one, in batches."""
        chunks = []
        for start in range(0, len(images), self.batch_size):
            features = self._features(images[start : start + self.batch_size])
            chunks.append(self.graph.activations_and_logits(features)[1].numpy())
        return np.concatenate(chunks)


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (half-pixel centres) of maps (N, h, w) to (N, *size) float32."""
    import tensorflow as tf

    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape[1:] == tuple(size):
        return maps
    resized = tf.image.resize(maps[..., None], size, method="bilinear", antialias=False)
    return resized.numpy()[..., 0]


def check_crops(images: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Validate RGB uint8 crops (N, H, W, 3) (a single (H, W, 3) crop becomes N = 1) at ``size`` (H, W)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 crops (N, H, W, 3); got {images.dtype} {images.shape}")
    if size is not None and tuple(images.shape[1:3]) != tuple(size):
        raise ValueError(f"crops are {images.shape[1]}x{images.shape[2]} but the model takes {size[0]}x{size[1]}")
    return images


def explain_model(
    model: keras.Model, images: np.ndarray, method: str = "gradcam", target: str | ClassTarget = PAIN,
    layer: str | None = None,
) -> MapResult:
    """Maps (N, H, W) and pain probabilities (N,) of a model from :func:`painxai.models.build`, by any method
    of :data:`painxai.explain.methods.METHODS`.

    images: RGB uint8 crops (N, H, W, 3) at the model's input size; they are preprocessed here
    with ``preprocess(model.name, images)``.
    """
    from painxai.explain.methods import method_class
    from painxai.models import preprocess

    images = check_crops(images, tuple(model.inputs[0].shape[1:3]))
    return method_class(method)(model, layer).compute(preprocess(model.name, images), target)


def gradcam(
    model: keras.Model, images: np.ndarray, target: str = PAIN, layer: str | None = None,
    counterfactual: bool = False,
) -> np.ndarray:
    """Raw Grad-CAM maps (N, H, W) float32 at the model input size (docs/PROTOCOL.md#grad-cam).

    model: what :func:`painxai.models.build` returns. images: RGB uint8 crops (N, H, W, 3) at the
    model's input size. target: "pain" | "nopain". layer: default the model's last conv layer.
    counterfactual: negate the gradients (what speaks against the target).
    """
    method = "counterfactual" if counterfactual else "gradcam"
    return explain_model(model, images, method, target, layer).maps
