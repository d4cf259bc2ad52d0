"""The five models of the study as one declarative table (Table 1 of Coutrin & Thomaz 2022, docs/PROTOCOL.md#models).

How the fine-tuned layers of Table 1 ("conv layers fine-tuned": 6 / 9 / 9 / 18 / all) are chosen:
**the last N ``Conv2D`` layers in creation order**, where creation order is that of the keras-vggface
sources (the order of ``layer_names`` in the original weight files; in a bottleneck block: 1x1 reduce,
3x3, 1x1 increase, then the 1x1 projection) and of ``keras.applications`` for InceptionV3.

- vgg16: conv4_1 ... conv5_3.
- resnet50: the 3x3, increase and projection convs of conv5_1, then all of conv5_2 and conv5_3.
  ``conv5_1_1x1_reduce`` stays frozen (it is the 10th from the end).
- senet50: the same 9 spatial convs as resnet50. The squeeze-excitation ``_1x1_down``/``_1x1_up`` layers
  are Keras ``Conv2D`` layers but act on a 1x1 pooled vector: they are the fully connected layers of a
  channel gate, not convolutions over the image. Counting them would make "9 conv layers" cover less
  than two blocks of SENet50 against three blocks of ResNet50, while the paper treats the two models
  alike. The SE layers of the fine-tuned blocks (``finetune_companions``) are unfrozen with them,
  because they gate exactly the features those convs produce.
- inception_v3: the 18 convs of the last two Inception blocks (``mixed9``, ``mixed10``), i.e. Keras's
  ``conv2d_76`` ... ``conv2d_93`` (layer names as a fresh process gives them; see ``inception.py``).
- ncnn: trained end to end: every layer with weights.

BatchNormalization in phase 2 is a training-profile setting (``Profile.finetune_batchnorm``): "frozen"
keeps every BN layer in inference mode (Keras's fine-tuning guidance); "train" also trains
``finetune_batchnorm``, the BN layers that normalise a Table-1 conv's output (``<conv>_bn`` in the ResNets,
``batch_normalization_76`` ... ``_93`` after ``conv2d_76`` ... ``_93`` in InceptionV3; VGG16 and N-CNN have
none), which in Keras then run in training mode (batch statistics, moving averages updated), as a
``trainable = True`` on those blocks does in TF 2.x Keras. BN layers of frozen convs stay frozen either way.

``phase2_cut_layer`` is a layer whose single output every fine-tuned layer depends on and through
which everything downstream flows: training caches activations there in phase 2 and the dashboard
computes the frozen trunk once for all folds.

Input sizes (square sides, pixels). ``demo_input_size`` is, for vgg16 and inception_v3, the smallest size
whose Grad-CAM layer is still at least 4x4 (vgg16 64 -> conv5_3 4x4; inception_v3 171 -> mixed10 4x4; at 75
it is 1x1), so CPU demo maps keep some spatial meaning. resnet50 uses 64 (a 2x2 map) and senet50 80 (3x3):
with random bases their frozen features separated the twin's classes better there than at 112 (measured on
the demo's 10 folds: resnet50 0.83 at 64 against 0.77 at 112; senet50 0.82 at 80, 0.79 at 64, 0.77 at 48
and 0.76 at 112), and they cost half the time. N-CNN trains end to end, so every
demo epoch runs its full-resolution 5x5 convolutions: it uses 64 px (a 6x6 fusion grid instead of
12x12). Measured on the demo's 10 folds (2-core AMD EPYC, oneDNN capped at AVX2, bench/bench_ncnn.py): a
training step costs 1.65x less than at 80 px and the mean accuracy was 0.89 against 0.80 at 80 px (better
in 8 folds, equal in 1, worse in 1).
``min_input_size`` is what ``build`` accepts (measured): VGG16 needs 32 (pool5 becomes empty below);
the ResNets build down to 8 px, but below 32 (their total stride) the last block is a single pixel
from less than one stride of image, so 32 is enforced; InceptionV3 needs 75 (Keras refuses less);
N-CNN needs 34 and only sides at which its three branches meet at one size (``ncnn.branch_sizes``).

Class order of every model: index 0 = no pain, index 1 = pain (``pain_index``); the 1-unit sigmoid
of N-CNN gives the pain probability directly (index 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from painxai.errors import RequestError
from painxai.labels import CLASSES, PAIN

VGGFACE_RELEASE_URL = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/"
INCEPTION_NOTOP_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


@dataclass(frozen=True)
class ModelSpec:
    """One row of Table 1 with everything code needs to build, train and explain the model.

    Sizes are square input sides in pixels. ``head`` lists the ReLU dense units between the base and
    the output layer; ``head_dropout`` follows each of them.
    """

    name: str
    title: str
    base_weights: str | None  # "VGGFace", "VGGFace2", "ImageNet" or None (trained from scratch)
    weights_file: str | None  # canonical file name in painxai.paths.weights_dir()
    weights_url: str | None  # where the original file is published
    paper_input_size: int
    demo_input_size: int
    min_input_size: int
    preprocessing: str  # mode of preprocessing.preprocess_mode
    head: tuple[int, ...]
    head_dropout: float
    output: str  # "softmax2" (2 units, index 1 = pain) or "sigmoid1" (1 unit = P(pain))
    last_conv_layer: str  # the last conv layer of Table 1's network (the paper's Grad-CAM layer)
    finetune_layers: tuple[str, ...]  # the conv layers of Table 1 trained in phase 2 (all weighted layers: ncnn)
    finetune_companions: tuple[str, ...]  # other base layers unfrozen with them (SENet's SE gates)
    phase2_cut_layer: str | None  # None: trained end to end, nothing is frozen
    total_params: int  # at paper_input_size, Table 1
    finetune_batchnorm: tuple[str, ...] = ()  # BN layers after the Table-1 convs, trained when the profile says so
    explained_layer: str = ""  # the layer maps explain by default; "" = last_conv_layer (why not: see the row)

    def __post_init__(self) -> None:
        if not self.explained_layer:
            object.__setattr__(self, "explained_layer", self.last_conv_layer)

    @property
    def trained_end_to_end(self) -> bool:
        """True when the model has no frozen base (N-CNN)."""
        return self.phase2_cut_layer is None

    @property
    def n_outputs(self) -> int:
        """Units of the ``logits`` layer: 2 for softmax models, 1 for the sigmoid N-CNN."""
        return 2 if self.output == "softmax2" else 1

    @property
    def pain_index(self) -> int:
        """Column of the model's output that holds the pain score (softmax: 1, sigmoid: 0)."""
        return CLASSES.index(PAIN) if self.output == "softmax2" else 0

    def head_layer_names(self) -> tuple[str, ...]:
        """Names of the head's layers with weights (dense layers and ``logits``), always trained."""
        return (*(f"head_dense{index}" for index in range(1, len(self.head) + 1)), "logits")


def _resnet_block_convs(prefix: str) -> tuple[str, str, str]:
    return f"{prefix}_1x1_reduce", f"{prefix}_3x3", f"{prefix}_1x1_increase"


_RESNET_FINETUNE = (
    "conv5_1_3x3", "conv5_1_1x1_increase", "conv5_1_1x1_proj",
    *_resnet_block_convs("conv5_2"), *_resnet_block_convs("conv5_3"),
)  # fmt: skip

SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
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
        ),
        ModelSpec(
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
            finetune_layers=_RESNET_FINETUNE,
            finetune_companions=(),
            phase2_cut_layer="conv4_6_relu",
            total_params=25_612_154,
            finetune_batchnorm=tuple(f"{conv}_bn" for conv in _RESNET_FINETUNE),
        ),
        ModelSpec(
            name="senet50",
            title="SENet50 (VGGFace2)",
            base_weights="VGGFace2",
            weights_file="rcmalli_vggface_tf_notop_senet50.h5",
            weights_url=VGGFACE_RELEASE_URL + "rcmalli_vggface_tf_notop_senet50.h5",
            paper_input_size=224,
            demo_input_size=80,
            min_input_size=32,
            preprocessing="vggface2",
            head=(1000,),
            head_dropout=0.5,
            output="softmax2",
            last_conv_layer="conv5_3_relu",
            finetune_layers=_RESNET_FINETUNE,
            finetune_companions=tuple(f"conv5_{block}_1x1_{side}" for block in (1, 2, 3) for side in ("down", "up")),
            phase2_cut_layer="conv4_6_relu",
            total_params=28_143_146,
            finetune_batchnorm=tuple(f"{conv}_bn" for conv in _RESNET_FINETUNE),
        ),
        ModelSpec(
            name="inception_v3",
            title="InceptionV3 (ImageNet)",
            base_weights="ImageNet",
            weights_file=INCEPTION_NOTOP_FILE,
            weights_url="https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
            + INCEPTION_NOTOP_FILE,
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
        ),
        ModelSpec(
            name="ncnn",
            title="N-CNN (Zamzmi et al. 2019)",
            base_weights=None,
            weights_file=None,
            weights_url=None,
            paper_input_size=120,
            demo_input_size=64,
            min_input_size=34,
            preprocessing="unit",
            head=(8,),
            head_dropout=0.1,
            output="sigmoid1",
            last_conv_layer="merge_conv",
            # merge_pool (2x2, stride 2, no padding) reads only the first 2k rows and columns of merge_conv, so
            # merge_conv's gradients are zero on its last row and column: 9 of its 25 cells at 64 px. Its input,
            # the concatenation of the three branches, reaches the output everywhere (docs/TRUST.md: measured).
            explained_layer="merge",
            finetune_layers=("centre_conv1", "centre_conv2", "right_conv", "merge_conv", "head_dense1", "logits"),
            finetune_companions=(),
            phase2_cut_layer=None,
            total_params=72_593,
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; a clear error lists the known names otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise RequestError(f"unknown model {name!r}; known models: {', '.join(SPECS)}") from None
