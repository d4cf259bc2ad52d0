"""VGG16 with VGGFace weights (Table 1's first row): its spec, its base and the VGGFace preprocessing.

- Fine-tuned in phase 2: the last 6 convs, conv4_1 ... conv5_3; the frozen trunk ends at ``pool3``.
- ``demo_input_size`` 64 is the smallest size at which the Grad-CAM layer conv5_3 is still 4x4, so CPU
  demo maps keep some spatial meaning; ``min_input_size`` 32: pool5 becomes empty below.
- Preprocessing ``vggface1`` (keras-vggface ``preprocess_input`` version 1): RGB -> BGR, then subtract the
  per-channel means of the VGGFace training faces, no scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.models.base_weights import VGGFACE_RELEASE_URL, load_base_file
from painxai.models.preprocessing import bgr_minus_mean
from painxai.models.registry import register_model, register_preprocessing
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

#: Per-channel means in **BGR** order, in 0-255 pixel units, as published with the VGGFace weights.
VGGFACE1_BGR_MEAN = (93.5940, 104.7624, 129.1863)

SPEC = ModelSpec(
    name="vgg16",
    title="VGG16 (VGGFace)",
    base_weights="VGGFace",
    weights_file="rcmalli_vggface_tf_notop_vgg16.h5",
    weights_url=VGGFACE_RELEASE_URL + "rcmalli_vggface_tf_notop_vgg16.h5",
    paper_input_size=224,
    demo_input_size=64,
    min_input_size=32,
    preprocessing="vggface1",
    head=(512, 512),
    head_dropout=0.5,
    output="softmax2",
    last_conv_layer="conv5_3",
    finetune_layers=("conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"),
    finetune_companions=(),
    phase2_cut_layer="pool3",
    total_params=27_823_938,
    paper_table2={"accuracy": (86.2, 7), "f1": (87.7, 6), "auc": (85.4, 8), "epochs": (34, 7)},
    cpu_seconds_per_sample=(0.0025, 0.110),
)


def vggface1(pixels: np.ndarray) -> np.ndarray:
    """RGB float pixels -> BGR minus the VGGFace means (0-255 units)."""
    return bgr_minus_mean(pixels, VGGFACE1_BGR_MEAN)


def vgg16_base(image: KerasTensor, weights_file: Path | None = None) -> KerasTensor:
    """VGGFace VGG16 convolutional base: 13 3x3 ReLU convs with bias in 5 blocks, each closed by a 2x2 max-pool.

    ``image``: KerasTensor ``(None, H, W, 3)``. Returns ``pool5``: ``(None, H//32, W//32, 512)``.
    ``weights_file``: a keras-vggface notop file, loaded strictly (``base_weights.load_legacy_weights``).
    """
    from keras import layers

    x = image
    for block, (filters, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        for index in range(1, convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}_{index}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    return load_base_file(image, x, weights_file, SPEC.name)


register_preprocessing(SPEC.preprocessing, vggface1)
register_model(SPEC, vgg16_base)
