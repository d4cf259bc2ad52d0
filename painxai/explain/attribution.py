"""NFCS region attribution: where a map puts its positive mass, and the pointing game.

Label maps follow :mod:`painxai.data.regions`: value ``i + 1`` is ``REGIONS[i]``, 0 is "outside" every
region. They come from the twin's ground-truth masks or from FaceMesh landmarks on real photos.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from painxai.data.regions import CUE_REGIONS, REGIONS

OUTSIDE = "outside"
# The original pointing game (Zhang et al. 2016) counts a hit within 15 px of the object at
# 224 px; we scale that radius with the map's shorter side.
POINTING_TOLERANCE_AT_224 = 15.0


def _check_pair(heatmap: np.ndarray, label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    heatmap = np.asarray(heatmap, dtype=np.float64)
    label_map = np.asarray(label_map)
    if heatmap.ndim != 2 or heatmap.shape != label_map.shape:
        raise ValueError(f"heatmap {heatmap.shape} and label map {label_map.shape} must be the same (H, W)")
    if not np.all(np.isfinite(heatmap)):
        raise ValueError("heatmap has NaN or infinite values")
    return heatmap, label_map


def region_shares(heatmap: np.ndarray, label_map: np.ndarray) -> dict[str, float]:
    """The share of the map's positive mass in each region of ``REGIONS``, plus "outside".

    heatmap: (H, W) float (negative values count as 0). label_map: (H, W) uint8. The shares sum
    to 1; a map with no positive value gives NaN shares (no evidence anywhere to attribute).
    """
    heatmap, label_map = _check_pair(heatmap, label_map)
    positive = np.maximum(heatmap, 0.0)
    total = positive.sum()
    mass = np.bincount(label_map.ravel().astype(np.int64), weights=positive.ravel(), minlength=len(REGIONS) + 1)
    names = (OUTSIDE, *REGIONS)
    if total <= 0:
        return dict.fromkeys(names, float("nan"))
    return {name: float(mass[index] / total) for index, name in enumerate(names)}


def aggregate_shares(shares: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and std (ddof 0) of each region's share over images, skipping NaN (empty maps).

    Returns ``{region: {"mean": m, "std": s, "n": images counted}}``.
    """
    rows = list(shares)
    names = (*REGIONS, OUTSIDE)
    result = {}
    for name in names:
        values = np.array([row[name] for row in rows], dtype=np.float64)
        values = values[np.isfinite(values)]
        result[name] = {
            "mean": float(values.mean()) if values.size else float("nan"),
            "std": float(values.std()) if values.size else float("nan"),
            "n": int(values.size),
        }
    return result


def cue_share(shares: dict[str, float], regions: Sequence[str] = CUE_REGIONS) -> float:
    """The summed share of the cue regions (NaN for an empty map)."""
    return float(sum(shares[name] for name in regions))


def pointing_game(
    heatmap: np.ndarray, label_map: np.ndarray, regions: Sequence[str] = CUE_REGIONS, tolerance_px: float | None = None
) -> bool:
    """Does the map's maximum fall in (or within ``tolerance_px`` of) one of ``regions``?

    heatmap, label_map: (H, W). tolerance_px: default 15 px scaled to the map (15 at a 224 px
    shorter side), as in the original pointing game. A map with no positive value is a miss. The
    first maximum in row-major order is used when several pixels tie.
    """
    heatmap, label_map = _check_pair(heatmap, label_map)
    unknown = set(regions) - set(REGIONS)
    if unknown:
        raise ValueError(f"unknown regions {sorted(unknown)}; expected names from {REGIONS}")
    if heatmap.max() <= 0:
        return False
    if tolerance_px is None:
        tolerance_px = POINTING_TOLERANCE_AT_224 * min(heatmap.shape) / 224.0
    row, col = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    rows, cols = np.ogrid[: heatmap.shape[0], : heatmap.shape[1]]
    near = (rows - row) ** 2 + (cols - col) ** 2 <= tolerance_px**2
    ids = [REGIONS.index(name) + 1 for name in regions]
    return bool(np.isin(label_map[near], ids).any())
