"""Faithfulness: deletion and insertion curves (Petsiuk et al. 2018) and their areas.

Pixels are ranked by the map, most important first. **Deletion** replaces the top fraction of
pixels with a blurred copy of the image and follows the class probability as the fraction grows
(a faithful map makes it fall fast: low AUC is good). **Insertion** starts from the blurred copy and
reveals the top pixels of the original (a faithful map makes it rise fast: high AUC is good).

The blurred copy (Gaussian, sigma = 1/16 of the shorter side: about 14 px at 224) removes the fine
creases that carry the pain cues while keeping colours and the face's outline, so the modified
images stay closer to the training images than a flat mean colour would.

Ties in the ranking (ReLU'd maps are 0 over large areas) are broken at random with a fixed seed,
not in raster order, which would delete the top of the image first. A random map run through the
same procedure gives the reference a real map must beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from painxai.labels import PAIN

BLUR_FRACTION = 1.0 / 16.0

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Curves:
    """Curves of N images over S + 1 fractions (0, 1/S, ..., 1).

    fractions: (S + 1,). deletion, insertion: (N, S + 1) class probabilities.
    deletion_auc, insertion_auc: (N,) trapezoid areas over fractions in [0, 1].
    """

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> np.ndarray:
        return np.trapezoid(self.deletion, self.fractions, axis=1)

    @property
    def insertion_auc(self) -> np.ndarray:
        return np.trapezoid(self.insertion, self.fractions, axis=1)


def blurred(image: np.ndarray) -> np.ndarray:
    """The Gaussian-blurred copy (H, W, 3) uint8 that deleted pixels take (sigma = shorter side / 16)."""
    from scipy.ndimage import gaussian_filter

    sigma = BLUR_FRACTION * min(image.shape[:2])
    return np.clip(gaussian_filter(image.astype(np.float32), sigma=(sigma, sigma, 0)) + 0.5, 0, 255).astype(np.uint8)


def pixel_order(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices (H*W,) from the most to the least important; ties broken at random (seeded)."""
    heatmap = np.asarray(heatmap, dtype=np.float64).ravel()
    tie_breaker = np.random.default_rng(seed).random(heatmap.size)
    return np.lexsort((tie_breaker, -heatmap))


def deletion_insertion(
    images: np.ndarray, heatmaps: np.ndarray, predict: Predict, steps: int = 20, seed: int = 0
) -> Curves:
    """Deletion and insertion curves of RGB uint8 images (N, H, W, 3) under maps (N, H, W).

    predict: uint8 images (M, H, W, 3) -> probability (M,) of the explained class. It is called
    once per image with the 2 (S + 1) modified images in one batch.
    """
    images = np.asarray(images)
    heatmaps = np.asarray(heatmaps)
    if images.ndim != 4 or images.dtype != np.uint8 or heatmaps.shape != images.shape[:3]:
        raise ValueError(f"need uint8 images (N, H, W, 3) and maps (N, H, W); got {images.shape}, {heatmaps.shape}")
    if steps < 1:
        raise ValueError("steps must be at least 1")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    deletion, insertion = [], []
    for image, heatmap in zip(images, heatmaps, strict=True):
        batch = _modified_images(image, heatmap, fractions, seed)
        probabilities = np.asarray(predict(batch), dtype=np.float64).reshape(-1)
        if probabilities.shape[0] != len(batch):
            raise ValueError(f"predict returned {probabilities.shape[0]} values for {len(batch)} images")
        deletion.append(probabilities[: len(fractions)])
        insertion.append(probabilities[len(fractions) :])
    return Curves(fractions, np.array(deletion), np.array(insertion))


def _modified_images(image: np.ndarray, heatmap: np.ndarray, fractions: np.ndarray, seed: int) -> np.ndarray:
    """The deletion images then the insertion images, (2 (S + 1), H, W, 3) uint8."""
    height, width = heatmap.shape
    order = pixel_order(heatmap, seed)
    # rank[p] = position of pixel p in the order; pixel p is changed at fraction f when rank < f * H * W.
    rank: np.ndarray = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    rank = rank.reshape(height, width)
    cut = np.rint(fractions * order.size).astype(np.int64)
    changed = rank[None] < cut[:, None, None]  # (S + 1, H, W)
    base = blurred(image)
    deleted = np.where(changed[..., None], base[None], image[None])
    inserted = np.where(changed[..., None], image[None], base[None])
    return np.concatenate([deleted, inserted])


def random_map_curves(images: np.ndarray, predict: Predict, steps: int = 20, seed: int = 0) -> Curves:
    """The same curves under uniform random maps (the baseline a real map must beat)."""
    images = np.asarray(images)
    noise = np.random.default_rng(seed + 1).random(images.shape[:3])
    return deletion_insertion(images, noise, predict, steps, seed)


@dataclass(frozen=True)
class FaithfulnessAUCs:
    """Deletion and insertion AUCs (N,) of N images under their maps and under random maps."""

    deletion_auc: np.ndarray
    insertion_auc: np.ndarray
    random_deletion_auc: np.ndarray
    random_insertion_auc: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Field name -> its (N,) array."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def faithfulness_aucs(
    images: np.ndarray, heatmaps: np.ndarray, prob_pain: Predict, target: str, steps: int = 20, seed: int = 0
) -> FaithfulnessAUCs:
    """The faithfulness of maps (N, H, W) of RGB uint8 ``images`` (N, H, W, 3) that explain ``target``
    ("pain" or "nopain"): deletion and insertion AUCs following that class's probability (``prob_pain``:
    uint8 images (M, H, W, 3) -> pain probability (M,); no pain is 1 - it), beside those of random maps."""
    def class_prob(batch: np.ndarray) -> np.ndarray:
        pain = np.asarray(prob_pain(batch))
        return pain if target == PAIN else 1.0 - pain

    curves = deletion_insertion(images, heatmaps, class_prob, steps, seed)
    baseline = random_map_curves(images, class_prob, steps, seed)
    return FaithfulnessAUCs(curves.deletion_auc, curves.insertion_auc, baseline.deletion_auc, baseline.insertion_auc)
