"""The three keras-vggface bases (VGG16 / VGGFace, ResNet50 and SENet50 / VGGFace2), without their tops.

The layer names are those of keras-vggface with ``/`` written ``_`` (Keras 3 forbids ``/`` in layer
names), so the original weight files map onto these layers name by name (see ``weights.py``).
Layers without weights, which keras-vggface leaves auto-named, get explicit names here: auto names
come from a process-wide counter and would differ between two models built in one process.

Every builder takes an input tensor ``(None, H, W, 3)`` of already preprocessed BGR images (see
``preprocessing.py``) and returns the base's output tensor: ``pool5`` ``(None, H/32, W/32, 512)``
for VGG16, the global-average-pooled ``(None, 2048)`` feature for the ResNets.
"""

from __future__ import annotations

from typing import Any

#: BatchNormalization epsilon per architecture: keras-vggface's ResNet50 keeps the Keras default;
#: its SENet50 sets 1e-4 (the value of the original Caffe model).
RESNET_BN_EPSILON = 1e-3
SENET_BN_EPSILON = 1e-4
#: Squeeze-excitation bottleneck: the gate squeezes C channels to C / 16.
SE_COMPRESS_RATE = 16
#: Bottleneck stages of ResNet50 / SENet50: (stage number, filters (reduce, 3x3, increase), blocks).
RESNET_STAGES: tuple[tuple[int, tuple[int, int, int], int], ...] = (
    (2, (64, 64, 256), 3),
    (3, (128, 128, 512), 4),
    (4, (256, 256, 1024), 6),
    (5, (512, 512, 2048), 3),
)


def vgg16_base(image: Any) -> Any:
    """VGGFace VGG16 convolutional base: 13 3x3 ReLU convs with bias in 5 blocks, each closed by a 2x2 max-pool.

    ``image``: KerasTensor ``(None, H, W, 3)``. Returns ``pool5``: ``(None, H//32, W//32, 512)``.
    """
    from keras import layers

    x = image
    for block, (filters, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), start=1):
        for index in range(1, convs + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{block}_{index}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{block}")(x)
    return x


def resnet50_base(image: Any) -> Any:
    """VGGFace2 ResNet50 (Caffe style: bias-free convs, stride in the 1x1 reduce). Returns ``(None, 2048)``."""
    return _resnet_base(image, squeeze_excite=False)


def senet50_base(image: Any) -> Any:
    """VGGFace2 SENet50: ResNet50 plus a squeeze-excitation gate in every block. Returns ``(None, 2048)``."""
    return _resnet_base(image, squeeze_excite=True)


def _resnet_base(image: Any, squeeze_excite: bool) -> Any:
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
