"""The paper's augmentation of a whole manifest: the samples of each training image, cached on disk, made by a
pool of worker processes. One sample's transform and acceptance are :mod:`painxai.training.augment`.

Cache. :func:`augment_manifest` writes one ``.npz`` per source image (its N samples as uint8, their
face boxes, label maps and transform parameters, and its counts), atomically, named after the image
file's SHA-1, its manifest face box, the seed and :func:`settings_key`. Folds share it: each asks
only for its training subjects, and images already there are loaded, not recomputed. The image's
*content* names the file, not its path, so moving the data folder keeps the cache. Each sample's
random generator is seeded from (seed, image SHA-1, sample index): the same seed gives the same
samples whatever the number of workers or the subjects asked for.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.data.regions import read_label_map
from painxai.faces.crop import Box, as_box
from painxai.hashing import file_digest
from painxai.training.augment import (
    PARAM_COLUMNS,
    AugmentError,
    AugmentSettings,
    augment_image,
    detected_in,
    settings_key,
)

# Below this many images per worker, starting worker processes costs more than it saves.
MIN_IMAGES_PER_WORKER = 25



@dataclass
class AugmentReport:
    """What :func:`augment_manifest` did. ``requested`` = images x per_image = ``kept`` + given-up
    samples; ``redrawn`` counts refused draws that were replaced, ``given_up`` samples abandoned after
    ``max_tries`` draws, both per reason; ``crop_boxes`` how each crop's face box was found
    (``manifest``, ``detected``, ``centre``); ``detector`` whether samples were checked by a detector
    (``used``, ``not requested``, ``unavailable``); ``missed_in_crop`` images whose samples were not
    detector-checked because the detector missed the face in the crop itself;
    ``computed_images``/``cached_images`` how many source images were augmented now or loaded from the
    cache."""

    images: int = 0
    requested: int = 0
    kept: int = 0
    redrawn: dict[str, int] = field(default_factory=dict)
    given_up: dict[str, int] = field(default_factory=dict)
    crop_boxes: dict[str, int] = field(default_factory=dict)
    detector: str = "not requested"
    missed_in_crop: int = 0
    computed_images: int = 0
    cached_images: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for people: kept, redrawn and given up per reason."""

        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

        text = (
            f"{self.kept} of {self.requested} samples kept from {self.images} images "
            f"({self.computed_images} augmented now, {self.cached_images} from the cache); "
            f"redrawn: {counts(self.redrawn)}; given up: {counts(self.given_up)}; detector check: {self.detector}"
        )
        if self.missed_in_crop:
            text += f" (face missed in {self.missed_in_crop} crops: their samples unchecked)"
        return text


@dataclass(frozen=True)
class AugmentedSet:
    """The augmented samples of a manifest's chosen subjects, in manifest order then sample order.

    ``images`` (N, S, S, 3) uint8; ``boxes`` (N, 4) float32 face boxes in sample pixels (NaN when the
    crop had no box); ``label_maps`` (N, S, S) uint8 or None unless every source image has one;
    ``labels``, ``subjects``, ``source_paths`` (N,) str; ``params`` (N, 8) float32 in
    :data:`PARAM_COLUMNS` order; ``report`` the counts.
    """

    images: np.ndarray
    boxes: np.ndarray
    label_maps: np.ndarray | None
    labels: np.ndarray
    subjects: np.ndarray
    source_paths: np.ndarray
    params: np.ndarray
    report: AugmentReport


def _sample_rng(seed: int, content_sha1: str, index: int) -> np.random.Generator:
    """The generator of one sample: (seed, image SHA-1, sample index) -> independent stream."""
    words = [int(content_sha1[i : i + 8], 16) for i in range(0, 40, 8)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words, int(index)]))


def _detector_boxes(image: np.ndarray) -> list[Box]:
    from painxai.faces.detection import detect_faces

    return [as_box(face.box) for face in detect_faces(image).faces]


def detector_name() -> str | None:
    """Which face detector :func:`painxai.faces.detection.detect_faces` runs here (``"mediapipe"``, ``"haar"``),
    or None when none works. Loads the detector, which takes seconds the first time in a process."""
    try:
        from painxai.faces.detection import detect_faces

        return str(detect_faces(np.full((64, 64, 3), 128, dtype=np.uint8)).detector)
    except Exception:  # any failure means "no detector": the geometric check still applies
        return None


@dataclass(frozen=True)
class _Job:
    path: str
    manifest_box: Box | None
    content_sha1: str
    seed: int
    settings: AugmentSettings
    find_box: bool  # detect the face when the manifest has no box
    check_samples: bool  # require the face to be detected in every sample
    cache_file: str | None


def _augment_one(job: _Job) -> dict[str, np.ndarray]:
    """Crop one source image and make its samples; writes the cache file when asked. Runs in a worker."""
    from painxai.data.images import load_image
    from painxai.faces.crop import crop_face

    settings = job.settings
    photo = load_image(job.path)
    box, box_source = job.manifest_box, "manifest"
    if box is None and job.find_box:
        from painxai.faces.detection import detect_faces

        primary = detect_faces(photo).primary
        box, box_source = (as_box(primary.box), "detected") if primary else (None, "centre")
    elif box is None:
        box_source = "centre"
    crop, transform = crop_face(photo, box, settings.crop_size, settings.margin)
    box_in_crop = transform.box_to_crop(box) if box is not None else None
    label_map = read_label_map(job.path, photo.shape)
    crop_map = transform.crop_label_map(label_map) if label_map is not None else None
    detector, missed_in_crop = None, False
    # "Still detectable" presumes the detector finds the face in the crop itself; where it does not
    # (adult-trained detectors often miss newborns), checking samples would refuse them all.
    if job.check_samples and box_in_crop is not None:
        if detected_in(_detector_boxes, crop, box_in_crop):
            detector = _detector_boxes
        else:
            missed_in_crop = True

    size = settings.crop_size
    images, boxes, maps, params = [], [], [], []
    redrawn: Counter[str] = Counter()
    given_up: Counter[str] = Counter()
    for index in range(settings.per_image):
        outcome = augment_image(
            crop, box_in_crop, _sample_rng(job.seed, job.content_sha1, index), settings, crop_map, detector=detector
        )
        redrawn.update(outcome.redrawn)
        if outcome.sample is None:
            assert outcome.given_up is not None  # a sample given up says why
            given_up[outcome.given_up] += 1
            continue
        images.append(outcome.sample.image)
        boxes.append(outcome.sample.box if outcome.sample.box is not None else (np.nan,) * 4)
        maps.append(outcome.sample.label_map)
        params.append(outcome.sample.params.as_row())
    counts = {
        "redrawn": dict(redrawn),
        "given_up": dict(given_up),
        "crop_box": box_source,
        "missed_in_crop": missed_in_crop,
    }
    record: dict[str, np.ndarray] = {
        "images": np.asarray(images, dtype=np.uint8).reshape(-1, size, size, 3),
        "boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        "params": np.asarray(params, dtype=np.float32).reshape(-1, len(PARAM_COLUMNS)),
        "counts": np.array(json.dumps(counts)),
    }
    if crop_map is not None:
        record["label_maps"] = np.asarray(maps, dtype=np.uint8).reshape(-1, size, size)
    if job.cache_file is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, allow_pickle=False, **record)  # plain arrays, as np.load reads them
        atomic.write_bytes(job.cache_file, buffer.getvalue())
    return record


def _load_cached(path: Path) -> dict[str, np.ndarray] | None:
    """A cache file's arrays, or None when it is missing or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            record = {name: data[name] for name in data.files}
        json.loads(str(record["counts"]))
    except (OSError, ValueError, KeyError):
        return None
    return record


def _select_rows(manifest: pd.DataFrame, subjects: Iterable[str] | None) -> pd.DataFrame:
    missing_columns = {"path", "subject", "label"} - set(manifest.columns)
    if missing_columns:
        raise AugmentError(f"the manifest lacks the column(s) {', '.join(sorted(missing_columns))}")
    if subjects is None:
        return manifest
    wanted = {str(s) for s in subjects}
    known = set(manifest["subject"].astype(str))
    unknown = sorted(wanted - known)
    if unknown:
        raise AugmentError(f"subject(s) not in the manifest: {', '.join(unknown[:10])}")
    return manifest[manifest["subject"].astype(str).isin(wanted)]


def augment_manifest(
    manifest: pd.DataFrame,
    out_dir: str | os.PathLike[str] | None,
    settings: AugmentSettings,
    seed: int,
    subjects: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 2,
) -> AugmentedSet:
    """Augment every image of ``subjects`` (all when None; give a fold's *training* subjects only),
    reusing and filling the cache in ``out_dir`` (no cache when None).

    Parameters
    ----------
    manifest: a manifest frame (:func:`painxai.data.manifest.read_manifest`): ``path``, ``subject``,
        ``label`` and optional ``face_box`` (photo pixels; when missing the detector finds the face
        if one is available, else the crop is the centred square).
    out_dir: folder of the per-image ``.npz`` cache files.
    settings: :class:`AugmentSettings`.
    seed: the random seed; with the settings and the image content it fixes every sample.
    subjects: the subjects to augment; unknown subjects raise :class:`AugmentError`.
    progress: called as ``progress(done, total)`` after each image (the CLI draws a bar with it).
    workers: processes that augment images in parallel (1 = in this process).

    Returns an :class:`AugmentedSet` of ``kept`` samples of ``settings.crop_size`` pixels.
    """
    started = time.perf_counter()
    rows = _select_rows(manifest, subjects)
    # The detector finds faces for rows without a box and, when asked, checks samples. Probing it
    # costs seconds, so only when it is needed.
    boxes_missing = "face_box" not in rows or bool(rows["face_box"].isna().any())
    detector = detector_name() if (settings.check_detector or boxes_missing) else None
    use_detector = settings.check_detector and detector is not None
    key = settings_key(settings)
    folder = Path(out_dir) if out_dir is not None else None

    jobs = []
    for row in rows.itertuples(index=False):
        manifest_box = getattr(row, "face_box", None)
        manifest_box = as_box(manifest_box) if isinstance(manifest_box, Iterable) else None
        content = file_digest(row.path, "sha1")
        box_text = f"found-by-{detector}" if manifest_box is None else ",".join(f"{v:g}" for v in manifest_box)
        name = hashlib.sha1(f"{content}|{box_text}|{seed}|{key}".encode(), usedforsecurity=False).hexdigest()
        cache_file = str(folder / f"{key}-{name[:24]}.npz") if folder is not None else None
        find_box = detector is not None
        jobs.append(_Job(str(row.path), manifest_box, content, int(seed), settings, find_box, use_detector, cache_file))

    records: list[dict[str, np.ndarray] | None] = [
        _load_cached(Path(job.cache_file)) if job.cache_file else None for job in jobs
    ]
    todo = [index for index, record in enumerate(records) if record is None]
    cached = len(jobs) - len(todo)
    if progress:
        progress(cached, len(jobs))
    for index, record in zip(todo, _run_jobs([jobs[i] for i in todo], workers), strict=True):
        records[index] = record
        cached += 1
        if progress:
            progress(cached, len(jobs))
    done = [record for record in records if record is not None]  # all of them by now
    return _assemble(rows, done, settings, use_detector, len(todo), time.perf_counter() - started)


def _run_jobs(jobs: list[_Job], workers: int) -> Iterable[dict[str, np.ndarray]]:
    """Results of ``jobs`` in order, from ``workers`` processes (spawned: safe when TensorFlow is loaded).

    A spawned worker takes seconds to start (imports, and the face detector's model when it is used),
    so fewer than :data:`MIN_IMAGES_PER_WORKER` images per worker run in this process instead.
    """
    if workers <= 1 or len(jobs) < MIN_IMAGES_PER_WORKER * workers:
        yield from map(_augment_one, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_single_threaded) as pool:
        yield from pool.map(_augment_one, jobs, chunksize=1)


def _single_threaded() -> None:
    """Worker start-up: one OpenCV thread per process, so the workers share the cores instead of fighting;
    and the parent's quiet logs (a spawned worker starts without the import hook that keeps TensorFlow's
    load-time lines off the terminal)."""
    import cv2

    from painxai import quiet_native_logs

    quiet_native_logs()
    cv2.setNumThreads(1)


def _assemble(
    rows: pd.DataFrame,
    records: list[dict[str, np.ndarray]],
    settings: AugmentSettings,
    use_detector: bool,
    computed: int,
    seconds: float,
) -> AugmentedSet:
    size = settings.crop_size
    report = AugmentReport(
        images=len(rows),
        requested=len(rows) * settings.per_image,
        detector="used" if use_detector else ("unavailable" if settings.check_detector else "not requested"),
        computed_images=computed,
        cached_images=len(rows) - computed,
    )
    redrawn: Counter[str] = Counter()
    given_up: Counter[str] = Counter()
    crop_boxes: Counter[str] = Counter()
    labels, subjects, sources = [], [], []
    every_map = all("label_maps" in record for record in records) and bool(records)
    for row, record in zip(rows.itertuples(index=False), records, strict=True):
        counts = json.loads(str(record["counts"]))
        redrawn.update(counts["redrawn"])
        given_up.update(counts["given_up"])
        crop_boxes[counts["crop_box"]] += 1
        report.missed_in_crop += int(counts["missed_in_crop"])
        kept = len(record["images"])
        labels += [str(row.label)] * kept
        subjects += [str(row.subject)] * kept
        sources += [str(row.path)] * kept
    report.kept = len(labels)
    report.redrawn, report.given_up, report.crop_boxes = dict(redrawn), dict(given_up), dict(crop_boxes)
    report.seconds = seconds

    def stack(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        parts = [record[name] for record in records]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty((0, *shape), dtype)

    return AugmentedSet(
        images=stack("images", (size, size, 3), np.uint8),
        boxes=stack("boxes", (4,), np.float32),
        label_maps=stack("label_maps", (size, size), np.uint8) if every_map else None,
        labels=np.asarray(labels, dtype=str),
        subjects=np.asarray(subjects, dtype=str),
        source_paths=np.asarray(sources, dtype=str),
        params=stack("params", (len(PARAM_COLUMNS),), np.float32),
        report=report,
    )
