"""The model registry: every model name, its Table-1 spec, its base builder and its preprocessing.

Each architecture lives in one module (``vgg16.py``, ``resnet50.py``, ``senet50.py``, ``inception_v3.py``,
``ncnn.py``) that declares its :class:`~painxai.models.specs.ModelSpec`, its base builder and the
preprocessing it names, and calls :func:`register_model` / :func:`register_preprocessing` when imported;
``painxai/models/__init__.py`` imports them in Table 1's order, which is the registration order and the
order of ``SPECS`` and :func:`model_names` everywhere (tables, runs, statistics).

This module imports neither TensorFlow nor weight-file code: builders are called only by
:func:`painxai.models.networks.build`, and they import Keras inside their bodies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from painxai.errors import RequestError
from painxai.models.specs import ModelSpec

if TYPE_CHECKING:
    from keras import KerasTensor

#: ``base(image, weights_file) -> features``: the model's layers below the head on the input tensor
#: ``image`` ``(None, H, W, 3)``; with a file, the base loads its pretrained weights from it before returning.
BaseBuilder = Callable[["KerasTensor", "Path | None"], "KerasTensor"]
#: ``side -> None`` when the model can take square inputs of that side, else one sentence saying why not.
SideCheck = Callable[[int], "str | None"]
#: float32 RGB pixels in 0-255 ``(N, H, W, 3)`` -> the model's float32 input ``(N, H, W, 3)``; called by
#: :func:`painxai.models.preprocessing.preprocess_mode`, which checks the images first.
PreprocessFunction = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its spec (the declarative facts) and the code that builds it.

    ``side_problem``: an extra rule on the input side beyond ``spec.min_input_size`` (N-CNN's branches
    must meet at one size); None when any side from the minimum works.
    """

    spec: ModelSpec
    base: BaseBuilder
    side_problem: SideCheck | None = None


_ENTRIES: dict[str, ModelEntry] = {}
_PREPROCESSING: dict[str, PreprocessFunction] = {}
#: Every registered model's spec by name, in registration order (Table 1's). A live view: registering or
#: unregistering a model updates this very dict, so ``from painxai.models import SPECS`` stays current.
SPECS: dict[str, ModelSpec] = {}


def register_preprocessing(name: str, function: PreprocessFunction) -> PreprocessFunction:
    """Make ``function`` the preprocessing called ``name`` (the name run.json records); returns it.

    Registering the same function again is a no-op; another function under a taken name is a ValueError.
    """
    known = _PREPROCESSING.get(name)
    if known is not None and known is not function:
        raise ValueError(f"preprocessing {name!r} is already registered")
    _PREPROCESSING[name] = function
    return function


def unregister_preprocessing(name: str) -> None:
    """Remove the preprocessing ``name``; a ValueError while a registered model still names it."""
    users = [spec.name for spec in SPECS.values() if spec.preprocessing == name]
    if users:
        raise ValueError(f"preprocessing {name!r} is still used by {', '.join(users)}")
    if name not in _PREPROCESSING:
        raise ValueError(f"preprocessing {name!r} is not registered")
    del _PREPROCESSING[name]


def preprocessing_function(name: str) -> PreprocessFunction:
    """The preprocessing registered as ``name``; RequestError listing the known ones otherwise."""
    try:
        return _PREPROCESSING[name]
    except KeyError:
        raise RequestError(f"unknown preprocessing {name!r}; known: {', '.join(_PREPROCESSING)}") from None


def preprocessing_names() -> tuple[str, ...]:
    """Names of the registered preprocessing functions, in registration order."""
    return tuple(_PREPROCESSING)


def register_model(spec: ModelSpec, base: BaseBuilder, side_problem: SideCheck | None = None) -> ModelEntry:
    """Register model ``spec.name`` (after those already registered); returns its entry.

    The spec's preprocessing must be registered first. A name that is taken is a ValueError: call
    :func:`unregister_model` first (tests that add a model do so when they finish).
    """
    if spec.name in _ENTRIES:
        raise ValueError(f"model {spec.name!r} is already registered")
    if spec.preprocessing not in _PREPROCESSING:
        raise ValueError(f"{spec.name}: register its preprocessing {spec.preprocessing!r} first")
    entry = ModelEntry(spec, base, side_problem)
    _ENTRIES[spec.name] = entry
    SPECS[spec.name] = spec
    return entry


def unregister_model(name: str) -> None:
    """Remove model ``name`` from the registry (its preprocessing stays registered)."""
    if name not in _ENTRIES:
        raise ValueError(f"model {name!r} is not registered")
    del _ENTRIES[name]
    del SPECS[name]


def model_names() -> tuple[str, ...]:
    """Every registered model's name, in registration order (Table 1's, then any added)."""
    return tuple(_ENTRIES)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of model ``name``; RequestError listing the known names otherwise."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise RequestError(f"unknown model {name!r}; known models: {', '.join(_ENTRIES)}") from None


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; RequestError listing the known names otherwise."""
    return get_entry(name).spec
