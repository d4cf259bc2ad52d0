"""N-CNN (Zamzmi et al. 2019) as implemented by the FEI lab (Table 1's fifth row): three branches merged at
12x12, trained end to end from a random start (no pretrained base).

- Input ``(None, 120, 120, 3)`` in [0, 1] (preprocessing ``unit``: ``x / 255``). The branches only meet when
  their resolutions agree, which ``branch_sizes`` computes for any input size (``side_problem``, the
  check ``build`` uses to refuse impossible sizes); ``min_input_size`` 34.
- ``demo_input_size`` 64 (a 6x6 fusion grid instead of 12x12): every demo epoch runs its full-resolution
  5x5 convolutions. Measured on the demo's 10 folds (2-core AMD EPYC, oneDNN capped at AVX2,
  bench/bench_ncnn.py): a training step costs 1.65x less than at 80 px and the mean accuracy was 0.89
  against 0.80 at 80 px (better in 8 folds, equal in 1, worse in 1).
- Its output is a 1-unit sigmoid: P(pain) directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.models.registry import register_model, register_preprocessing
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

LEAKY_SLOPE = 0.01
BRANCH_DROPOUT = 0.1

SPEC = ModelSpec(
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
    paper_table2={"accuracy": (77.1, 7), "f1": (80.8, 6), "auc": (76.0, 7), "epochs": (33, 17)},
    cpu_seconds_per_sample=(0.0, 0.0077),  # end to end: the whole cost is phase 2's (120 px)
)


def unit(pixels: np.ndarray) -> np.ndarray:
    """RGB float pixels (0-255) -> [0, 1]."""
    return pixels / np.float32(255.0)


def branch_sizes(size: int) -> tuple[int, int, int]:
    """Spatial size (pixels) at which the left, centre and right branches reach the merge, for a square input.

    Left: max-pool 10/10. Centre: 5x5 valid conv, 3/3 pool, 2x2 valid conv, 3/3 pool. Right: 5x5 same conv,
    10/10 pool. The model exists only where all three agree (120 -> 12, 12, 12).
    """
    left = size // 10
    centre = ((size - 4) // 3 - 1) // 3
    right = size // 10
    return left, centre, right


def side_problem(side: int) -> str | None:
    """None when the three branches meet at one size for a square input of ``side`` px, else why not."""
    sizes = branch_sizes(side)
    if len(set(sizes)) == 1:
        return None
    return f"its three branches would reach the merge at {sizes} px; sizes such as 120 (the paper's) or 64 work"


def ncnn_features(image: KerasTensor, weights_file: Path | None = None) -> KerasTensor:
    """The N-CNN trunk up to its flattened features: ``(None, H, W, 3)`` -> ``(None, 1600)`` at 120x120.

    ``weights_file`` is always None: N-CNN has no pretrained base, so ``build`` never passes a file."""
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


register_preprocessing(SPEC.preprocessing, unit)
register_model(SPEC, ncnn_features, side_problem)
