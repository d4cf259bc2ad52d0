"""Integrated Gradients (Sundararajan et al. 2017): an attribution on the input pixels.

For an image x and a baseline x' (here the preprocessing's zero: the mean colour for the VGGFace models,
mid grey for inception_v3, black for ncnn, as Score-CAM's and RISE's masks use), the attribution of input
value i is

    IG_i = (x_i - x'_i) * integral over a in [0, 1] of d score / d x_i at x' + a (x - x'),

approximated by the midpoint rule with ``steps`` points (a = (k + 1/2) / steps). The class score is the
:class:`~painxai.explain.cam.ClassTarget`'s linear read-out of the logits, so completeness holds for it:
the attributions sum to score(x) - score(x') (exactly for a linear model, up to the rule's error otherwise).

The map of a pixel is the sum of its three channels' attributions, kept where positive (evidence *for* the
explained class, as the CAMs' ReLU keeps), at the input resolution: (H, W) per image. Its unit is score
units. Cost: ``steps`` forward and backward passes of the whole model (trunk included) per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from painxai.explain.base import InputMethod, check_images

if TYPE_CHECKING:
    import keras

    from painxai.explain.cam import ClassTarget

DEFAULT_STEPS = 16


class IntegratedGradients(InputMethod):
    """Integrated Gradients from the zero baseline, ``steps`` midpoint-rule points (see the module doc)."""

    name = "integrated_gradients"
    label = "Integrated Gradients (input)"
    audit_options: ClassVar[Mapping[str, int]] = {"steps": 8}

    def __init__(
        self, model: keras.Model, layer: str | None = None, trunk: keras.Model | None = None,
        steps: int = DEFAULT_STEPS, batch_size: int = 32,
    ) -> None:
        super().__init__(model, layer, trunk, batch_size)
        if steps < 1:
            raise ValueError("steps must be at least 1")
        self.steps = steps

    def attributions(self, images: np.ndarray, target: str | ClassTarget = "pain") -> np.ndarray:
        """Signed attributions (N, H, W, 3) float32 of preprocessed images (N, H, W, 3) (score units)."""
        from painxai.explain.cam import as_target

        images = check_images(images)
        target = as_target(target)
        return np.stack([self._attributions(image, target) for image in images])

    def _attributions(self, image: np.ndarray, target: ClassTarget) -> np.ndarray:
        alphas = ((np.arange(self.steps) + 0.5) / self.steps).astype(np.float32)
        path = alphas[:, None, None, None] * image[None]  # the baseline is 0
        gradients = self.input_gradients(path, target)
        return (image * gradients.mean(axis=0, dtype=np.float64)).astype(np.float32)

    def attribute(self, image: np.ndarray, target: ClassTarget) -> np.ndarray:
        return np.maximum(self._attributions(image, target).sum(axis=-1), 0.0)
