"""N-CNN (Zamzmi et al. 2019) as implemented by the FEI lab: three branches merged at 12x12, trained end to end.

Input ``(None, 120, 120, 3)`` in [0, 1]. The branches only meet when their resolutions agree, which
``branch_sizes`` computes for any input size (the check ``build`` uses to refuse impossible sizes).
"""

from __future__ import annotations

from typing import Any

LEAKY_SLOPE = 0.01
BRANCH_DROPOUT = 0.1


def branch_sizes(size: int) -> tuple[int, int, int]:
    """Spatial size (pixels) at which the left, centre and right branches reach the merge, for a square input.

    Left: max-pool 10/10. Centre: 5x5 valid conv, 3/3 pool, 2x2 valid conv, 3/3 pool. Right: 5x5 same conv,
    10/10 pool. The model exists only where all three agree (120 -> 12, 12, 12).
    """
    left = size // 10
    centre = ((size - 4) // 3 - 1) // 3
    right = size // 10
    return left, centre, right


def ncnn_features(image: Any) -> Any:
    """The N-CNN trunk up to its flattened features: ``(None, H, W, 3)`` -> ``(None, 1600)`` at 120x120."""
    from keras import layers

    left = layers.MaxPooling2D(10, strides=10, name="left_pool")(image)

    centre = layers.Conv2D(64, 5, padding="valid", name="centre_conv1")(image)
    centre = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="centre_conv1_relu")(centre)
    centre = layers.MaxPooling2D(3, strides=3, name="centre_pool1")(centre)
    centre = layers.Conv2D(64, 2, padding="valid", name="centre_conv2")(centre)
    centre = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="centre_conv2_relu")(centre)
    centre = layers.MaxPooling2D(3, strides=3, name="centre_pool2")(centre)
    centre = layers.Dropout(BRANCH_DROPOUT, name="centre_dropout")(centre)

    right = layers.Conv2D(64, 5, padding="same", name="right_conv")(image)
    right = layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name="right_conv_relu")(right)
    right = layers.MaxPooling2D(10, strides=10, name="right_pool")(right)
    right = layers.Dropout(BRANCH_DROPOUT, name="right_dropout")(right)

    merged = layers.Concatenate(name="merge")([left, centre, right])
    merged = layers.Conv2D(64, 2, padding="valid", activation="relu", name="merge_conv")(merged)
    merged = layers.MaxPooling2D(2, name="merge_pool")(merged)
    return layers.Flatten(name="flatten")(merged)
