"""Legacy keras-vggface weight files: strict loading, refusals that name the culprits, import and status."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from painxai.errors import RequestError
from painxai.models import (
    SPECS,
    WeightsFileError,
    build,
    import_weights,
    load_legacy_weights,
    weights_status,
)

#: Small inputs: conv-base weights do not depend on the input size.
SIDE = 32


def legacy_name(name: str) -> str:
    """Our layer name back to keras-vggface's: ``conv1_7x7_s2_bn`` -> ``conv1/7x7_s2/bn``."""
    if name.endswith("_bn"):
        name = name[: -len("_bn")] + "/bn"
    return name.replace("conv1_7x7_s2", "conv1/7x7_s2")


def scramble(model, seed: int) -> None:
    """Give every variable distinct random values, so a tensor landing in the wrong place shows."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.uniform(0.5, 1.5, tuple(variable.shape)).astype(np.float32))


def write_legacy(path: Path, model, skip: tuple[str, ...] = (), extra: dict | None = None, rename=legacy_name) -> None:
    """Write ``model``'s base the way Keras 2 ``save_weights`` did (h5 attrs ``layer_names``/``weight_names``)."""
    with h5py.File(path, "w") as handle:
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4"
        names = []
        for layer in model.layers:
            if layer.name in skip:
                continue
            legacy = rename(layer.name)
            names.append(legacy.encode())
            group = handle.create_group(legacy)
            weight_names = [f"{legacy}/{variable.name}:0" for variable in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in weight_names])
            for weight_name, variable in zip(weight_names, layer.weights, strict=True):
                group.create_dataset(weight_name, data=variable.numpy())
        for legacy, arrays in (extra or {}).items():
            names.append(legacy.encode())
            group = handle.create_group(legacy)
            weight_names = [f"{legacy}/{variable}:0" for variable in arrays]
            group.attrs["weight_names"] = np.array([n.encode() for n in weight_names])
            for weight_name, array in zip(weight_names, arrays.values(), strict=True):
                group.create_dataset(weight_name, data=array)
        handle.attrs["layer_names"] = np.array(names)


def head_names(name: str) -> tuple[str, ...]:
    return (*SPECS[name].head_layer_names(), "flatten", "head_dropout1", "head_dropout2", "prob")


@pytest.mark.parametrize("name", ["vgg16", "resnet50", "senet50"])
def test_legacy_file_round_trips_into_every_layer(tmp_path, name):
    source = build(name, (SIDE, SIDE, 3), weights=None, seed=1)
    scramble(source, seed=1)
    path = tmp_path / f"{name}.h5"
    write_legacy(path, source, skip=head_names(name))
    with h5py.File(path) as handle:  # the file really is in keras-vggface's layout
        assert any(b"/" in layer for layer in handle.attrs["layer_names"]) == (name != "vgg16")
    loaded = build(name, (SIDE * 2, SIDE * 2, 3), weights=path, seed=2)
    head = set(SPECS[name].head_layer_names())
    base_layers = [layer for layer in source.layers if layer.weights and layer.name not in head]
    assert len(base_layers) > 10
    for layer in base_layers:
        for expected, got in zip(layer.weights, loaded.get_layer(layer.name).weights, strict=True):
            assert expected.name == got.name
            np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=f"{layer.name}/{expected.name}")
    fresh_head = build(name, (SIDE * 2, SIDE * 2, 3), weights=None, seed=2).get_layer("logits").kernel.numpy()
    np.testing.assert_array_equal(loaded.get_layer("logits").kernel.numpy(), fresh_head)  # the head stays seeded


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A valid legacy VGGFace file and the model it came from."""
    model = build("vgg16", (SIDE, SIDE, 3), weights=None, seed=1)
    scramble(model, seed=4)
    path = tmp_path_factory.mktemp("vgg") / "vgg16.h5"
    write_legacy(path, model, skip=head_names("vgg16"))
    return path, model


def _refusal(tmp_path: Path, model, **kwargs) -> str:
    path = tmp_path / "bad.h5"
    write_legacy(path, model, **kwargs)
    target = build("vgg16", (SIDE, SIDE, 3), weights=None, seed=5)
    before = [variable.numpy().copy() for variable in target.weights]
    with pytest.raises(WeightsFileError) as caught:
        load_legacy_weights(target, path, ignore=SPECS["vgg16"].head_layer_names())
    for variable, value in zip(target.weights, before, strict=True):  # a refused file changes nothing
        np.testing.assert_array_equal(variable.numpy(), value)
    return str(caught.value)


def test_missing_layers_are_listed(tmp_path, vgg_file):
    message = _refusal(tmp_path, vgg_file[1], skip=(*head_names("vgg16"), "conv5_2", "conv3_1"))
    assert "missing from the file: conv3_1, conv5_2" in message


def test_left_over_layers_are_listed(tmp_path, vgg_file):
    extra = {"fc6": {"kernel": np.zeros((4, 4), np.float32), "bias": np.zeros(4, np.float32)}}
    message = _refusal(tmp_path, vgg_file[1], skip=head_names("vgg16"), extra=extra)
    assert "does not have: fc6" in message


def test_wrong_shapes_are_listed(tmp_path, vgg_file):
    swapped = _refusal(tmp_path, vgg_file[1], skip=head_names("vgg16"),
                       rename=lambda name: {"conv1_1": "conv1_2", "conv1_2": "conv1_1"}.get(name, name))
    assert "conv1_1: conv1_1/kernel:0 has shape (3, 3, 64, 64), kernel needs (3, 3, 3, 64)" in swapped
    assert "conv1_2: conv1_2/kernel:0 has shape (3, 3, 3, 64), kernel needs (3, 3, 64, 64)" in swapped


def test_tensors_stored_out_of_order_are_refused(tmp_path, vgg_file):
    path = tmp_path / "order.h5"
    write_legacy(path, vgg_file[1], skip=head_names("vgg16"))
    with h5py.File(path, "r+") as handle:
        group = handle["conv4_1"]
        group.attrs["weight_names"] = np.array([b"conv4_1/bias:0", b"conv4_1/kernel:0"])
    target = build("vgg16", (SIDE, SIDE, 3), weights=None)
    with pytest.raises(WeightsFileError, match="conv4_1: tensor conv4_1/bias:0 is stored where kernel belongs"):
        load_legacy_weights(target, path, ignore=SPECS["vgg16"].head_layer_names())


def test_files_of_another_kind_are_refused(tmp_path):
    not_hdf5 = tmp_path / "weights.h5"
    not_hdf5.write_bytes(b"<html>rate limited</html>")
    no_layers = tmp_path / "empty.h5"
    h5py.File(no_layers, "w").close()
    model = build("vgg16", (SIDE, SIDE, 3), weights=None)
    with pytest.raises(WeightsFileError, match="not an HDF5 weight file"):
        load_legacy_weights(model, not_hdf5)
    with pytest.raises(WeightsFileError, match="layer_names"):
        load_legacy_weights(model, no_layers)


def test_import_validates_then_installs_under_the_canonical_name(tmp_path, monkeypatch, vgg_file):
    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "home"))
    path, model = vgg_file
    bad = tmp_path / "partial.h5"
    write_legacy(bad, model, skip=(*head_names("vgg16"), "conv1_1"))
    with pytest.raises(WeightsFileError, match="conv1_1"):
        import_weights(bad, "vgg16")
    assert not next(s for s in weights_status() if s.name == "vgg16").ready
    installed = import_weights(path, "vgg16")
    assert installed == tmp_path / "home" / "weights" / "rcmalli_vggface_tf_notop_vgg16.h5"
    assert installed.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in installed.parent.iterdir()) == [installed.name]  # no temporary left behind
    status = {s.name: s for s in weights_status()}
    assert status["vgg16"].ready and status["vgg16"].path == installed
    assert status["ncnn"].ready and not status["resnet50"].ready
    pretrained = build("vgg16", (SIDE, SIDE, 3))
    kernels = [network.get_layer("conv3_2").kernel.numpy() for network in (pretrained, model)]
    np.testing.assert_array_equal(*kernels)
    with pytest.raises(RequestError, match="trained from scratch"):
        import_weights(path, "ncnn")


def test_cli_weights_status_import_and_offline_fetch(tmp_path, monkeypatch, vgg_file):
    import json
    import urllib.error
    import urllib.request

    from typer.testing import CliRunner

    from painxai.cli import app

    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    status = json.loads(runner.invoke(app, ["weights", "status", "--json"]).stdout)
    assert [row["name"] for row in status] == list(SPECS)
    assert {row["name"]: row["ready"] for row in status}["vgg16"] is False

    bad = tmp_path / "partial.h5"
    write_legacy(bad, vgg_file[1], skip=(*head_names("vgg16"), "conv2_2"))
    refused = runner.invoke(app, ["weights", "import", str(bad), "--model", "vgg16"])
    assert refused.exit_code == 2 and "conv2_2" in refused.output
    accepted = runner.invoke(app, ["weights", "import", str(vgg_file[0]), "--model", "vgg16"])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(runner.invoke(app, ["weights", "status", "--json"]).stdout)[0]["ready"] is True

    def offline(url, filename):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    fetched = runner.invoke(app, ["weights", "fetch", "--model", "resnet50"])
    assert fetched.exit_code == 2
    assert "painxai weights import FILE --model resnet50" in " ".join(fetched.output.split())
    assert not list((tmp_path / "home" / "weights").glob("*resnet50*"))  # nothing half-downloaded is left


def test_inception_imports_keras_legacy_files_by_topology(tmp_path, monkeypatch):
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    monkeypatch.setenv("PAINXAI_HOME", str(tmp_path / "home"))
    source = build("inception_v3", (75, 75, 3), weights=None, seed=1)
    scramble(source, seed=2)
    base_layers = [layer for layer in source.layers if layer.weights and layer.name not in head_names("inception_v3")]
    path = tmp_path / "imagenet_notop.h5"
    with h5py.File(path, "w") as handle:  # the layout of Keras's own notop file: the base alone
        from keras import Model

        save_weights_to_hdf5_group(handle, Model(source.input, source.get_layer("mixed10").output))
    installed = import_weights(path, "inception_v3")
    assert installed.name == SPECS["inception_v3"].weights_file
    loaded = build("inception_v3", (99, 99, 3))
    for layer in base_layers[-5:]:
        for expected, got in zip(layer.weights, loaded.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(got.numpy(), expected.numpy())
