"""The keras-vggface ResNet50 / SENet50 body shared by ``resnet50.py`` and ``senet50.py``, without its top.

The layer names are those of keras-vggface with ``/`` written ``_`` (Keras 3 forbids ``/`` in layer
names), so the original weight files map onto these layers name by name (see ``base_weights.py``).
Layers without weights, which keras-vggface leaves auto-named, get explicit names here: auto names
come from a process-wide counter and would differ between two models built in one process.

``resnet_base`` takes an input tensor ``(None, H, W, 3)`` of already preprocessed BGR images and returns
the global-average-pooled ``(None, 2048)`` feature.

Both models fine-tune the same 9 spatial convs (``RESNET_FINETUNE``): the 3x3, increase and projection
convs of conv5_1, then all of conv5_2 and conv5_3; ``conv5_1_1x1_reduce`` stays frozen (it is the 10th
from the end). Their BN layers ``<conv>_bn`` are the ``finetune_batchnorm`` of both.
"""

from __future__ import annotations

from typing import Any

#: BatchNormalization epsilon per architecture: keras-vggface's ResNet50 keeps the Keras default;
#: its SENet50 sets 1e-4 (the value of the original Caffe model).
RESNET_BN_EPSILON = 1e-3
SENET_BN_EPSILON = 1e-4
#: Squeeze-excitation bottleneck: the gate squeezes C channels to C / 16.
SE_COMPRESS_RATE = 16
#: The Table-1 convs fine-tuned in phase 2 by ResNet50 and SENet50 (see the module's docstring).
RESNET_FINETUNE: tuple[str, ...] = (
    "conv5_1_3x3", "conv5_1_1x1_increase", "conv5_1_1x1_proj",
    *(f"conv5_{block}_{conv}" for block in (2, 3) for conv in ("1x1_reduce", "3x3", "1x1_increase")),
)  # fmt: skip
#: Bottleneck stages of ResNet50 / SENet50: (stage number, filters (reduce, 3x3, increase), blocks).
RESNET_STAGES: tuple[tuple[int, tuple[int, int, int], int], ...] = (
    (2, (64, 64, 256), 3),
    (3, (128, 128, 512), 4),
    (4, (256, 256, 1024), 6),
    (5, (512, 512, 2048), 3),
)


def resnet_base(image: Any, squeeze_excite: bool) -> Any:
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), the 16 bottleneck blocks, then global average pooling.

    keras-vggface pools with ``AveragePooling2D(7)`` and then ``GlobalAveragePooling2D``; at 224x224 the
    last block is 7x7, so both equal one global average. A single global average gives the same numbers
    at the paper size and also accepts the reduced sizes of the CPU demo.
    """
    from keras import layers

    epsilon = SENET_BN_EPSILON if squeeze_excite else RESNET_BN_EPSILON
    x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False, name="conv1_7x7_s2")(image)
    x = layers.BatchNormalization(epsilon=epsilon, name="conv1_7x7_s2_bn")(x)
    x = layers.Activation("relu", name="conv1_7x7_s2_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_3x3_s2")(x)
    for stage, filters, blocks in RESNET_STAGES:
        for block in range(1, blocks + 1):
            # The first block of each stage projects the shortcut; stages 3-5 also halve the resolution there.
            strides = 1 if stage == 2 or block > 1 else 2
            x = _bottleneck(x, stage, block, filters, strides, project=block == 1, epsilon=epsilon,
                            squeeze_excite=squeeze_excite)
    return layers.GlobalAveragePooling2D(name="avg_pool")(x)


def _conv_bn(x: Any, filters: int, kernel: int, name: str, epsilon: float, strides: int = 1) -> Any:
    """A bias-free conv named ``name`` and its BatchNormalization ``name_bn`` (keras-vggface ``name/bn``)."""
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn")(x)


def _bottleneck(
    block_input: Any,
    stage: int,
    block: int,
    filters: tuple[int, int, int],
    strides: int,
    project: bool,
    epsilon: float,
    squeeze_excite: bool,
) -> Any:
    """One bottleneck block ``conv{stage}_{block}``; its output layer is the ReLU ``conv{stage}_{block}_relu``.

    Creation order follows keras-vggface: reduce, 3x3, increase, then (SENet) the SE gate, then the
    projection shortcut. The order fixes the creation order of the conv layers, from which
    ``SPECS[...].finetune_layers`` are counted.
    """
    from keras import layers

    prefix = f"conv{stage}_{block}"
    reduce_filters, middle_filters, out_filters = filters
    x = _conv_bn(block_input, reduce_filters, 1, f"{prefix}_1x1_reduce", epsilon, strides)
    x = layers.Activation("relu", name=f"{prefix}_1x1_reduce_relu")(x)
    x = _conv_bn(x, middle_filters, 3, f"{prefix}_3x3", epsilon)
    x = layers.Activation("relu", name=f"{prefix}_3x3_relu")(x)
    x = _conv_bn(x, out_filters, 1, f"{prefix}_1x1_increase", epsilon)
    if squeeze_excite:
        x = _squeeze_excite(x, prefix, out_filters)
    shortcut = _conv_bn(block_input, out_filters, 1, f"{prefix}_1x1_proj", epsilon, strides) if project else block_input
    x = layers.Add(name=f"{prefix}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{prefix}_relu")(x)


def _squeeze_excite(x: Any, prefix: str, channels: int) -> Any:
    """Channel gate: GAP -> 1x1 conv C/16 (bias) -> ReLU -> 1x1 conv C (bias) -> sigmoid -> rescale ``x``."""
    from keras import layers

    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_pool")(x)
    gate = layers.Conv2D(channels // SE_COMPRESS_RATE, 1, name=f"{prefix}_1x1_down")(gate)
    gate = layers.Activation("relu", name=f"{prefix}_1x1_down_relu")(gate)
    gate = layers.Conv2D(channels, 1, name=f"{prefix}_1x1_up")(gate)
    gate = layers.Activation("sigmoid", name=f"{prefix}_se_gate")(gate)
    return layers.Multiply(name=f"{prefix}_se_scale")([x, gate])
