"""The layer each model's maps explain: it exists, and where its gradients cannot reach the output is known."""

from __future__ import annotations

import numpy as np

from painxai.models import SPECS, build


def live_cells(name: str, layer: str, size: int) -> np.ndarray:
    """(h, w) bool: cells of ``layer``'s output whose gradient reaches the features of a random ``name`` model at
    ``size`` px, for some image and some weighting of those features (8 random images)."""
    import keras
    import tensorflow as tf

    model = build(name, (size, size, 3), weights=None)
    last = model.layers[-1].input if SPECS[name].trained_end_to_end else model.output
    probe = keras.Model(model.input, [model.get_layer(layer).output, last])
    images = tf.constant(np.random.default_rng(0).random((8, size, size, 3)), tf.float32)
    with tf.GradientTape() as tape:
        activations, output = probe(images)
        score = tf.reduce_sum(output * tf.random.normal(tuple(output.shape), seed=1))
    gradient = tape.gradient(score, activations).numpy()
    return np.abs(gradient).sum(axis=(0, 3)) > 0


def test_models_other_than_ncnn_explain_their_last_conv_layer() -> None:
    """(tests/test_models.py checks that each last conv layer exists at paper size.)"""
    others = {name: spec for name, spec in SPECS.items() if name != "ncnn"}
    assert others and all(spec.explained_layer == spec.last_conv_layer for spec in others.values())


def test_ncnn_explains_merge_whose_maps_keep_more_live_cells_than_merge_conv() -> None:
    """merge_pool drops merge_conv's last row and column at 64 px: 16 live cells of 25, against 25 of 36 for merge."""
    spec = SPECS["ncnn"]
    assert spec.explained_layer == "merge" and spec.last_conv_layer == "merge_conv"
    conv, merge = live_cells("ncnn", "merge_conv", 64), live_cells("ncnn", "merge", 64)
    assert (conv.shape, int(conv.sum())) == ((5, 5), 16) and not conv[-1].any() and not conv[:, -1].any()
    assert (merge.shape, int(merge.sum())) == ((6, 6), 25) and not merge[-1].any() and not merge[:, -1].any()
