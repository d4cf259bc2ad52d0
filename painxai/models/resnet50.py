"""ResNet50 with VGGFace2 weights (Table 1's second row): its spec, its base and the VGGFace2 preprocessing.

- Fine-tuned in phase 2: the 9 convs of ``resnet.RESNET_FINETUNE``; the frozen trunk ends at ``conv4_6_relu``.
- ``demo_input_size`` 64 (a 2x2 Grad-CAM map): with a random base its frozen features separated the
  twin's classes better there than at 112 (the demo's 10 folds: accuracy 0.83 against 0.77), at half the
  cost. ``min_input_size`` 32: it builds down to 8 px, but below its total stride the last block is a
  single pixel from less than one stride of image.
- Preprocessing ``vggface2`` (keras-vggface ``preprocess_input`` version 2, shared with SENet50): RGB -> BGR,
  then subtract the per-channel means of the VGGFace2 training faces, no scaling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.models.base_weights import VGGFACE_RELEASE_URL, load_base_file
from painxai.models.preprocessing import bgr_minus_mean
from painxai.models.registry import register_model, register_preprocessing
from painxai.models.resnet import RESNET_FINETUNE, resnet_base
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

#: Per-channel means in **BGR** order, in 0-255 pixel units, as published with the VGGFace2 weights.
VGGFACE2_BGR_MEAN = (91.4953, 103.8827, 131.0912)

SPEC = ModelSpec(
    name="resnet50",
    title="ResNet50 (VGGFace2)",
    base_weights="VGGFace2",
    weights_file="rcmalli_vggface_tf_notop_resnet50.h5",
    weights_url=VGGFACE_RELEASE_URL + "rcmalli_vggface_tf_notop_resnet50.h5",
    paper_input_size=224,
    demo_input_size=64,
    min_input_size=32,
    preprocessing="vggface2",
    head=(1000,),
    head_dropout=0.5,
    output="softmax2",
    last_conv_layer="conv5_3_relu",
    finetune_layers=RESNET_FINETUNE,
    finetune_companions=(),
    phase2_cut_layer="conv4_6_relu",
    total_params=25_612_154,
    finetune_batchnorm=tuple(f"{conv}_bn" for conv in RESNET_FINETUNE),
    paper_table2={"accuracy": (85.6, 7), "f1": (87.0, 7), "auc": (85.2, 7), "epochs": (44, 12)},
    cpu_seconds_per_sample=(0.0011, 0.0174),
)


def vggface2(pixels: np.ndarray) -> np.ndarray:
    """RGB float pixels -> BGR minus the VGGFace2 means (0-255 units)."""
    return bgr_minus_mean(pixels, VGGFACE2_BGR_MEAN)


def resnet50_base(image: KerasTensor, weights_file: Path | None = None) -> KerasTensor:
    """VGGFace2 ResNet50 (Caffe style: bias-free convs, stride in the 1x1 reduce). Returns ``(None, 2048)``."""
    return load_base_file(image, resnet_base(image, squeeze_excite=False), weights_file, SPEC.name)


register_preprocessing(SPEC.preprocessing, vggface2)
register_model(SPEC, resnet50_base)
