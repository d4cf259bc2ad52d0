"""The five models: Table-1 totals, layer facts of SPECS, preprocessing constants, splitting and phases."""

from __future__ import annotations

import numpy as np
import pytest

from painxai.errors import RequestError
from painxai.models import (
    SPECS,
    WeightsMissingError,
    build,
    check_input_shape,
    preprocess,
    prob_pain,
    set_trainable_phase,
    spec_of,
    split_model,
    trainable_layer_names,
)

PRETRAINED_MODELS = [name for name, spec in SPECS.items() if spec.base_weights is not None]
#: Table 1: how many conv layers each model fine-tunes in phase 2.
TABLE1_FINETUNED_CONVS = {"vgg16": 6, "resnet50": 9, "senet50": 9, "inception_v3": 18}
TABLE1_TOTALS = {"vgg16": 27_823_938, "resnet50": 25_612_154, "senet50": 28_143_146, "inception_v3": 23_115_554,
                 "ncnn": 72_593}


def _creation_rank(layer) -> int:
    """Keras numbers every symbolic tensor as it is created, so a layer's output name orders layers by creation."""
    suffix = layer.output.name.rsplit("_", 1)[-1]  # the first tensor of a process is plain "keras_tensor"
    return int(suffix) if suffix.isdigit() else 0


def _is_se_gate(name: str) -> bool:
    return name.endswith(("_1x1_down", "_1x1_up"))


@pytest.fixture(scope="module")
def paper_models():
    """All five models at the paper's input sizes, randomly initialised (weights do not change the counts)."""
    return {name: build(name, weights=None) for name in SPECS}


@pytest.mark.parametrize("name", list(SPECS))
def test_paper_size_totals_match_table1(paper_models, name):
    model = paper_models[name]
    spec = SPECS[name]
    assert model.count_params() == TABLE1_TOTALS[name] == spec.total_params
    assert model.name == name and spec_of(model) is spec
    assert tuple(model.input_shape[1:]) == (spec.paper_input_size, spec.paper_input_size, 3)
    assert model.layers[-1].name == "prob" and model.layers[-2].name == "logits"
    assert model.get_layer("logits").units == spec.n_outputs
    assert model.output_shape == (None, spec.n_outputs)


@pytest.mark.parametrize("name", PRETRAINED_MODELS)
def test_finetune_layers_are_the_last_convs_in_creation_order(paper_models, name):
    import keras

    model = paper_models[name]
    spec = SPECS[name]
    convs = sorted((layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)), key=_creation_rank)
    spatial = [layer.name for layer in convs if not _is_se_gate(layer.name)]
    assert len(spec.finetune_layers) == TABLE1_FINETUNED_CONVS[name]
    assert tuple(spatial[-len(spec.finetune_layers):]) == spec.finetune_layers
    first_rank = _creation_rank(model.get_layer(spec.finetune_layers[0]))
    gates_after = tuple(layer.name for layer in convs if _is_se_gate(layer.name) and _creation_rank(layer) > first_rank)
    assert set(spec.finetune_companions) == set(gates_after)
    assert isinstance(model.get_layer(spec.last_conv_layer), keras.layers.Layer)


def test_ncnn_trains_every_weighted_layer(paper_models):
    model = paper_models["ncnn"]
    spec = SPECS["ncnn"]
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert set(spec.finetune_layers) == weighted
    assert spec.phase2_cut_layer is None and spec.trained_end_to_end
    assert trainable_layer_names(spec, 1) == trainable_layer_names(spec, 2) == spec.finetune_layers


def test_resnet_and_senet_share_names_and_differ_in_batchnorm_epsilon(paper_models):
    resnet, senet = paper_models["resnet50"], paper_models["senet50"]
    assert resnet.get_layer("conv1_7x7_s2_bn").epsilon == pytest.approx(1e-3)
    assert senet.get_layer("conv5_3_1x1_increase_bn").epsilon == pytest.approx(1e-4)
    assert senet.get_layer("conv2_1_1x1_down").filters == 256 // 16
    assert not resnet.get_layer("conv2_1_1x1_reduce").use_bias
    resnet_weighted = {layer.name for layer in resnet.layers if layer.weights}
    senet_weighted = {layer.name for layer in senet.layers if layer.weights}
    assert senet_weighted - resnet_weighted == {
        f"conv{stage}_{block}_1x1_{side}" for stage, blocks in ((2, 3), (3, 4), (4, 6), (5, 3))
        for block in range(1, blocks + 1) for side in ("down", "up")
    }


@pytest.mark.parametrize("name", PRETRAINED_MODELS)
def test_split_at_the_phase2_cut_reproduces_the_model(name):
    import keras

    spec = SPECS[name]
    model = build(name, input_shape=(spec.demo_input_size, spec.demo_input_size, 3), weights=None, seed=3)
    trunk, tail = split_model(model, spec.phase2_cut_layer)
    images = np.random.default_rng(0).uniform(-1, 1, (2, *model.input_shape[1:])).astype(np.float32)
    whole = keras.ops.convert_to_numpy(model(images, training=False))
    parts = keras.ops.convert_to_numpy(tail(trunk(images, training=False), training=False))
    assert parts.shape == whole.shape == (2, spec.n_outputs)
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-6)
    trunk_names = {layer.name for layer in trunk.layers}
    for layer_name in trainable_layer_names(spec, 2):
        assert layer_name not in trunk_names
        assert tail.get_layer(layer_name) is model.get_layer(layer_name)  # same objects: weights stay tied
    assert spec.last_conv_layer in {layer.name for layer in tail.layers}


def test_split_refuses_a_cut_that_is_bypassed():
    model = build("resnet50", input_shape=(32, 32, 3), weights=None)
    with pytest.raises(ValueError, match="no layer named"):
        split_model(model, "conv9_9")
    with pytest.raises(ValueError, match="cannot be split"):
        split_model(model, "conv4_6_1x1_increase")  # the block's shortcut goes around it


def test_phases_make_exactly_the_listed_layers_trainable():
    model = build("senet50", input_shape=(32, 32, 3), weights=None)
    spec = SPECS["senet50"]
    assert set(set_trainable_phase(model, 1)) == {"head_dense1", "logits"}
    assert {layer.name for layer in model.layers if layer.trainable and layer.weights} == {"head_dense1", "logits"}
    names = set_trainable_phase(model, 2)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert trainable == set(names) == {*spec.finetune_layers, *spec.finetune_companions, "head_dense1", "logits"}
    assert not any(model.get_layer(f"{conv}_bn").trainable for conv in spec.finetune_layers)
    with pytest.raises(ValueError, match="phase"):
        trainable_layer_names(spec, 3)


def test_seed_fixes_the_random_initialisation():
    first, again, other = (build("ncnn", weights=None, seed=seed) for seed in (7, 7, 8))
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [model.get_layer("merge_conv").kernel.numpy() for model in (first, other)]
    assert not np.array_equal(*kernels)


def test_preprocessing_uses_the_published_constants():
    pixel = np.array([10, 20, 30], dtype=np.uint8).reshape(1, 1, 1, 3)  # R, G, B
    np.testing.assert_allclose(preprocess("vgg16", pixel)[0, 0, 0], [30 - 93.5940, 20 - 104.7624, 10 - 129.1863],
                               rtol=1e-6)
    for name in ("resnet50", "senet50"):
        np.testing.assert_allclose(preprocess(name, pixel)[0, 0, 0], [30 - 91.4953, 20 - 103.8827, 10 - 131.0912],
                                   rtol=1e-6)
    extremes = np.array([0, 255, 51], dtype=np.uint8).reshape(1, 1, 1, 3)
    np.testing.assert_allclose(preprocess("inception_v3", extremes)[0, 0, 0], [-1.0, 1.0, 51 / 127.5 - 1], rtol=1e-6)
    np.testing.assert_allclose(preprocess("ncnn", extremes)[0, 0, 0], [0.0, 1.0, 0.2], rtol=1e-6)
    assert all(preprocess(name, extremes).dtype == np.float32 for name in SPECS)


def test_preprocessing_refuses_bad_images():
    with pytest.raises(ValueError, match="uint8"):
        preprocess("vgg16", np.zeros((1, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        preprocess("vgg16", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(RequestError, match="unknown model"):
        preprocess("alexnet", np.zeros((1, 4, 4, 3), dtype=np.uint8))


def test_prob_pain_reads_both_output_kinds():
    np.testing.assert_allclose(prob_pain("vgg16", np.array([[0.9, 0.1], [0.2, 0.8]])), [0.1, 0.8])
    np.testing.assert_allclose(prob_pain("ncnn", np.array([[0.3], [0.7]])), [0.3, 0.7])
    with pytest.raises(ValueError, match="shape"):
        prob_pain("ncnn", np.array([[0.9, 0.1]]))


def test_input_shapes_are_checked():
    assert check_input_shape("ncnn", (64, 64, 3)) == (64, 64, 3)
    with pytest.raises(ValueError, match="at least 75x75"):
        check_input_shape("inception_v3", (64, 64, 3))
    with pytest.raises(ValueError, match="branches"):
        check_input_shape("ncnn", (60, 60, 3))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        check_input_shape("vgg16", (64, 64, 1))


def test_missing_pretrained_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path))
    with pytest.raises(WeightsMissingError) as caught:
        build("resnet50", input_shape=(32, 32, 3))
    message = str(caught.value)
    assert "painxai weights fetch --model resnet50" in message
    assert "painxai weights import FILE --model resnet50" in message
    assert SPECS["resnet50"].weights_url in message and "weights=None" in message
    assert build("ncnn").count_params() == 72_593  # trained from scratch: nothing to fetch


def test_cli_summary_json_lists_the_facts():
    import json

    from typer.testing import CliRunner

    from painxai.cli import app

    result = CliRunner().invoke(app, ["models", "summary", "--json", "--model", "ncnn", "--model", "resnet50",
                                      "--size", "demo"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    # At the demo's 64 px N-CNN fuses on a 6x6 grid: its first dense layer has 2*2*64*8 + 8 weights
    # instead of 5*5*64*8 + 8 (72,593 at 120 px).
    assert rows["ncnn"]["input_shape"] == [64, 64, 3]
    assert rows["ncnn"]["total_params"] == rows["ncnn"]["trainable_params"] == 72_593 - (1600 - 256) * 8
    assert rows["resnet50"]["input_shape"] == [64, 64, 3]
    assert rows["resnet50"]["last_conv_layer"] == "conv5_3_relu" and rows["resnet50"]["last_conv_shape"][:2] == [2, 2]
    assert rows["resnet50"]["finetune_layers"] == list(SPECS["resnet50"].finetune_layers)
    assert rows["resnet50"]["head_params"] == 2048 * 1000 + 1000 + 1000 * 2 + 2
    unknown = CliRunner().invoke(app, ["models", "summary", "--model", "alexnet"])
    assert unknown.exit_code == 2 and "unknown model" in unknown.output


def test_the_registry_and_the_command_line_load_no_tensorflow():
    """Importing the models (five registrations) and the CLI, as ``painxai --help`` does, stays light."""
    import subprocess
    import sys

    code = ("import sys, painxai.models, painxai.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'h5py'}))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
