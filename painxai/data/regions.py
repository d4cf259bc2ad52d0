"""NFCS facial regions: names, label-map ids, and the FaceMesh landmarks that outline them.

One vocabulary for the synthetic twin's ground-truth masks, the masks drawn from the 468
FaceMesh landmarks on real photos, and the region attribution of the explanations.

A region mask is stored as a *label map*: a uint8 image the size of the photo where pixel value
``i + 1`` means ``REGIONS[i]`` and 0 means "elsewhere". The twin writes it beside each image as
``<image stem>.regions.png`` (see :func:`mask_path`); :func:`read_label_map` is its one reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from painxai.errors import PainxaiError

# NFCS regions (docs/PROTOCOL.md#facial-regions): brow bulge lives on forehead_brow, eye squeeze on eyes,
# nasolabial furrow on nasolabial, open lips / mouth stretch on mouth, chin quiver on chin.
REGIONS: tuple[str, ...] = ("forehead_brow", "eyes", "nose", "nasolabial", "mouth", "chin")
# The regions where the twin draws pain cues (and where a faithful model should look).
CUE_REGIONS: tuple[str, ...] = ("forehead_brow", "eyes", "nasolabial", "mouth")

# MediaPipe FaceMesh indices per region (docs/PROTOCOL.md#facial-regions). Right/left are the newborn's own.
LANDMARKS: dict[str, tuple[int, ...]] = {
    "glabella": (8, 9, 55, 107, 168, 193, 221, 285, 336, 417, 441),
    "forehead": (10, 66, 67, 69, 103, 104, 105, 107, 108, 109, 151, 296, 297, 299, 332, 333, 334, 336, 337, 338),
    "brow_right": (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
    "brow_left": (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    "eye_right": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "eye_left": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "nose": (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440),
    "nasolabial_right": (36, 57, 92, 98, 129, 165, 186, 203, 205, 206, 212, 216),
    "nasolabial_left": (266, 287, 322, 327, 358, 391, 410, 423, 425, 426, 432, 436),
    "mouth": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
    "chin": (18, 32, 83, 106, 140, 148, 152, 171, 175, 176, 182, 194, 199, 200, 201, 204, 208, 211, 262, 313,
             335, 369, 377, 396, 400, 406, 418, 421, 424, 428, 431),
}
# Which landmark groups make up each NFCS region (each group is filled as its convex hull).
REGION_GROUPS: dict[str, tuple[str, ...]] = {
    "forehead_brow": ("forehead", "glabella", "brow_right", "brow_left"),
    "eyes": ("eye_right", "eye_left"),
    "nose": ("nose",),
    "nasolabial": ("nasolabial_right", "nasolabial_left"),
    "mouth": ("mouth",),
    "chin": ("chin",),
}


# Order in which regions are painted into a label map: where hulls overlap, the later one wins.
# Cue regions are painted last so that, e.g., the chin hull (which reaches the lower lip) does
# not swallow the mouth, and the nose wings do not swallow the nasolabial furrows.
PAINT_ORDER: tuple[str, ...] = ("chin", "nose", "forehead_brow", "nasolabial", "eyes", "mouth")


def mask_path(image_path: str | os.PathLike[str]) -> Path:
    """Where the ground-truth region label map of ``image_path`` lives (twin images only)."""
    image_path = Path(image_path)
    return image_path.with_name(f"{image_path.stem}.regions.png")


class RegionMaskError(PainxaiError):
    """A stored region label map that does not belong with its image (unreadable, wrong size or values)."""


def read_label_map(image_path: str | os.PathLike[str], shape: tuple[int, ...]) -> np.ndarray | None:
    """The ground-truth label map (H, W) uint8 stored beside ``image_path``, or None when there is none.

    ``shape``: the image's shape (H, W, ...) as loaded. One rule for every reader: no file gives None (the
    caller then draws regions from landmarks or goes without); a file that cannot be read, is not one
    channel, holds ids beyond ``REGIONS`` or has another (H, W) than the image raises RegionMaskError
    naming the file. Such a mask no longer belongs with its image (the image was replaced or resized),
    and using it, or silently dropping it, would give region shares for the wrong pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = mask_path(image_path)
    if not path.is_file():
        return None
    try:
        with Image.open(path) as stored:
            label_map = np.asarray(stored)
    except (OSError, UnidentifiedImageError) as error:
        raise RegionMaskError(f"{path}: cannot read this region label map ({error}); delete it or regenerate "
                              f"the twin") from None
    fix = "regenerate the twin, or delete the mask to draw regions from landmarks"
    if label_map.ndim != 2 or label_map.dtype != np.uint8:
        raise RegionMaskError(f"{path}: a region label map is one uint8 channel, this is {label_map.dtype} "
                              f"{label_map.shape}; {fix}")
    if label_map.shape != tuple(shape[:2]):
        raise RegionMaskError(f"{path}: region label map of {label_map.shape[1]}x{label_map.shape[0]} pixels beside "
                              f"an image of {shape[1]}x{shape[0]}; {fix}")
    if label_map.max(initial=0) > len(REGIONS):
        raise RegionMaskError(f"{path}: region id {int(label_map.max())} is not one of the {len(REGIONS)} regions; "
                              f"{fix}")
    return label_map


def label_map_to_masks(label_map: np.ndarray) -> dict[str, np.ndarray]:
    """Split a label map (H, W) uint8 into one boolean mask (H, W) per region name."""
    return {name: label_map == index + 1 for index, name in enumerate(REGIONS)}


def masks_to_label_map(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Merge boolean masks (H, W) per region into a label map; overlaps go by :data:`PAINT_ORDER`."""
    shape = next(iter(masks.values())).shape
    label_map = np.zeros(shape, dtype=np.uint8)
    for name in PAINT_ORDER:
        if name in masks:
            label_map[masks[name]] = REGIONS.index(name) + 1
    return label_map


# The twin's truth.csv (written by painxai.synth.twin beside its manifest): the intensity in [0, 1] of the
# cue drawn in each cue region, one column per region in CUE_REGIONS order.
CUE_COLUMNS: tuple[str, ...] = ("cue_brow", "cue_eyes", "cue_nasolabial", "cue_mouth")
TRUTH_FILE = "truth.csv"


def read_cue_intensities(folder: str | os.PathLike[str]) -> dict[str, np.ndarray] | None:
    """Absolute image path -> its cue intensities (R,) float64 in ``CUE_REGIONS`` order, from
    ``folder/truth.csv`` (paths in it are relative to ``folder``); None when the data have no such file (real
    data). A file that cannot be read or lacks a column raises RegionMaskError naming the file and line."""
    import csv

    path = Path(folder) / TRUTH_FILE
    if not path.is_file():
        return None
    fix = "regenerate the twin (painxai synth), or delete the file"
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RegionMaskError(f"{path}: cannot read ({error}); {fix}") from None
    missing = [c for c in ("path", *CUE_COLUMNS) if rows and c not in rows[0]]
    if missing:
        raise RegionMaskError(f"{path}: no column {', '.join(missing)}; {fix}")
    out = {}
    for line, row in enumerate(rows, start=2):
        try:
            out[str((Path(folder) / row["path"]).resolve())] = np.array([float(row[c]) for c in CUE_COLUMNS])
        except (TypeError, ValueError):
            raise RegionMaskError(f"{path}, line {line}: cue intensities must be numbers; {fix}") from None
    return out
