"""Fold weight files of format 2: only the layers a fold trained, by layer name.

File layout (HDF5, read and written with h5py): attribute ``painxai_fold_weights`` = 2 and one group
``layers/<layer name>`` per trained layer holding its weight arrays as datasets ``"0"``, ``"1"``, ...
in ``layer.get_weights()`` order. A fold model is rebuilt from ``<model>/initial.weights.h5`` (every
other layer, identical in all folds) plus these layers. Format-1 files (the Keras weights of the whole
tail) are told apart by the missing attribute.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from painxai import atomic
from painxai.runs.layout import RunError

FOLD_WEIGHTS_VERSION = 2
_ATTRIBUTE = "painxai_fold_weights"


def layer_weights(model: Any, names: Iterable[str]) -> dict[str, list[np.ndarray]]:
    """``{name: layer.get_weights()}`` of the named layers of a keras ``model``."""
    return {name: [np.asarray(w) for w in model.get_layer(name).get_weights()] for name in names}


def write_layer_weights(final: Path, layers: Mapping[str, list[np.ndarray]]) -> None:
    """Write ``layers`` (layer name -> weight arrays) to ``final`` atomically."""
    import h5py

    with atomic.atomic_path(final) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs[_ATTRIBUTE] = FOLD_WEIGHTS_VERSION
        group = handle.create_group("layers")
        for name, arrays in layers.items():
            layer = group.create_group(name)
            for index, array in enumerate(arrays):
                layer.create_dataset(str(index), data=np.asarray(array))


def is_layer_file(path: Path) -> bool:
    """True for a format-2 fold file (False for a Keras weights file); RunError when h5py cannot open it."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return _ATTRIBUTE in handle.attrs
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: not a readable weights file ({error}); {_REDO}") from error


_REDO = "delete its fold folder and run `painxai train ... --resume` to train that fold again"


def read_layer_weights(path: Path) -> dict[str, list[np.ndarray]]:
    """The layers of a format-2 fold file; RunError naming the file when it is damaged."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            group = handle["layers"]
            return {
                name: [np.asarray(group[name][str(i)]) for i in range(len(group[name]))] for name in group
            }
    except Exception as error:  # h5py raises OSError, KeyError, ValueError or RuntimeError on damage
        raise RunError(f"{path}: damaged fold weights ({type(error).__name__}: {error}); {_REDO}") from error


def load_layer_weights(model: Any, path: Path) -> None:
    """Set the layers stored in ``path`` on the keras ``model`` (matched by name)."""
    set_layer_weights(model, read_layer_weights(path), path)


def set_layer_weights(model: Any, layers: Mapping[str, list[np.ndarray]], path: Path) -> None:
    """Set ``layers`` (read from the fold file ``path``) on the keras ``model``; RunError naming the file
    for a layer the model lacks or whose weights do not fit."""
    for name, arrays in layers.items():
        try:
            model.get_layer(name).set_weights(arrays)
        except ValueError as error:
            raise RunError(f"{path}: layer {name!r} does not fit the model ({error}); {_REDO}") from error


def check_weights_file(path: Path, expected_layers: Iterable[str] | None) -> str | None:
    """A cheap check (no TensorFlow): None when ``path`` opens with h5py and holds the expected layer
    groups (format 2) or a Keras ``layers`` group (format 1), else what is wrong."""
    import h5py

    if not os.path.isfile(path):
        return "missing"
    try:
        with h5py.File(path, "r") as handle:
            if _ATTRIBUTE not in handle.attrs:
                return None if "layers" in handle else "not a weights file (no 'layers' group)"
            stored = set(handle["layers"])
            missing = sorted(set(expected_layers or ()) - stored)
            if missing:
                return f"lacks the layer(s) {', '.join(missing)}"
            for name in stored:
                for dataset in handle["layers"][name].values():
                    dataset.id.get_storage_size()  # reads the dataset header; fails on a damaged file
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        return f"unreadable ({error})"
    return None
