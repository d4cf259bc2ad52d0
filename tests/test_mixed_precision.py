"""Mixed precision (the GPU's ``mixed_float16`` policy): outputs and loss stay float32.

Under that policy every layer computes in float16 unless pinned; a float16 softmax rounds
probabilities to about 3 digits and saturates at exactly 1, which the loss, AUC and the reports would
read. Runs on CPU: only the dtypes are checked, so the policy's speed does not matter here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from painxai.models import SPECS, build
from painxai.training.fit import compile_for_training


@pytest.fixture
def mixed_policy() -> Iterator[None]:
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("name", list(SPECS))
def test_outputs_and_loss_are_float32_under_mixed_precision(name: str, mixed_policy: None) -> None:
    import keras

    spec = SPECS[name]
    side = 64 if name == "ncnn" else spec.min_input_size  # ncnn needs a side its three branches agree on
    model = build(name, input_shape=(side, side, 3), weights=None)
    # The layers really compute in float16 (else this test would prove nothing)...
    assert model.get_layer("logits").compute_dtype == "float16"
    # ...but the probabilities come out in float32.
    assert model.get_layer("prob").compute_dtype == "float32"
    outputs = model(np.random.default_rng(0).normal(size=(2, side, side, 3)).astype("float32"), training=False)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32" and outputs.shape == (2, spec.n_outputs)
    compile_for_training(model, spec.output, keras.optimizers.Adam(1e-4))
    assert model.loss.dtype == "float32"
    labels = np.array([0.0, 1.0], dtype="float32")
    assert keras.backend.standardize_dtype(model.compute_loss(y=labels, y_pred=outputs).dtype) == "float32"
