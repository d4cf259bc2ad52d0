"""InceptionV3 with ImageNet weights (Table 1's fourth row): its spec, its base and its [-1, 1] preprocessing.

- Fine-tuned in phase 2: the 18 convs of the last two Inception blocks (``mixed9``, ``mixed10``), i.e.
  Keras's ``conv2d_76`` ... ``conv2d_93``, and with the profile's say their BN layers
  ``batch_normalization_76`` ... ``_93``; the frozen trunk ends at ``mixed8``.
- ``demo_input_size`` 171 is the smallest size at which the Grad-CAM layer mixed10 is still 4x4 (at 75 it
  is 1x1); ``min_input_size`` 75: Keras refuses less.
- Preprocessing ``inception``: ``x / 127.5 - 1`` (Keras's InceptionV3 scaling to [-1, 1]).
- The base loads its pretrained file itself, through ``keras.applications`` (Keras's own layout and check).

The base comes from ``keras.applications``, with reproducible layer names.

``keras.applications`` leaves most InceptionV3 layers auto-named, and Keras numbers auto names with a
process-wide counter: the second InceptionV3 built in one process would have ``conv2d_94`` where the
first had ``conv2d``. The Grad-CAM target and the fine-tuned layers are addressed by name, so after
building we rename every auto-named layer to the name it gets in a fresh process (class prefix plus
its rank among layers of that class, in creation order). Names keras.applications sets itself
(``mixed0``..``mixed10``, ``mixed9_0``...) are kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from painxai.models.registry import register_model, register_preprocessing
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"

SPEC = ModelSpec(
    name="inception_v3",
    title="InceptionV3 (ImageNet)",
    base_weights="ImageNet",
    weights_file=INCEPTION_NOTOP_FILE,
    weights_url="https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/" + INCEPTION_NOTOP_FILE,
    paper_input_size=299,
    demo_input_size=171,
    min_input_size=75,
    preprocessing="inception",
    head=(512, 512),
    head_dropout=0.5,
    output="softmax2",
    last_conv_layer="mixed10",
    finetune_layers=tuple(f"conv2d_{index}" for index in range(76, 94)),
    finetune_companions=(),
    phase2_cut_layer="mixed8",
    total_params=23_115_554,
    finetune_batchnorm=tuple(f"batch_normalization_{index}" for index in range(76, 94)),
    paper_table2={"accuracy": (81.3, 5), "f1": (84.1, 4), "auc": (80.6, 6), "epochs": (47, 12)},
    cpu_seconds_per_sample=(0.0010, 0.0172),
)


def inception(pixels: np.ndarray) -> np.ndarray:
    """RGB float pixels (0-255) -> [-1, 1]."""
    return pixels / np.float32(127.5) - np.float32(1.0)


def inception_v3_base(image: KerasTensor, weights: str | Path | None = None) -> KerasTensor:
    """Build InceptionV3 without top, average-pooled, on ``image`` ``(None, H, W, 3)`` (H, W >= 75).

    ``weights``: ``None`` (random), ``"imagenet"`` (Keras's download/cache) or a path to Keras's notop HDF5
    file. Returns the pooled feature ``(None, 2048)``; the layers become part of the caller's model.
    """
    import keras

    base = keras.applications.InceptionV3(
        include_top=False, weights=weights if weights is None else str(weights), input_tensor=image, pooling="avg"
    )
    _canonical_names(base.layers)
    return base.output


def _canonical_names(layers: list[Any]) -> None:
    """Rename auto-named layers ``<prefix>_<n>`` to ``<prefix>``, ``<prefix>_1``, ... by creation rank.

    ``model.layers`` is in topological, not creation, order; the creation order is the order of the
    counter Keras appended to each auto name, so layers are ranked by that number within each prefix.
    """
    from keras.src.utils.naming import to_snake_case

    by_prefix: dict[str, list[tuple[int, Any]]] = {}
    for layer in layers:
        prefix = to_snake_case(type(layer).__name__)
        match = re.fullmatch(rf"{re.escape(prefix)}(?:_(\d+))?", layer.name)
        if match is None or prefix == "input_layer":
            continue
        by_prefix.setdefault(prefix, []).append((int(match.group(1) or 0), layer))
    for prefix, numbered in by_prefix.items():
        for rank, (_, layer) in enumerate(sorted(numbered, key=lambda item: item[0])):
            layer.name = prefix if rank == 0 else f"{prefix}_{rank}"


register_preprocessing(SPEC.preprocessing, inception)
register_model(SPEC, inception_v3_base)
