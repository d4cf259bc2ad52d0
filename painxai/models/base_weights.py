"""Pretrained base weights: where they live, whether they are here, and a strict loader for the legacy files.

Getting them onto the machine (download or import, checked by building the model) is
:mod:`painxai.models.install`, which sits above the builder; this module sits below it. (The other
``weights`` module, of trained fold files, belongs to ``painxai/runs/``.)

The keras-vggface notop files (docs/PROTOCOL.md#models) are Keras-2 legacy HDF5 files: the root (or its
``model_weights`` group) has the attribute ``layer_names``; each layer's group has ``weight_names`` such as
``conv1/7x7_s2/bn/gamma:0`` and one dataset per name. Keras 3 forbids ``/`` in layer names, and its
``load_weights(by_name=True)`` silently skips layers whose names differ, which would leave a
randomly initialised base that still "loads". So the file is read with h5py, ``/`` in layer names is
written ``_``, and every tensor is checked: a layer in the model without weights in the file, a layer
in the file without a place in the model, a wrong count, name or shape of tensors each fail, with
every offender listed. Layers that carry no weights (pools, activations) are ignored on both sides.
Tensors of a layer are paired in order (Keras 2 and Keras 3 agree: kernel, bias; BatchNormalization
gamma, beta, moving_mean, moving_variance) and their stored names must agree with that order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.errors import PainxaiError, RequestError
from painxai.models.registry import SPECS
from painxai.models.specs import ModelSpec
from painxai.paths import weights_dir

if TYPE_CHECKING:
    import keras
    from keras import KerasTensor

#: The keras-vggface release the three face-pretrained notop files come from.
VGGFACE_RELEASE_URL = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/"
#: Variable names of Keras layers; a stored tensor named otherwise is not checked by name (only by shape).
_KNOWN_VARIABLE_NAMES = frozenset({"kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"})


class WeightsMissingError(PainxaiError):
    """The pretrained weights a model needs are not on this machine (the message says how to get them)."""


class WeightsFileError(PainxaiError):
    """A weight file does not fit the model: unmatched, missing or left-over layers or tensors."""


def keras_layer_name(legacy_name: str) -> str:
    """Map a keras-vggface layer name to ours: ``conv1/7x7_s2/bn`` -> ``conv1_7x7_s2_bn``."""
    return legacy_name.replace("/", "_")


def read_legacy_weights(path: str | Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Read a Keras-2 legacy HDF5 weight file.

    Returns ``{our layer name: [(stored tensor name, array), ...]}`` in the file's order, for every layer
    that carries weights. Raises ``WeightsFileError`` when the file is not in that layout.
    """
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise WeightsFileError(f"{path} is not an HDF5 weight file ({error})") from None
    with handle:
        root = handle.get("model_weights", handle)
        if "layer_names" not in root.attrs:
            raise WeightsFileError(f"{path} is not a Keras-2 legacy weight file (no 'layer_names' attribute)")
        layers: dict[str, list[tuple[str, np.ndarray]]] = {}
        for raw_layer in root.attrs["layer_names"]:
            layer = _text(raw_layer)
            group = root[layer]
            names = [_text(name) for name in group.attrs.get("weight_names", [])]
            if not names:
                continue
            mapped = keras_layer_name(layer)
            if mapped in layers:
                raise WeightsFileError(f"{path}: two layers map to the name {mapped!r}")
            layers[mapped] = [(name, np.asarray(group[name])) for name in names]
    return layers


def load_legacy_weights(model: keras.Model, path: str | Path, ignore: tuple[str, ...] = ()) -> None:
    """Load a keras-vggface (legacy HDF5) file into ``model`` strictly, or change nothing and raise.

    ``ignore``: names of the model's layers that the file is not expected to hold (the new head).
    Raises ``WeightsFileError`` listing every missing, left-over or mismatched layer and tensor.
    """
    stored = read_legacy_weights(path)
    targets = {layer.name: layer for layer in model.layers if layer.weights and layer.name not in ignore}
    problems: list[str] = []
    missing = sorted(set(targets) - set(stored))
    left_over = sorted(set(stored) - set(targets))
    if missing:
        problems.append(f"layers of {model.name} missing from the file: {', '.join(missing)}")
    if left_over:
        problems.append(f"layers in the file that {model.name} does not have: {', '.join(left_over)}")
    assignments = []
    for name in sorted(set(targets) & set(stored)):
        variables = targets[name].weights
        tensors = stored[name]
        if len(variables) != len(tensors):
            problems.append(f"{name}: the file has {len(tensors)} tensors ({', '.join(n for n, _ in tensors)}), "
                            f"the model {len(variables)} ({', '.join(v.name for v in variables)})")
            continue
        for variable, (stored_name, array) in zip(variables, tensors, strict=True):
            short = stored_name.rsplit("/", 1)[-1].split(":", 1)[0]
            if short in _KNOWN_VARIABLE_NAMES and short != variable.name:
                problems.append(f"{name}: tensor {stored_name} is stored where {variable.name} belongs")
            elif tuple(array.shape) != tuple(variable.shape):
                problems.append(f"{name}: {stored_name} has shape {tuple(array.shape)}, "
                                f"{variable.name} needs {tuple(variable.shape)}")
            else:
                assignments.append((variable, array))
    if problems:
        raise WeightsFileError(f"{path} does not fit {model.name}:\n  " + "\n  ".join(problems))
    for variable, array in assignments:
        variable.assign(array)


def load_base_file(image: KerasTensor, features: KerasTensor, path: Path | None, name: str) -> KerasTensor:
    """Load a keras-vggface file strictly into the base from ``image`` to ``features`` (no file: nothing);
    returns ``features``. ``name`` (the model's) is the one error messages give the base."""
    if path is not None:
        import keras

        load_legacy_weights(keras.Model(image, features, name=name), path)
    return features


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _keras_cache_file(spec: ModelSpec) -> Path | None:
    """Where Keras's own ImageNet download keeps ``spec``'s file (InceptionV3 only).

    Keras's cache is ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras`` when the home folder is read-only),
    then ``models/``; Keras offers no public accessor, and importing it only to ask would cost seconds.
    """
    if spec.base_weights != "ImageNet" or spec.weights_file is None:
        return None
    keras_home = os.environ.get("KERAS_HOME")
    if keras_home is None:
        base = Path.home() if os.access(Path.home(), os.W_OK) else Path("/tmp")
        keras_home = str(base / ".keras")
    return Path(keras_home) / "models" / spec.weights_file


def how_to_get(spec: ModelSpec) -> str:
    """A message saying how to obtain ``spec``'s pretrained weights."""
    target = weights_dir() / str(spec.weights_file)
    return (f"{spec.title} needs its {spec.base_weights} weights ({spec.weights_file}). Get them with\n"
            f"  painxai weights fetch --model {spec.name}     (downloads {spec.weights_url})\n"
            f"or download that URL elsewhere and run\n"
            f"  painxai weights import FILE --model {spec.name}\n"
            f"(the file is checked, then kept as {target}). For a random initialisation instead, ask for "
            f"it explicitly: weights=None / --weights none.")


def pretrained_file(spec: ModelSpec) -> Path:
    """The file holding ``spec``'s pretrained base weights; ``WeightsMissingError`` when there is none."""
    if spec.weights_file is None:
        raise RequestError(f"{spec.name} has no pretrained weights (it is trained from scratch)")
    candidates = [weights_dir() / spec.weights_file]
    cached = _keras_cache_file(spec)
    if cached is not None:
        candidates.append(cached)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise WeightsMissingError(how_to_get(spec))


@dataclass(frozen=True)
class WeightsStatus:
    """Whether one model's pretrained weights are available, and from where."""

    name: str
    base_weights: str | None
    path: Path | None  # the file build() would load, None if missing or not needed
    size_bytes: int | None

    @property
    def ready(self) -> bool:
        """True when ``build(name)`` with pretrained weights will find what it needs."""
        return self.base_weights is None or self.path is not None


def weights_status() -> list[WeightsStatus]:
    """One ``WeightsStatus`` per model in ``SPECS`` order."""
    statuses = []
    for spec in SPECS.values():
        path = None
        if spec.weights_file is not None:
            try:
                path = pretrained_file(spec)
            except WeightsMissingError:
                path = None
        statuses.append(WeightsStatus(spec.name, spec.base_weights, path, path.stat().st_size if path else None))
    return statuses
