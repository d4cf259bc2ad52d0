"""Localisation scores of saliency maps against ground-truth cue regions, per image, and their baselines.

Array-level functions, as pytorch-grad-cam keeps its metrics apart from its methods: the audit
(:mod:`painxai.audit`) chooses the images, computes the maps and turns these per-image scores into means
with intervals and verdicts. Three scores per map (maps (N, S, S) on the model's input crop, region label
maps (N, S, S), the images' cue intensities (N, R) for the R ``CUE_REGIONS``):

- the strict **pointing game** (:func:`pointing_scores`): 1 when the map's maximum lies on a cue region, the
  share of tied maxima that do when several pixels tie (the expected hit under a random tie-break);
- the **cue share**: the share of the map's positive mass on the cue regions;
- the **cue correlation**, the one score specific to the image: the Spearman rank correlation, over the cue
  regions present, between the map's mean positive value in each region and that image's cue intensity.
  A map that lights the same place on every face cannot follow each face's own cues.

One rule for empty maps (no positive finite value) everywhere: an empty map points nowhere, so it scores 0
on all three (a miss, no mass on the cues, no agreement with them); it is never left out, and the audit
counts such images. An image whose cue intensities do not differ has nothing to rank: its correlation is
NaN and it is left out of that score (the audit counts those too).

Baselines that ignore the image are made at the model's own map resolution (h, w) and upsampled like its
maps, so that no baseline depends on the grid's parity: every **single-cell** map (:func:`cell_maps`; the
audit keeps the best one per score, chosen with hindsight on the same images) and priors the audit builds
from the training folds' ground truth and from the model's own mean map. :func:`best_possible` gives what
the best map at that resolution could score (for the cue correlation: whether any map of those cells can
order the cue regions as each image's cues, a small linear programme per image), so a check that no map
could pass at that grid can be told from one the model fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy.stats import rankdata

from painxai.data.regions import CUE_REGIONS, REGIONS
from painxai.explain.sanity import nan_mean, spearman_per_image

CUE_IDS = tuple(REGIONS.index(name) + 1 for name in CUE_REGIONS)  # label-map values of the cue regions
MIN_REGIONS_TO_RANK = 3


@dataclass(frozen=True)
class Scores:
    """Per-image localisation scores of one set of maps, each (N,) float64; ``empty`` (N,) bool."""

    pointing: np.ndarray
    share: np.ndarray
    correlation: np.ndarray
    empty: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return {"pointing": self.pointing, "share": self.share, "correlation": self.correlation}[name]


SCORE_NAMES = ("pointing", "share", "correlation")


def empty_maps(maps: np.ndarray) -> np.ndarray:
    """(N,) bool: maps (N, H, W) with no positive finite value (they point nowhere)."""
    flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    return ~np.any(np.isfinite(flat) & (flat > 0), axis=1)


def pointing_score(heatmap: np.ndarray, hits: np.ndarray) -> float:
    """The pointing game of one map (H, W) against a boolean hit area (H, W): 1 if its maximum lies in it,
    the share of tied maxima that do when several pixels tie, 0 for an empty map."""
    clean = np.where(np.isfinite(heatmap), heatmap, -np.inf)
    top = float(clean.max())
    if not top > 0:
        return 0.0
    return float(hits[np.isclose(clean, top, rtol=1e-5, atol=0.0)].mean())


def hit_area(label_crop: np.ndarray) -> np.ndarray:
    """The cue-region pixels of a label map (strict pointing game, no tolerance: with the usual 15 px at
    224 px the centre of a face crop, beside the nasolabial folds, would hit on every image)."""
    return np.isin(label_crop, CUE_IDS)


def pointing_scores(maps: np.ndarray, label_crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N,) pointing game of maps (N, S, S) against label maps (N, S, S)."""
    return np.array([pointing_score(m, hit_area(labels)) for m, labels in zip(maps, label_crops, strict=True)])


def _positive(maps: np.ndarray) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    return np.where(np.isfinite(maps) & (maps > 0), maps, 0.0)


def cue_shares(maps: np.ndarray, label_crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N,) share of each map's positive mass on the cue regions; 0 for an empty map."""
    out = np.zeros(len(maps))
    for index, (heatmap, labels) in enumerate(zip(_positive(maps), label_crops, strict=True)):
        total = heatmap.sum()
        if total > 0:
            out[index] = heatmap[hit_area(labels)].sum() / total
    return out


def cue_densities(maps: np.ndarray, label_crops: Sequence[np.ndarray]) -> np.ndarray:
    """(N, R) mean positive map value inside each cue region (NaN where the region is not in the crop)."""
    out = np.full((len(maps), len(CUE_IDS)), np.nan)
    for index, (heatmap, labels) in enumerate(zip(_positive(maps), label_crops, strict=True)):
        for column, region in enumerate(CUE_IDS):
            inside = labels == region
            if inside.any():
                out[index, column] = heatmap[inside].mean()
    return out


def rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) Spearman correlation of the rows of a and b (N, R), over the columns finite in both (average
    ranks for ties). A row of ``a`` without spread (an empty or flat map) scores 0: it follows nothing; a row
    of ``b`` without spread, or fewer than ``MIN_REGIONS_TO_RANK`` columns, gives NaN: nothing to follow."""
    out = np.full(len(a), np.nan)
    for index, (x, y) in enumerate(zip(np.asarray(a, float), np.asarray(b, float), strict=True)):
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() < MIN_REGIONS_TO_RANK or np.ptp(y[keep]) == 0:
            continue
        if np.ptp(x[keep]) == 0:
            out[index] = 0.0
            continue
        out[index] = np.corrcoef(rankdata(x[keep]), rankdata(y[keep]))[0, 1]
    return out


def score_maps(maps: np.ndarray, label_crops: Sequence[np.ndarray], intensities: np.ndarray) -> Scores:
    """The three scores (see the module doc) of maps (N, S, S) against label maps (N, S, S) and the images'
    cue intensities (N, R) in ``CUE_REGIONS`` order."""
    maps = np.asarray(maps)
    return Scores(
        pointing=pointing_scores(maps, label_crops),
        share=cue_shares(maps, label_crops),
        correlation=rank_correlations(cue_densities(maps, label_crops), intensities),
        empty=empty_maps(maps),
    )


def truth_maps(label_crops: Sequence[np.ndarray], intensities: np.ndarray) -> np.ndarray:
    """(N, S, S) float32 ground truth: each cue region's pixels hold that image's cue intensity, others 0."""
    out = np.zeros((len(label_crops), *np.shape(label_crops[0])), np.float32)
    for index, (labels, row) in enumerate(zip(label_crops, np.asarray(intensities), strict=True)):
        for region, value in zip(CUE_IDS, row, strict=True):
            out[index][labels == region] = value
    return out


def to_grid(maps: np.ndarray, low_shape: tuple[int, int]) -> np.ndarray:
    """Area-average maps (N, S, S) down to (N, h, w): what a map of h x w cells can hold of them."""
    import cv2

    return np.stack([cv2.resize(np.asarray(m, np.float32), (low_shape[1], low_shape[0]),
                                interpolation=cv2.INTER_AREA) for m in maps])


def through_grid(maps: np.ndarray, low_shape: tuple[int, int]) -> np.ndarray:
    """Maps (N, S, S) as a map of ``low_shape`` cells would draw them: down to the grid, up like the model's."""
    from painxai.explain.cam import upsample

    return upsample(to_grid(maps, low_shape), np.shape(maps)[1:])


def cell_maps(low_shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(h * w, S, S) float32: each single cell of a ``low_shape`` grid lit alone, upsampled like a model's map."""
    from painxai.explain.cam import upsample

    cells = np.eye(low_shape[0] * low_shape[1], dtype=np.float32).reshape(-1, *low_shape)
    return upsample(cells, size)


def best_cell_scores(
    low_shape: tuple[int, int], label_crops: Sequence[np.ndarray], intensities: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Per score, the per-image scores (N,) of the single-cell map with the best mean on these images, and
    that cell's index (row-major): the strongest fixed map at this resolution, chosen with hindsight."""
    size = np.shape(label_crops[0])
    cells = cell_maps(low_shape, size)
    per_cell = [score_maps(np.repeat(cell[None], len(label_crops), axis=0), label_crops, intensities)
                for cell in cells]
    best: dict[str, np.ndarray] = {}
    chosen: dict[str, int] = {}
    for name in SCORE_NAMES:
        means = [nan_mean(scores[name]) for scores in per_cell]
        index = int(np.argmax([-np.inf if m is None else m for m in means]))
        best[name], chosen[name] = per_cell[index][name], index
    return best, chosen


def reachable_order(cells: np.ndarray, labels: np.ndarray, cues: np.ndarray, margin: float = 1e-3) -> bool:
    """Can some map of these cells (C, S, S), with non-negative cell values, give the cue regions of
    ``labels`` (S, S) mean values in the same order as ``cues`` (R,)? A small linear programme: each pair of
    neighbouring cues in the order (strictly different) asks for a density gap of at least ``margin`` (cell
    values in [0, 1]). False when fewer than ``MIN_REGIONS_TO_RANK`` regions are in the crop."""
    from scipy.optimize import linprog

    present = [r for r, region in enumerate(CUE_IDS) if (labels == region).any()]
    if len(present) < MIN_REGIONS_TO_RANK:
        return False
    # density[r] = mean over region r of the upsampled cell maps, linear in the cell values.
    density = np.stack([cells[:, labels == CUE_IDS[r]].mean(axis=1) for r in present])  # (R', C)
    order = np.argsort(-np.asarray(cues)[present], kind="stable")
    rows = [density[low] - density[high] for high, low in pairwise(order)
            if cues[present[high]] > cues[present[low]]]
    if not rows:
        return False
    result = linprog(np.zeros(cells.shape[0]), A_ub=np.array(rows), b_ub=np.full(len(rows), -margin),
                     bounds=(0.0, 1.0), method="highs")
    return bool(result.status == 0)


def best_possible(
    low_shape: tuple[int, int], label_crops: Sequence[np.ndarray], intensities: np.ndarray
) -> dict[str, float | None]:
    """What the best map at this resolution could score on average. Pointing game: the best cell of each
    image. Cue correlation: 1 for an image whose cue order some map of these cells can give its regions
    (:func:`reachable_order`), else what that image's own ground truth through the grid scores. Cue share:
    the ground truth through the grid. At the crop's own resolution (an input method's map) the ground truth
    itself is the best map, and its scores are returned without a grid."""
    size = np.shape(label_crops[0])
    if tuple(low_shape) == tuple(size):
        truth = score_maps(truth_maps(label_crops, intensities), label_crops, intensities)
        return {"pointing": float(truth.pointing.mean()), "share": nan_mean(truth.share),
                "correlation": nan_mean(truth.correlation)}
    oracle = score_maps(through_grid(truth_maps(label_crops, intensities), low_shape), label_crops, intensities)
    cells = cell_maps(low_shape, size)
    hits = np.array([[pointing_score(cell, hit_area(labels)) for cell in cells] for labels in label_crops])
    reachable = np.array([reachable_order(cells, labels, cues) for labels, cues in
                          zip(label_crops, np.asarray(intensities), strict=True)])
    correlation = np.where(reachable & np.isfinite(oracle.correlation), 1.0, oracle.correlation)
    return {"pointing": float(hits.max(axis=1).mean()), "share": nan_mean(oracle.share),
            "correlation": nan_mean(correlation)}


def fold_agreement(fold_maps: np.ndarray) -> float | None:
    """Mean over images of the mean pairwise Spearman correlation of F fold maps (F, N, H, W)."""
    pairs = [
        spearman_per_image(fold_maps[a], fold_maps[b])
        for a in range(len(fold_maps)) for b in range(a + 1, len(fold_maps))
    ]
    return nan_mean(np.array(pairs)) if pairs else None
