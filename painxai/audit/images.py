"""The audit's images: out-of-fold test images spread over folds and classes, loaded once for every model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from painxai.audit.store import AuditError
from painxai.labels import PAIN


def choose_images(manifest: pd.DataFrame, folds_document: dict, count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` manifest rows spread over the test folds and both classes, with a ``fold`` column (the fold
    whose test set holds the row's subject). Reproducible for a given ``seed``."""
    from painxai.data.folds import fold_of_subjects

    if count < 1:
        raise AuditError(f"--images must be at least 1, got {count}")
    fold_of = fold_of_subjects(folds_document)
    rows = manifest.assign(fold=[fold_of.get(str(s), -1) for s in manifest["subject"]])
    rows = rows[rows["fold"] >= 0].sample(frac=1.0, random_state=seed)
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


def load_photos(rows: pd.DataFrame) -> AuditPhotos:
    """The photos of ``rows`` with their face boxes and region label maps: the twin's masks, else FaceMesh
    landmark regions, else none."""
    from painxai.data.images import load_image
    from painxai.data.regions import read_label_map
    from painxai.faces.detection import locate_face
    from painxai.faces.landmarks import photo_regions

    photos, boxes, label_maps, kinds = [], [], [], set()
    for row in rows.itertuples(index=False):
        photo = load_image(row.path)
        box, _search, face = locate_face(photo, row.face_box)
        truth = read_label_map(row.path, photo.shape)
        if truth is not None:
            kinds.add("masks")
        else:
            truth = photo_regions(photo, face)[1]
            kinds.add("landmarks" if truth is not None else "none")
        photos.append(photo)
        boxes.append(box)
        label_maps.append(truth)
    source = "masks" if kinds == {"masks"} else ("landmarks" if "landmarks" in kinds and "masks" not in kinds else None)
    return AuditPhotos(rows, photos, boxes, label_maps, source)
