"""Training images: face crops of a manifest, their augmented samples, and per-fold index sets.

All images of a run live in one :class:`ImagePool`: the manifest's face crops first (one per row,
in manifest order), then the augmented samples of the subjects that some fold trains on. Training
computes model features once per pool image and every fold picks its rows by index, so a fold's
arrays are ``pool.images[indices.train]`` etc. (see :func:`fold_indices`).

Where a face comes from, in order: the manifest's ``face_box``; else the face detector
(:func:`painxai.faces.detection.detect_faces`); else a centred square crop. The counts are kept in
``ImagePool.crop_sources`` so the run can report how many faces were guessed.

Face crops are cached on disk as one ``.npz`` per (manifest content, size, margin), written
atomically; the augmented samples are cached by :mod:`painxai.training.augment` itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.data.folds import fold_subjects, validation_subjects
from painxai.data.images import resize_images
from painxai.errors import PainxaiError
from painxai.faces.crop import DEFAULT_MARGIN, Box
from painxai.labels import CLASSES, NOPAIN, PAIN
from painxai.training.augment import AugmentSettings
from painxai.training.augment_cache import AugmentReport, augment_manifest

CROP_SOURCES = ("manifest", "detected", "centre")
# Bump when the crop procedure changes, so old caches are not reused.
_CROP_CACHE_VERSION = 1


class DatasetError(PainxaiError):
    """Training data that cannot be assembled (empty folds, a class missing...)."""


@dataclass(frozen=True)
class FaceCrops:
    """Face crops of every manifest row.

    ``images``: (N, S, S, 3) uint8 RGB in manifest order; ``sources``: (N,) str, one of
    :data:`CROP_SOURCES` per image (where its face box came from).
    """

    images: np.ndarray
    sources: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many crops came from each source (``manifest``, ``detected``, ``centre``)."""
        found = Counter(self.sources.tolist())
        return {source: int(found.get(source, 0)) for source in CROP_SOURCES}


@dataclass(frozen=True)
class ImagePool:
    """Every image a run trains or tests on, originals first, then augmented samples.

    Arrays of length P (pool size): ``images`` (P, S, S, 3) uint8 RGB; ``labels`` (P,) int8
    (1 = pain); ``subjects`` (P,) str; ``augmented`` (P,) bool; ``source_row`` (P,) int, the
    manifest row each image comes from. ``n_original`` = number of manifest rows.
    """

    images: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    augmented: np.ndarray
    source_row: np.ndarray
    n_original: int
    crop_sources: dict[str, int]
    augment_report: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Side of the square images in pixels."""
        return int(self.images.shape[1])


@dataclass(frozen=True)
class FoldIndices:
    """Pool row indices of one fold: ``train`` (originals + augmented samples of the training
    subjects), ``validation`` (originals of the held-out training subjects) and ``test``
    (originals of the fold's test subjects). Also the subject lists, for the record."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    train_subjects: list[str]
    validation_subjects: list[str]
    test_subjects: list[str]


def manifest_key(manifest: pd.DataFrame) -> str:
    """SHA-256 of what the crops depend on: every row (path, subject, dataset, label, face box)
    and each image file's size and modification time, so an edited image invalidates the cache."""
    digest = hashlib.sha256()
    for row in manifest.itertuples(index=False):
        try:
            stat = os.stat(row.path)
            file_id = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            file_id = "missing"
        digest.update(f"{row.path}|{row.subject}|{row.dataset}|{row.label}|{row.face_box}|{file_id}\n".encode())
    return digest.hexdigest()


def label_values(labels: Iterable[str]) -> np.ndarray:
    """Map labels to their class index (``painxai.labels.CLASSES``: nopain 0, pain 1), (N,) int8; unknown
    labels raise :class:`DatasetError`."""
    values = []
    for label in labels:
        if label not in CLASSES:
            raise DatasetError(f"unknown label {label!r}; expected {PAIN!r} or {NOPAIN!r}")
        values.append(CLASSES.index(label))
    return np.asarray(values, dtype=np.int8)


def _face_box(image: np.ndarray, box: Box | None) -> tuple[Box | None, str]:
    """The box to crop and where it came from: the manifest's, a detected one, or None (centre)."""
    if box is not None:
        return box, "manifest"
    from painxai.faces.detection import detect_faces

    primary = detect_faces(image).primary
    if primary is not None:
        return primary.box, "detected"
    return None, "centre"


def face_crops(
    manifest: pd.DataFrame,
    size: int,
    margin: float = DEFAULT_MARGIN,
    cache_dir: str | os.PathLike[str] | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> FaceCrops:
    """Square face crops (``size`` x ``size`` pixels, box enlarged by ``margin`` per side) of every
    manifest row, cached in ``cache_dir`` (no cache when None).

    ``on_image(done, total)`` is called after each image is cropped (for progress bars).
    Returns :class:`FaceCrops` with images (N, size, size, 3) uint8 in manifest order.
    """
    if size < 8:
        raise DatasetError(f"crop size {size} px is too small")
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{manifest_key(manifest)}|{size}|{margin}|{_CROP_CACHE_VERSION}".encode()).hexdigest()
        cache_file = Path(cache_dir) / f"crops-{size}-{key[:20]}.npz"
        if cache_file.is_file():
            with np.load(cache_file) as cached:
                return FaceCrops(images=cached["images"], sources=cached["sources"].astype(str))
    from painxai.data.images import load_image
    from painxai.faces.crop import crop_face

    images = np.empty((len(manifest), size, size, 3), dtype=np.uint8)
    sources = []
    for index, row in enumerate(manifest.itertuples(index=False)):
        photo = load_image(row.path)
        box, source = _face_box(photo, row.face_box)
        images[index], _transform = crop_face(photo, box, size, margin)
        sources.append(source)
        if on_image is not None:
            on_image(index + 1, len(manifest))
    crops = FaceCrops(images=images, sources=np.asarray(sources, dtype=str))
    if cache_file is not None:
        buffer = io.BytesIO()
        np.savez(buffer, images=crops.images, sources=crops.sources)
        atomic.write_bytes(cache_file, buffer.getvalue())
    return crops


def training_subjects(folds_document: dict, folds: Iterable[int]) -> list[str]:
    """Subjects that at least one of ``folds`` trains on (every subject outside its test set)."""
    every = {s for entry in folds_document["folds"] for s in map(str, entry["test_subjects"])}
    needed: set[str] = set()
    for fold in folds:
        needed |= every - set(fold_subjects(folds_document, fold))
    return sorted(needed)


def build_pool(
    manifest: pd.DataFrame,
    size: int,
    augment_subjects: list[str],
    per_image: int,
    seed: int,
    cache_dir: str | os.PathLike[str] | None,
    margin: float = DEFAULT_MARGIN,
    on_image: Callable[[int, int], None] | None = None,
) -> ImagePool:
    """Face crops of the whole manifest plus ``per_image`` augmented samples of each image of
    ``augment_subjects`` (the paper's augmentation, :func:`painxai.training.augment_cache.augment_manifest`,
    cached under ``cache_dir/augment``). ``per_image = 0`` gives no augmented samples.

    Returns an :class:`ImagePool` of ``size`` x ``size`` images.
    """
    crops = face_crops(manifest, size, margin, cache_dir, on_image)
    labels = label_values(manifest["label"])
    subjects = manifest["subject"].astype(str).to_numpy()
    rows = np.arange(len(manifest))
    parts_images, parts_labels, parts_subjects, parts_rows = [crops.images], [labels], [subjects], [rows]
    report: dict = {}
    if per_image > 0 and augment_subjects:
        settings = augment_settings(per_image, size, margin)
        out_dir = Path(cache_dir) / "augment" if cache_dir is not None else None
        augmented = augment_manifest(manifest, out_dir, settings, seed, subjects=list(augment_subjects))
        row_of_path = {path: index for index, path in enumerate(manifest["path"])}
        source_rows = np.asarray([row_of_path[str(p)] for p in augmented.source_paths], dtype=int)
        parts_images.append(resize_images(np.asarray(augmented.images), size))
        parts_labels.append(label_values(augmented.labels) if _are_names(augmented.labels) else
                            np.asarray(augmented.labels, dtype=np.int8))
        parts_subjects.append(np.asarray(augmented.subjects, dtype=str))
        parts_rows.append(source_rows)
        report = _report_dict(augmented.report)
    n_augmented = sum(len(p) for p in parts_rows[1:])
    return ImagePool(
        images=np.concatenate(parts_images),
        labels=np.concatenate(parts_labels).astype(np.int8),
        subjects=np.concatenate(parts_subjects).astype(str),
        augmented=np.concatenate([np.zeros(len(manifest), bool), np.ones(n_augmented, bool)]),
        source_row=np.concatenate(parts_rows),
        n_original=len(manifest),
        crop_sources=crops.counts(),
        augment_report=report,
    )


def augment_settings(per_image: int, size: int, margin: float) -> AugmentSettings:
    """The paper's augmentation settings (:class:`painxai.training.augment.AugmentSettings` defaults) with
    ``per_image`` samples of ``size`` px crops enlarged by ``margin``."""
    return AugmentSettings(per_image=per_image, crop_size=size, margin=margin)


def _are_names(labels: object) -> bool:
    first = np.asarray(labels).ravel()[:1]
    return first.size > 0 and isinstance(first[0], str)


def _report_dict(report: AugmentReport) -> dict:
    """The augmentation report as plain JSON-ready data."""
    import dataclasses

    return json.loads(json.dumps(dataclasses.asdict(report), default=str))


def fold_indices(
    pool: ImagePool,
    folds_document: dict,
    fold: int,
    validation_fraction: float,
    seed: int,
    manifest: pd.DataFrame,
) -> FoldIndices:
    """Split the pool for ``fold``: test = the fold's subjects (originals only); validation =
    :func:`painxai.data.folds.validation_subjects` of the remaining subjects (originals only);
    train = the other subjects, originals and their augmented samples.

    Raises :class:`DatasetError` when a split is empty or training lacks a class.
    """
    test_subjects = fold_subjects(folds_document, fold)
    train_pool = sorted(set(pool.subjects[: pool.n_original]) - set(test_subjects))
    held_out = validation_subjects(manifest, train_pool, validation_fraction, seed + fold)
    train_subjects = sorted(set(train_pool) - set(held_out))
    original = ~pool.augmented
    train = np.flatnonzero(np.isin(pool.subjects, train_subjects))
    validation = np.flatnonzero(original & np.isin(pool.subjects, held_out))
    test = np.flatnonzero(original & np.isin(pool.subjects, test_subjects))
    for name, rows in (("training", train), ("validation", validation), ("test", test)):
        if len(rows) == 0:
            raise DatasetError(f"fold {fold}: the {name} set is empty; use fewer folds or more subjects")
    if len(np.unique(pool.labels[train])) < 2:
        raise DatasetError(f"fold {fold}: the training set has only one class")
    return FoldIndices(train, validation, test, train_subjects, list(held_out), list(test_subjects))
