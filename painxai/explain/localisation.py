"""Localisation scores of saliency maps against ground-truth regions, and the agreement of fold maps.

Array-level functions, as pytorch-grad-cam keeps its metrics apart from its methods: the audit
(:mod:`painxai.audit`) chooses the images and calls these.

- the strict **pointing game** (:func:`pointing_score`): the map's maximum on a cue region; a maximum tied
  over several pixels scores the share of those pixels that hit (the expected hit under a random tie-break);
- the **cue share**: the share of positive map mass on the cue regions;
- both beside model-free baselines made at the model's own map resolution and upsampled like its maps
  (:func:`localisation`): a uniform map, random maps (``RANDOM_DRAWS`` per image) and a centred Gaussian;
- **fold agreement** (:func:`fold_agreement`): how alike the fold models' maps of one image are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from painxai.explain.sanity import nan_mean, spearman_per_image

RANDOM_DRAWS = 20


def pointing_score(heatmap: np.ndarray, hits: np.ndarray) -> float:
    """The pointing game of one map (H, W) against a boolean hit area (H, W): 1 if its maximum lies in it,
    the share of tied maxima that do when several pixels tie, 0 for a map without a positive value, NaN
    for a map that is not finite (left out of the means by ``nan_mean``)."""
    top = float(heatmap.max())
    if not np.isfinite(top):
        return float("nan")
    if top <= 0:
        return 0.0
    return float(hits[np.isclose(heatmap, top, rtol=1e-5, atol=0.0)].mean())


def hit_area(label_crop: np.ndarray) -> np.ndarray:
    """The cue-region pixels of a label map (strict pointing game, no tolerance: with the usual 15 px at
    224 px the centre of a face crop, beside the nasolabial folds, would hit on every image)."""
    from painxai.data.regions import CUE_REGIONS, REGIONS

    return np.isin(label_crop, [REGIONS.index(name) + 1 for name in CUE_REGIONS])


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """A centred Gaussian (h, w) float32, sigma a quarter of the longer side (in cells)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    sigma = max(shape) / 4.0
    centre = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    return np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def localisation(
    maps: np.ndarray, low_shape: tuple[int, int], label_crops: Sequence[np.ndarray], seed: int = 0
) -> dict[str, Any]:
    """Pointing game and cue-region share of maps (N, S, S) against label maps (N, S, S), and the same for
    a uniform, a random (``RANDOM_DRAWS`` draws) and a centred map made at ``low_shape`` (the model's map
    resolution) and upsampled to S like the model's maps."""
    from painxai.explain.attribution import cue_share, region_shares
    from painxai.explain.cam import upsample

    rng = np.random.default_rng(seed)
    size = maps.shape[1:]
    centre = upsample(centre_prior(low_shape)[None], size)[0]
    uniform = np.ones(size, dtype=np.float32)
    scores: dict[str, list[float]] = {k: [] for k in ("model", "uniform", "random", "centre")}
    shares: dict[str, list[float]] = {k: [] for k in scores}
    for heatmap, labels in zip(maps, label_crops, strict=True):
        hits = hit_area(labels)
        randoms = upsample(rng.random((RANDOM_DRAWS, *low_shape), dtype=np.float32), size)
        for name, candidates in (("model", [heatmap]), ("uniform", [uniform]), ("centre", [centre]),
                                 ("random", list(randoms))):
            scores[name].append(float(np.mean([pointing_score(c, hits) for c in candidates])))
            share = np.array([cue_share(region_shares(c, labels)) for c in candidates])  # NaN: empty map
            shares[name].append(float(share[np.isfinite(share)].mean()) if np.isfinite(share).any() else np.nan)
    baselines = ("uniform", "random", "centre")
    return {
        "source": "masks",
        "images": len(maps),
        "pointing_game": nan_mean(scores["model"]),
        "baseline_pointing_game": {k: nan_mean(scores[k]) for k in baselines},
        "cue_share": nan_mean(shares["model"]),
        "baseline_cue_share": {k: nan_mean(shares[k]) for k in baselines},
    }


def fold_agreement(fold_maps: np.ndarray) -> float | None:
    """Mean over images of the mean pairwise Spearman correlation of F fold maps (F, N, H, W)."""
    pairs = [
        spearman_per_image(fold_maps[a], fold_maps[b])
        for a in range(len(fold_maps)) for b in range(a + 1, len(fold_maps))
    ]
    return nan_mean(np.array(pairs)) if pairs else None
