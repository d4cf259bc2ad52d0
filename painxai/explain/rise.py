"""RISE (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for Explanation"): an input attribution
that needs no gradient and no layer.

``masks`` random binary grids of ``grid`` x ``grid`` cells, each cell kept with probability ``keep``, are
upsampled bilinearly (half-pixel centres) to ``(grid + 1)`` cells of size ceil(H / grid) and cropped to
(H, W) at a random shift of up to one cell, so that their edges fall anywhere. Each masked copy
``image * mask`` (in preprocessed space: masked pixels take the preprocessing's zero, as in Score-CAM)
goes through the model, and the map is the masks weighted by the explained class's probability:

    map = sum_i P(class | image * mask_i) * mask_i / (masks * keep),

the expected probability given that a pixel is kept (the paper's eq. 6 with its Monte Carlo estimate).
The masks come from ``seed`` and are the same for every image, so a map is reproducible. Values are
probabilities in [0, 1]; a RISE map is never empty. Cost: ``masks`` forward passes per image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from painxai.explain.base import InputMethod

if TYPE_CHECKING:
    import keras

    from painxai.explain.cam import ClassTarget

DEFAULT_MASKS = 128
DEFAULT_GRID = 6
DEFAULT_KEEP = 0.5


def rise_masks(count: int, grid: int, keep: float, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(count, H, W) float32 masks in [0, 1] (see the module doc): binary ``grid`` x ``grid`` cells kept with
    probability ``keep``, upsampled bilinearly to (grid + 1) cells and cropped at a random shift."""
    from painxai.explain.cam import upsample

    rng = np.random.default_rng(seed)
    cells = (rng.random((count, grid, grid)) < keep).astype(np.float32)
    cell_h, cell_w = math.ceil(size[0] / grid), math.ceil(size[1] / grid)
    big = upsample(cells, ((grid + 1) * cell_h, (grid + 1) * cell_w))
    shifts = rng.integers(0, (cell_h, cell_w), size=(count, 2))
    return np.stack([big[i, y : y + size[0], x : x + size[1]] for i, (y, x) in enumerate(shifts)])


class RISE(InputMethod):
    """RISE with ``masks`` masks of ``grid`` x ``grid`` cells kept with probability ``keep`` (module doc)."""

    name = "rise"
    label = "RISE (input, random masks)"
    audit_options: ClassVar[Mapping[str, int]] = {"masks": 64}

    def __init__(
        self, model: keras.Model, layer: str | None = None, trunk: keras.Model | None = None,
        masks: int = DEFAULT_MASKS, grid: int = DEFAULT_GRID, keep: float = DEFAULT_KEEP, seed: int = 0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(model, layer, trunk, batch_size)
        if masks < 1 or grid < 1 or not 0.0 < keep < 1.0:
            raise ValueError("masks and grid must be at least 1, and keep in (0, 1)")
        self.count, self.grid, self.keep, self.seed = masks, grid, keep, seed
        self._masks: dict[tuple[int, int], np.ndarray] = {}

    def masks(self, size: tuple[int, int]) -> np.ndarray:
        """This instance's masks (masks, H, W) float32 at ``size``, made once per size."""
        size = (int(size[0]), int(size[1]))
        if size not in self._masks:
            self._masks[size] = rise_masks(self.count, self.grid, self.keep, size, self.seed)
        return self._masks[size]

    def attribute(self, image: np.ndarray, target: ClassTarget) -> np.ndarray:
        masks = self.masks(image.shape[:2])
        probabilities = target.probability(self.logits(image[None] * masks[..., None]))
        weighted = np.tensordot(probabilities.astype(np.float64), masks, axes=1)
        return (weighted / (self.count * self.keep)).astype(np.float32)
