"""SENet50 with VGGFace2 weights (Table 1's third row): its spec and its base (preprocessing: ResNet50's).

- Fine-tuned in phase 2: the same 9 spatial convs as ResNet50 (``resnet.RESNET_FINETUNE``). The
  squeeze-excitation ``_1x1_down``/``_1x1_up`` layers are Keras ``Conv2D`` layers but act on a 1x1 pooled
  vector: they are the fully connected layers of a channel gate, not convolutions over the image. Counting
  them would make "9 conv layers" cover less than two blocks of SENet50 against three blocks of ResNet50,
  while the paper treats the two models alike. The SE layers of the fine-tuned blocks
  (``finetune_companions``) are unfrozen with them, because they gate exactly the features those convs
  produce.
- ``demo_input_size`` 80 (a 3x3 Grad-CAM map): with a random base its frozen features separated the twin's
  classes best there (the demo's 10 folds: 0.82 at 80, 0.79 at 64, 0.77 at 48, 0.76 at 112).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from painxai.models.base_weights import VGGFACE_RELEASE_URL, load_base_file
from painxai.models.registry import register_model
from painxai.models.resnet import RESNET_FINETUNE, resnet_base
from painxai.models.resnet50 import SPEC as RESNET50
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

SPEC = ModelSpec(
    name="senet50",
    title="SENet50 (VGGFace2)",
    base_weights="VGGFace2",
    weights_file="rcmalli_vggface_tf_notop_senet50.h5",
    weights_url=VGGFACE_RELEASE_URL + "rcmalli_vggface_tf_notop_senet50.h5",
    paper_input_size=224,
    demo_input_size=80,
    min_input_size=32,
    preprocessing=RESNET50.preprocessing,
    head=(1000,),
    head_dropout=0.5,
    output="softmax2",
    last_conv_layer="conv5_3_relu",
    finetune_layers=RESNET_FINETUNE,
    finetune_companions=tuple(f"conv5_{block}_1x1_{side}" for block in (1, 2, 3) for side in ("down", "up")),
    phase2_cut_layer="conv4_6_relu",
    total_params=28_143_146,
    finetune_batchnorm=tuple(f"{conv}_bn" for conv in RESNET_FINETUNE),
    paper_table2={"accuracy": (86.1, 5), "f1": (87.3, 5), "auc": (85.7, 5), "epochs": (40, 10)},
    cpu_seconds_per_sample=(0.0010, 0.0208),
)


def senet50_base(image: KerasTensor, weights_file: Path | None = None) -> KerasTensor:
    """VGGFace2 SENet50: ResNet50 plus a squeeze-excitation gate in every block. Returns ``(None, 2048)``."""
    return load_base_file(image, resnet_base(image, squeeze_excite=True), weights_file, SPEC.name)


register_model(SPEC, senet50_base)
