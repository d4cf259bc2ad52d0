"""The five CNNs of the study: one declarative table, builders, preprocessing and pretrained weights.

>>> from painxai.models import SPECS, build, preprocess, prob_pain
>>> model = build("vgg16", input_shape=(64, 64, 3), weights=None)          # doctest: +SKIP
>>> prob_pain("vgg16", model.predict(preprocess("vgg16", faces_uint8)))    # doctest: +SKIP

Importing this package does not import TensorFlow; ``build`` does.
"""

from painxai.models.install import fetch_weights, import_weights
from painxai.models.registry import (
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
from painxai.models.specs import SPECS, ModelSpec, get_spec
from painxai.models.weights import (
    WeightsFileError,
    WeightsMissingError,
    WeightsStatus,
    load_legacy_weights,
    read_legacy_weights,
    weights_status,
)

__all__ = [
    "PRETRAINED",
    "SPECS",
    "ModelSpec",
    "WeightsFileError",
    "WeightsMissingError",
    "WeightsStatus",
    "build",
    "check_input_shape",
    "default_input_shape",
    "fetch_weights",
    "get_spec",
    "import_weights",
    "load_legacy_weights",
    "preprocess",
    "prob_pain",
    "read_legacy_weights",
    "set_trainable_phase",
    "spec_of",
    "split_model",
    "trainable_layer_names",
    "weights_status",
]
