"""Maps of a fold ensemble: the shared frozen trunk runs once, then each fold's tail explains after it.

All folds of a model start from the same initial weights and train only the layers after the
model's phase-2 cut, so the layers before the cut are identical across folds
(:class:`painxai.runs.reader.FoldEnsemble` keeps them once, as ``trunk``). The last conv layer lives in
the tails, so a fold's map needs only the trunk's output: one trunk pass serves all ten folds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import keras
import numpy as np

from painxai.explain.cam import ClassTarget, check_crops, forward, method_class


class FoldEnsembleLike(Protocol):
    """What :func:`ensemble_explain` needs of :class:`painxai.runs.reader.FoldEnsemble`."""

    name: str
    folds: list[int]
    trunk: keras.Model | None
    tails: list[keras.Model]


@dataclass(frozen=True)
class EnsembleExplanation:
    """One model's fold maps. maps: (F, N, H, W) float32 raw; prob_pain: (F, N); folds: the F fold ids."""

    name: str
    folds: list[int]
    maps: np.ndarray
    prob_pain: np.ndarray

    def mean(self) -> np.ndarray:
        """The fold-mean map (N, H, W)."""
        return self.maps.mean(axis=0)

    def std(self) -> np.ndarray:
        """The pixel-wise standard deviation over folds (N, H, W) (population, ddof 0)."""
        return self.maps.std(axis=0)


def ensemble_explain(
    ensemble: FoldEnsembleLike,
    images: np.ndarray,
    method: str = "gradcam",
    target: str | ClassTarget = "pain",
    layer: str | None = None,
    **method_options: Any,
) -> EnsembleExplanation:
    """Every fold's maps and pain probabilities for RGB uint8 crops (N, H, W, 3) at the model input size.

    layer: default ``SPECS[ensemble.name].last_conv_layer``; it must live in the tails.
    method_options: passed to the CAM class (e.g. ``max_channels`` for Score-CAM).
    """
    from painxai.models import SPECS, preprocess

    if not ensemble.tails:
        raise ValueError(f"the {ensemble.name} ensemble has no fold models")
    first = ensemble.trunk if ensemble.trunk is not None else ensemble.tails[0]
    images = check_crops(images, tuple(first.inputs[0].shape[1:3]))
    layer = layer or SPECS[ensemble.name].last_conv_layer
    inputs = preprocess(ensemble.name, images)
    features = None if ensemble.trunk is None else forward(ensemble.trunk, inputs)
    cam_class = method_class(method)
    results = [
        cam_class(tail, layer, trunk=ensemble.trunk, **method_options).compute(inputs, target, features)
        for tail in ensemble.tails
    ]
    return EnsembleExplanation(
        name=ensemble.name,
        folds=list(ensemble.folds),
        maps=np.stack([result.maps for result in results]),
        prob_pain=np.stack([result.prob_pain for result in results]),
    )


def ensemble_maps(
    ensemble: FoldEnsembleLike, images: np.ndarray, method: str = "gradcam", target: str | ClassTarget = "pain"
) -> np.ndarray:
    """The fold maps (F, N, H, W) float32 raw of :func:`ensemble_explain`."""
    return ensemble_explain(ensemble, images, method, target).maps
