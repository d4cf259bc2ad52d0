"""The audit's images: out-of-fold test images spread over folds and classes, loaded once for every model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai.audit.store import AuditError
from painxai.labels import PAIN


def with_test_folds(manifest: pd.DataFrame, folds_document: dict) -> pd.DataFrame:
    """The manifest rows whose subject is in a test fold, with that fold as a ``fold`` column."""
    from painxai.data.folds import fold_of_subjects

    fold_of = fold_of_subjects(folds_document)
    rows = manifest.assign(fold=[fold_of.get(str(s), -1) for s in manifest["subject"]])
    return rows[rows["fold"] >= 0]


def pain_images(manifest: pd.DataFrame, folds_document: dict) -> pd.DataFrame:
    """Every pain image of a test fold (each has exactly one out-of-fold model), with a ``fold`` column."""
    rows = with_test_folds(manifest, folds_document)
    return rows[rows["label"] == PAIN].reset_index(drop=True)


def choose_images(manifest: pd.DataFrame, folds_document: dict, count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` manifest rows spread over the test folds and both classes, with a ``fold`` column (the fold
    whose test set holds the row's subject). Reproducible for a given ``seed``."""
    if count < 1:
        raise AuditError(f"--images must be at least 1, got {count}")
    rows = with_test_folds(manifest, folds_document).sample(frac=1.0, random_state=seed)
    # Deal in turns: in each turn every fold gives one image, neighbouring folds the other class.
    turn = rows.groupby(["fold", "label"]).cumcount()
    alternate = (rows["fold"] + (rows["label"] == PAIN) + turn) % 2
    rows = rows.assign(_turn=turn, _class=alternate)
    rows = rows.sort_values(["_turn", "_class", "fold"], kind="stable").drop(columns=["_turn", "_class"]).head(count)
    return rows.reset_index(drop=True)


@dataclass
class AuditPhotos:
    """The chosen images, loaded once for every model: photos, face boxes, faces, region label maps."""

    rows: pd.DataFrame
    photos: list[np.ndarray]
    boxes: list[Any]
    label_maps: list[np.ndarray | None]
    source: str | None  # "masks", "landmarks" or None (no regions)
    cues: np.ndarray | None = None  # (N, R) cue intensities in CUE_REGIONS order (the twin's truth.csv), or None


def load_photos(rows: pd.DataFrame, truth_folder: str | os.PathLike[str] | None = None) -> AuditPhotos:
    """The photos of ``rows`` with their face boxes and region label maps: the twin's masks, else FaceMesh
    landmark regions, else none; and, when ``truth_folder`` holds the twin's truth.csv, each image's cue
    intensities (NaN for an image it does not list)."""
    from painxai.data.images import load_image
    from painxai.data.regions import CUE_REGIONS, read_cue_intensities
    from painxai.faces.detection import locate_face
    from painxai.faces.landmarks import region_map

    photos, boxes, label_maps, kinds = [], [], [], set()
    for row in rows.itertuples(index=False):
        photo = load_image(row.path)
        box, _search, face = locate_face(photo, row.face_box)
        regions = region_map(photo, row.path, face=face)
        kinds.add(regions.source or "none")
        photos.append(photo)
        boxes.append(box)
        label_maps.append(regions.label_map)
    source = "masks" if kinds == {"masks"} else ("landmarks" if "landmarks" in kinds and "masks" not in kinds else None)
    truth = read_cue_intensities(truth_folder) if truth_folder is not None else None
    cues = None
    if truth is not None:
        unknown = np.full(len(CUE_REGIONS), np.nan)
        listed = [truth.get(str(Path(path).resolve()), unknown) for path in rows["path"]]
        cues = np.array(listed, dtype=np.float64).reshape(len(rows), len(CUE_REGIONS))
    return AuditPhotos(rows, photos, boxes, label_maps, source, cues)
