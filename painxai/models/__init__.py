"""The CNNs of the study, one module per architecture, collected by a registry; builders, preprocessing and
pretrained weights.

>>> from painxai.models import SPECS, build, preprocess, prob_pain
>>> model = build("vgg16", input_shape=(64, 64, 3), weights=None)          # doctest: +SKIP
>>> prob_pain("vgg16", model.predict(preprocess("vgg16", faces_uint8)))    # doctest: +SKIP

Importing this package registers Table 1's five models, in its order (``registry.model_names()``), and
does not import TensorFlow; ``build`` does. A sixth model is one module that declares its ``ModelSpec``,
its base builder and its preprocessing and registers them (``register_model``), plus an import here.
"""

# Table 1's order is the registration order: these imports register the models.
from painxai.models import vgg16, resnet50, senet50, inception_v3, ncnn  # noqa: F401, I001  (order matters)
from painxai.models.base_weights import (
    WeightsFileError,
    WeightsMissingError,
    WeightsStatus,
    load_legacy_weights,
    read_legacy_weights,
    weights_status,
)
from painxai.models.install import fetch_weights, import_weights
from painxai.models.networks import (
    PRETRAINED,
    build,
    check_input_shape,
    default_input_shape,
    preprocess,
    prob_pain,
    set_trainable_phase,
    spec_of,
    split_model,
    trainable_layer_names,
)
from painxai.models.registry import (
    SPECS,
    ModelEntry,
    get_entry,
    get_spec,
    model_names,
    register_model,
    register_preprocessing,
    unregister_model,
    unregister_preprocessing,
)
from painxai.models.specs import ModelSpec

__all__ = [
    "PRETRAINED",
    "SPECS",
    "ModelEntry",
    "ModelSpec",
    "WeightsFileError",
    "WeightsMissingError",
    "WeightsStatus",
    "build",
    "check_input_shape",
    "default_input_shape",
    "fetch_weights",
    "get_entry",
    "get_spec",
    "import_weights",
    "load_legacy_weights",
    "model_names",
    "preprocess",
    "prob_pain",
    "read_legacy_weights",
    "register_model",
    "register_preprocessing",
    "set_trainable_phase",
    "spec_of",
    "split_model",
    "trainable_layer_names",
    "unregister_model",
    "unregister_preprocessing",
    "weights_status",
]
