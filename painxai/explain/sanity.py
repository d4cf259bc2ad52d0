"""The model-parameter randomisation test (Adebayo et al. 2018, "Sanity checks for saliency maps").

A map that explains a model must change when the model's learned weights are destroyed. The test
re-initialises the model's weighted layers one after another, from the output layer down ("cascading"),
recomputes the maps after each step, and measures how similar each is to the trained model's map. A map
that stays the same (high rank correlation) shows the image, not the model: an edge detector passes
through any randomisation unchanged.

Randomisation: every weight array of a layer (kernel and bias) is replaced by Gaussian noise of the same
shape, mean 0 and the *same standard deviation as the trained array*, so activations keep their scale and
only the learned structure is lost. Only layers with a kernel (Dense, Conv2D and their depthwise and
separable kinds) are randomised; batch-normalisation statistics are kept (randomising a variance could
make it negative).

Similarity of two maps (N, H, W) is measured per image by the Spearman rank correlation of the pixels and
by SSIM of the maps each scaled to [0, 1] by its own maximum (:func:`ssim`: scikit-image's default SSIM,
written with scipy so that the dashboard needs no image-processing package; the tests compare the two).
A map without any positive value (ReLU'd to zero) has no ranking: two such maps give NaN (nothing to
compare), one such map against a non-empty one gives 0 (nothing in common).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHTED_LAYER_KINDS = ("Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D")


def _is_weighted(layer: Any) -> bool:
    return type(layer).__name__ in WEIGHTED_LAYER_KINDS and bool(layer.get_weights())


def cascade_layers(model: Any, cam_layer: str, conv_steps: int = 3) -> list[str]:
    """The layers a cascading randomisation goes through, output first.

    Every weighted layer after ``cam_layer`` in the model's (topological) layer order (the head: it
    shapes the gradients), then the last ``conv_steps`` weighted layers at or before ``cam_layer`` (the
    last conv blocks: they shape the activations). ``model`` is a Keras model holding ``cam_layer``.
    """
    names = [layer.name for layer in model.layers]
    if cam_layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {cam_layer!r}")
    position = names.index(cam_layer)
    weighted = [(index, layer.name) for index, layer in enumerate(model.layers) if _is_weighted(layer)]
    above = [name for index, name in weighted if index > position]
    below = [name for index, name in weighted if index <= position]
    return [*reversed(above), *reversed(below[-conv_steps:] if conv_steps > 0 else [])]


def randomised_weights(weights: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Gaussian arrays shaped and scaled (same std, mean 0) like ``weights``; a constant array stays as it is."""
    out = []
    for array in weights:
        std = float(np.std(array))
        out.append(array.copy() if std == 0 else rng.normal(0.0, std, array.shape).astype(array.dtype))
    return out


def _ranks(flat: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis of (N, P) (ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(flat, axis=-1)


def spearman_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation (N,) float64 of maps a, b (N, H, W) pixel by pixel (rules in the module doc)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if a.shape != b.shape:
        raise ValueError(f"maps must have the same shape; got {a.shape} and {b.shape}")
    flat_a, flat_b = np.ptp(a, axis=1) == 0, np.ptp(b, axis=1) == 0
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denominator = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    rho = np.divide((ra * rb).sum(axis=1), denominator, out=np.zeros(len(a)), where=denominator > 0)
    rho[flat_a != flat_b] = 0.0
    rho[flat_a & flat_b] = np.nan
    return rho


def ssim(x: np.ndarray, y: np.ndarray, window: int, data_range: float = 1.0) -> float:
    """Mean structural similarity of two images x, y (H, W) float64, as scikit-image's
    ``structural_similarity`` computes it by default (Wang et al. 2004): a ``window`` x ``window`` uniform
    window (odd, at most the smaller side), sample covariances, K1 = 0.01, K2 = 0.03, the mean over the
    pixels at least window // 2 from the edge (the windows that do not reach into the reflected border)."""
    from scipy.ndimage import uniform_filter

    if window % 2 == 0 or window > min(x.shape):
        raise ValueError(f"window {window} must be odd and at most the smaller side of {x.shape}")
    n_pixels = window**2
    sample = n_pixels / (n_pixels - 1)  # unbiased (co)variances, as scikit-image's default

    def mean(image: np.ndarray) -> np.ndarray:
        return uniform_filter(image, size=window)

    mean_x, mean_y = mean(x), mean(y)
    var_x = sample * (mean(x * x) - mean_x * mean_x)
    var_y = sample * (mean(y * y) - mean_y * mean_y)
    cov = sample * (mean(x * y) - mean_x * mean_y)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    score = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / (
        (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    )
    pad = (window - 1) // 2
    return float(score[pad : score.shape[0] - pad, pad : score.shape[1] - pad].mean(dtype=np.float64))


def ssim_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM (N,) float64 of maps a, b (N, H, W), each map scaled to [0, 1] by its own maximum; NaN when both
    maps are empty. Maps smaller than 3 x 3 pixels have no SSIM window: NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"maps must be (N, H, W) of one shape; got {a.shape} and {b.shape}")
    window = min(7, min(a.shape[1:]) - (1 - min(a.shape[1:]) % 2))  # the largest odd size <= 7 that fits
    out = np.full(len(a), np.nan)
    if window < 3:
        return out
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        top_x, top_y = max(x.max(), 0.0), max(y.max(), 0.0)
        if top_x == 0 and top_y == 0:
            continue
        x = np.clip(x / top_x, 0, 1) if top_x > 0 else np.zeros_like(x)
        y = np.clip(y / top_y, 0, 1) if top_y > 0 else np.zeros_like(y)
        out[index] = ssim(x, y, window)
    return out


def nan_mean(values: np.ndarray) -> float | None:
    """Mean over the finite values, or None when there is none (JSON has no NaN)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


@dataclass(frozen=True)
class RandomisationResult:
    """A cascading randomisation of S steps over N images.

    steps: layer randomised at each step (cumulative). spearman, ssim: (S, N) similarity of each step's map
    to the trained map (NaN where undefined, see the module doc).
    """

    steps: list[str]
    spearman: np.ndarray
    ssim: np.ndarray

    def summary(self) -> dict[str, Any]:
        """JSON-ready: steps, and per step the mean Spearman and SSIM over images (None where undefined)."""
        return {
            "steps": list(self.steps),
            "spearman": [nan_mean(row) for row in self.spearman],
            "ssim": [nan_mean(row) for row in self.ssim],
        }


def randomisation_test(
    model: Any, layers: Sequence[str], explain: Callable[[], np.ndarray], seed: int = 0,
    reference: np.ndarray | None = None,
) -> RandomisationResult:
    """Randomise ``layers`` of ``model`` one after another (cumulatively) and compare the maps.

    explain: computes the maps (N, H, W) of the fixed images under the model's *current* weights.
    reference: the trained model's maps (default: ``explain()`` before any change). The model is changed
    in place and restored to its trained weights before returning (also on error).
    """
    rng = np.random.default_rng(seed)
    reference = explain() if reference is None else np.asarray(reference)
    saved = {name: model.get_layer(name).get_weights() for name in layers}
    spearman, ssim = [], []
    try:
        for name in layers:
            model.get_layer(name).set_weights(randomised_weights(saved[name], rng))
            maps = explain()
            spearman.append(spearman_per_image(reference, maps))
            ssim.append(ssim_per_image(reference, maps))
    finally:
        for name, weights in saved.items():
            model.get_layer(name).set_weights(weights)
    count = len(reference)
    return RandomisationResult(
        steps=list(layers),
        spearman=np.array(spearman).reshape(len(layers), count),
        ssim=np.array(ssim).reshape(len(layers), count),
    )
