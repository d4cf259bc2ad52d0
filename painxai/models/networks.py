"""Building a registered model, splitting it at the phase-2 cut, and reading its outputs.

Every model takes **already preprocessed** float32 images ``(N, H, W, 3)`` (``preprocess``) and ends in
``Dense(n, name="logits")`` followed by ``Activation(softmax|sigmoid, name="prob")``, so Grad-CAM can
read the score before the softmax by layer name. The model is named after its registry name, so
``spec_of(model)`` finds its facts. The base under the head is the registry entry's builder
(:mod:`painxai.models.registry`); nothing here knows a model by its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.errors import RequestError
from painxai.models.base_weights import pretrained_file
from painxai.models.preprocessing import preprocess_mode
from painxai.models.registry import get_entry, get_spec
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    import keras
    from keras import KerasTensor

#: ``weights`` value that asks for the base weights the paper used.
PRETRAINED = "pretrained"
#: Suffix of Keras 3 weight files of a whole model (our trained artifacts); other files are base files.
KERAS_WEIGHTS_SUFFIX = ".weights.h5"


def preprocess(name: str, images: np.ndarray) -> np.ndarray:
    """Turn RGB uint8 images ``(N, H, W, 3)`` into model ``name``'s float32 input ``(N, H, W, 3)``.

    The function is the one registered under ``SPECS[name].preprocessing`` (each architecture's module
    says what it does). Resizing is the caller's job (``SPECS[name].*_input_size``). A run's folds are
    fed with the preprocessing its run.json records: ``FoldEnsemble.preprocess``.
    """
    return preprocess_mode(get_spec(name).preprocessing, images)


def prob_pain(name: str, model_outputs: np.ndarray) -> np.ndarray:
    """Pain probability ``(N,)`` in [0, 1] from the ``prob`` output of model ``name``.

    ``model_outputs``: ``(N, 2)`` softmax (column 1 = pain) or ``(N, 1)`` sigmoid (P(pain)).
    """
    spec = get_spec(name)
    outputs = np.asarray(model_outputs)
    if outputs.ndim != 2 or outputs.shape[1] != spec.n_outputs:
        raise ValueError(f"{name} outputs have shape (N, {spec.n_outputs}); got {outputs.shape}")
    return outputs[:, spec.pain_index].astype(np.float32)


def spec_of(model: keras.Model) -> ModelSpec:
    """The spec of a model returned by ``build`` (found by the model's name)."""
    return get_spec(model.name)


def default_input_shape(name: str, size: str = "paper") -> tuple[int, int, int]:
    """Input shape ``(H, W, 3)`` of model ``name`` at its ``"paper"`` or ``"demo"`` size (pixels)."""
    spec = get_spec(name)
    if size not in ("paper", "demo"):
        raise RequestError(f"size must be 'paper' or 'demo', got {size!r}")
    side = spec.paper_input_size if size == "paper" else spec.demo_input_size
    return side, side, 3


def check_input_shape(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Validate ``input_shape`` ``(H, W, 3)`` for model ``name``; return it as a tuple of ints."""
    spec = get_spec(name)
    shape = tuple(int(value) for value in input_shape)
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {tuple(input_shape)}")
    height, width, _ = shape
    if min(height, width) < spec.min_input_size:
        raise ValueError(f"{name} needs inputs of at least {spec.min_input_size}x{spec.min_input_size} pixels, "
                         f"got {height}x{width}")
    side_problem = get_entry(name).side_problem
    problems = [(side, side_problem(side)) for side in dict.fromkeys((height, width))] if side_problem else []
    for side, problem in problems:
        if problem is not None:
            raise ValueError(f"{name} cannot take a side of {side} px: {problem}")
    return height, width, 3


def build(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    weights: str | Path | None = PRETRAINED,
    seed: int = 0,
) -> keras.Model:
    """Build model ``name`` of Table 1, named ``name``.

    ``input_shape``: ``(H, W, 3)``, default the paper's size. ``weights``: ``"pretrained"`` loads the base
    weights the paper used from ``painxai.paths.weights_dir()`` (InceptionV3 also from Keras's cache) and
    raises ``WeightsMissingError`` saying how to get them; a model without a pretrained base (N-CNN) is
    initialised randomly. ``None``: random initialisation only. A path: a Keras ``*.weights.h5`` file of the
    whole model (a trained artifact), or else an original base file, which the entry's base builder loads
    (keras-vggface notop / Keras InceptionV3 notop).
    New layers are initialised from ``seed`` (``keras.utils.set_random_seed``, which also seeds Python's
    and NumPy's global generators). Input: preprocessed float32 images; output ``prob`` ``(N, 2)`` or
    ``(N, 1)``.
    """
    import keras

    spec = get_spec(name)
    shape = check_input_shape(name, input_shape if input_shape is not None else default_input_shape(name))
    base_file, model_file = _weight_sources(spec, weights)
    keras.utils.set_random_seed(seed)
    image = keras.Input(shape, name="image")
    features = get_entry(name).base(image, base_file)
    model = keras.Model(image, _head(spec, features), name=spec.name)
    if model_file is not None:
        model.load_weights(model_file)
    return model


def _weight_sources(spec: ModelSpec, weights: str | Path | None) -> tuple[Path | None, Path | None]:
    """(base file to load, whole-model Keras weights file to load) for a ``build`` request."""
    if weights is None:
        return None, None
    if isinstance(weights, str) and weights == PRETRAINED:
        return (pretrained_file(spec) if spec.base_weights else None), None
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.name.endswith(KERAS_WEIGHTS_SUFFIX):
        return None, path
    if spec.base_weights is None:
        raise RequestError(f"{spec.name} has no pretrained base; give a whole-model *{KERAS_WEIGHTS_SUFFIX} file")
    return path, None


def _head(spec: ModelSpec, features: KerasTensor) -> KerasTensor:
    """Table-1 head on ``features``: [Flatten] -> (Dense ReLU -> Dropout) per unit count -> logits -> prob."""
    from keras import layers

    x = features
    if len(x.shape) > 2:  # VGG16's pool5 is flattened, as in keras-vggface's top
        x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate(spec.head, start=1):
        x = layers.Dense(units, activation="relu", name=f"head_dense{index}")(x)
        x = layers.Dropout(spec.head_dropout, name=f"head_dropout{index}")(x)
    logits = layers.Dense(spec.n_outputs, name="logits")(x)
    # float32 whatever the global policy: under mixed_float16 (GPU training) a float16 softmax rounds
    # probabilities to 3 digits and saturates at 1, and the loss and AUC would read those.
    activation = "softmax" if spec.output == "softmax2" else "sigmoid"
    return layers.Activation(activation, name="prob", dtype="float32")(logits)


def split_model(model: keras.Model, cut_layer: str) -> tuple[keras.Model, keras.Model]:
    """Split ``model`` at ``cut_layer`` into ``(trunk, tail)`` with ``tail(trunk(x)) == model(x)``.

    trunk: the model's input -> ``cut_layer``'s output; tail: that output -> the model's outputs. Both reuse
    the model's layer objects, so weights stay tied (training the tail trains the model). Fails with a
    clear error if some layer after the cut also reads a tensor from before it.
    """
    import keras

    try:
        cut = model.get_layer(cut_layer).output
    except ValueError:
        raise ValueError(f"{model.name} has no layer named {cut_layer!r}") from None
    trunk = keras.Model(model.input, cut, name=f"{model.name}_trunk")
    try:
        tail = keras.Model(cut, model.output, name=f"{model.name}_tail")
    except ValueError as error:
        raise ValueError(f"{model.name} cannot be split at {cut_layer!r}: not everything downstream flows through "
                         f"it ({error})") from None
    return trunk, tail


def trainable_layer_names(spec: ModelSpec, phase: int = 2, batchnorm: bool = False) -> tuple[str, ...]:
    """Names of the layers with weights trained in ``phase`` 1 (head only) or 2 (head + Table-1 convs).

    A model trained end to end (N-CNN): both phases give all its weighted layers.
    ``batchnorm``: phase 2 also trains ``spec.finetune_batchnorm``, the BN layers after the Table-1 convs
    (the profile's ``finetune_batchnorm == "train"``); otherwise no BN layer is among them (see ``specs``).
    """
    if phase not in (1, 2):
        raise ValueError(f"phase must be 1 or 2, got {phase}")
    if spec.trained_end_to_end:
        return spec.finetune_layers
    head = spec.head_layer_names()
    if phase == 1:
        return head
    return (*spec.finetune_layers, *spec.finetune_companions, *(spec.finetune_batchnorm if batchnorm else ()), *head)


def set_trainable_phase(model: keras.Model, phase: int, batchnorm: bool = False) -> tuple[str, ...]:
    """Make exactly ``trainable_layer_names(spec_of(model), phase, batchnorm)`` trainable; freeze every other layer.

    Frozen BatchNormalization layers run in inference mode (Keras 3); trainable ones run in training mode
    under ``fit`` (batch statistics, moving averages updated). Returns the trainable names.
    Recompile the model afterwards for the change to reach ``fit``.
    """
    names = trainable_layer_names(spec_of(model), phase, batchnorm)
    missing = sorted(set(names) - {layer.name for layer in model.layers})
    if missing:
        raise ValueError(f"{model.name} lacks the layers {missing}")
    model.trainable = True
    for layer in model.layers:
        layer.trainable = layer.name in names
    return names


