"""The synthetic twin: a stand-in for UNIFESP + iCOPE with known pain cues and region masks.

The real databases are available only by permission, so the project ships a generator instead:
procedurally drawn swaddled newborns with the paper's composition (30 UNIFESP-like subjects,
12 frames each, 164 pain / 196 no pain; 26 iCOPE-like subjects, 123 photos, 60 pain / 63 no pain).
Pain photos carry at least 3 of the 4 NFCS cues (brow bulge, eye squeeze, nasolabial furrow,
open stretched mouth) at intensity ~U(0.45, 1); no-pain photos at most one faint cue ~U(0, 0.35).

Layout of ``out``::

    manifest.csv                              written last: its presence means the twin is complete
    twin.json                                 seed, size_scale and generator version of the twin
    truth.csv                                 per image: keypoints (pixels) and cue intensities
    <dataset>/<subject>/<subject>_<k>.png     the photos
    <dataset>/<subject>/<subject>_<k>.regions.png   region label maps (see painxai.data.regions)

The plan (:func:`plan_twin`) fixes who is in the twin, the labels and the cues without drawing;
each photo is then drawn from numpy generators seeded by (seed, dataset, subject, image), so the
result does not depend on the number of workers or the order they finish in.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.data.manifest import COLUMNS, ManifestError, read_manifest, write_manifest
from painxai.data.regions import CUE_COLUMNS, TRUTH_FILE, mask_path
from painxai.labels import NOPAIN, PAIN

# Bump when the drawing changes, so that an old twin on disk is regenerated.
GENERATOR_VERSION = 1
CUES: tuple[str, ...] = ("brow", "eyes", "nasolabial", "mouth")
KEYPOINTS: tuple[str, ...] = ("right_eye", "left_eye", "nose", "mouth", "chin")
TRUTH_COLUMNS: tuple[str, ...] = (
    "path", *(f"{name}_{axis}" for name in KEYPOINTS for axis in ("x", "y")), *CUE_COLUMNS
)
# Pain photos: at least this many cues at intensity ~U(PAIN_CUE); no pain: at most one ~U(FAINT_CUE).
PAIN_MIN_CUES = 3
PAIN_CUE = (0.45, 1.0)
FAINT_CUE = (0.0, 0.35)
# Below this many photos one process draws everything: starting workers would cost more.
_PARALLEL_FROM = 60


@dataclass(frozen=True)
class DatasetSpec:
    """The composition of one twin dataset at size_scale 1."""

    name: str
    prefix: str  # subject ids are prefix + two digits
    subjects: int
    images: int
    pain: int
    per_subject: tuple[int, int]  # least and most photos of one subject
    frame: tuple[int, int]  # (width, height) pixels
    face_fraction: tuple[float, float]  # face box height / frame height


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("twin-UNIFESP", "U", 30, 360, 164, (12, 12), (320, 233), (0.45, 0.75)),
    DatasetSpec("twin-iCOPE", "I", 26, 123, 60, (2, 8), (1200, 800), (0.35, 0.60)),
)


@dataclass(frozen=True)
class ImagePlan:
    """One photo of the twin, decided before drawing."""

    dataset_index: int
    subject_index: int
    image_index: int
    dataset: str
    subject: str
    label: str  # "pain" or "nopain"
    cues: tuple[float, float, float, float]  # intensities of CUES, in [0, 1]

    @property
    def relative_path(self) -> str:
        """Path of the photo relative to the twin's folder (POSIX separators)."""
        return f"{self.dataset}/{self.subject}/{self.subject}_{self.image_index:02d}.png"


@dataclass(frozen=True)
class TwinSummary:
    """What :func:`generate_twin` produced."""

    manifest_path: Path
    seconds: float  # wall time of the call (near 0 when the twin was already there)
    n_images: int


def plan_twin(seed: int = 0, size_scale: float = 1.0) -> list[ImagePlan]:
    """The photos of the twin (subjects, labels, cue intensities) without drawing anything.

    ``size_scale`` scales the number of subjects of each dataset (at least 3 each, both classes
    kept in each dataset); 1 gives the paper's composition exactly.
    """
    _check_arguments(seed, size_scale)
    plans: list[ImagePlan] = []
    for dataset_index, spec in enumerate(DATASETS):
        rng = np.random.default_rng((seed, dataset_index, 0xC0FFEE))
        n_subjects = max(3, round(spec.subjects * size_scale))
        low, high = spec.per_subject
        n_images = min(max(round(spec.images * n_subjects / spec.subjects), low * n_subjects), high * n_subjects)
        n_pain = min(max(round(spec.pain * n_images / spec.images), 1), n_images - 1)
        # Uneven but plausible: some newborns were photographed more, some cried more.
        weights = rng.gamma(2.0, 1.0, n_subjects)
        counts = _allocate(n_images, np.full(n_subjects, low), np.full(n_subjects, high), weights, rng)
        pain_floor = np.minimum(1, counts - 1) if n_pain >= n_subjects else np.zeros(n_subjects, int)
        pain_ceiling = np.maximum(counts - 1, pain_floor) if n_images - n_pain >= n_subjects else counts
        pains = _allocate(n_pain, pain_floor, pain_ceiling, rng.gamma(3.0, 1.0, n_subjects), rng)
        for subject_index in range(n_subjects):
            n_subject_pain = int(pains[subject_index])
            labels = [PAIN] * n_subject_pain + [NOPAIN] * (int(counts[subject_index]) - n_subject_pain)
            rng.shuffle(labels)
            subject = f"{spec.prefix}{subject_index + 1:02d}"
            for image_index, label in enumerate(labels):
                cue_rng = np.random.default_rng((seed, dataset_index, subject_index, image_index, 1))
                plans.append(ImagePlan(dataset_index, subject_index, image_index, spec.name, subject, label,
                                       draw_cues(cue_rng, label == PAIN)))
    return plans


def draw_cues(rng: np.random.Generator, pain: bool) -> tuple[float, float, float, float]:
    """Cue intensities (brow, eyes, nasolabial, mouth) in [0, 1] for a pain or a no-pain photo.

    Pain: 3 or 4 cues ~U(0.45, 1), the others absent or faint. No pain: at most one faint cue.
    No single cue decides the class; their combination does.
    """
    cues = np.zeros(len(CUES))
    if pain:
        strong = rng.permutation(len(CUES))[: rng.integers(PAIN_MIN_CUES, len(CUES) + 1)]
        cues[strong] = rng.uniform(*PAIN_CUE, strong.size)
        weak = [i for i in range(len(CUES)) if i not in strong]
        for index in weak:
            cues[index] = rng.uniform(*FAINT_CUE) if rng.random() < 0.5 else 0.0
    elif rng.random() < 0.5:
        cues[rng.integers(len(CUES))] = rng.uniform(*FAINT_CUE)
    return (float(cues[0]), float(cues[1]), float(cues[2]), float(cues[3]))


def generate_twin(
    out: Path | str,
    seed: int = 0,
    size_scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> TwinSummary:
    """Generate the synthetic twin into ``out`` (see the module docstring for the layout).

    Returns at once when ``out`` already holds a complete twin of the same seed, size_scale and
    generator version. ``workers`` processes draw the photos (default: up to 2, or 1 for a small twin);
    the result is the same whatever their number. ``progress(done, total)`` is called after each photo.
    """
    started = time.perf_counter()
    out = Path(out)
    plans = plan_twin(seed, size_scale)
    manifest_path = out / "manifest.csv"
    identity = {"generator": GENERATOR_VERSION, "seed": seed, "size_scale": size_scale, "n_images": len(plans)}
    if _is_complete(out, identity):
        return TwinSummary(manifest_path, time.perf_counter() - started, len(plans))

    # Whatever was there is no longer a finished twin until the new manifest is written.
    manifest_path.unlink(missing_ok=True)
    (out / "twin.json").unlink(missing_ok=True)
    for spec in DATASETS:
        shutil.rmtree(out / spec.name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(plans) >= _PARALLEL_FROM else 1
    results = _draw_all(out, seed, plans, workers, progress)
    rows = [results[plan.relative_path] for plan in plans]

    truth = io.StringIO()
    writer = csv.writer(truth, lineterminator="\n")
    writer.writerow(TRUTH_COLUMNS)
    for plan, row in zip(plans, rows, strict=True):
        keypoints = [f"{value:.2f}" for name in KEYPOINTS for value in row["keypoints"][name]]
        writer.writerow([plan.relative_path, *keypoints, *(f"{cue:.4f}" for cue in plan.cues)])
    atomic.write_text(out / TRUTH_FILE, truth.getvalue())
    atomic.write_json(out / "twin.json", identity)
    frame = pd.DataFrame(
        [{"path": str(out / plan.relative_path), "subject": plan.subject, "dataset": plan.dataset,
          "label": plan.label, "face_box": row["face_box"]} for plan, row in zip(plans, rows, strict=True)],
        columns=list(COLUMNS),
    )
    write_manifest(frame, manifest_path)  # last: from now on the twin counts as complete
    return TwinSummary(manifest_path, time.perf_counter() - started, len(plans))


def draw_image(seed: int, plan: ImagePlan) -> tuple[np.ndarray, np.ndarray, dict]:
    """Draw one planned photo: (RGB image (H, W, 3) uint8, label map (H, W) uint8, info).

    ``info`` holds ``face_box`` (x0, y0, x1, y1) and ``keypoints`` (name -> (x, y)), in pixels.
    """
    from painxai.synth.draw import render  # OpenCV: only where photos are drawn
    from painxai.synth.look import draw_look, draw_shot

    spec = DATASETS[plan.dataset_index]
    look = draw_look(np.random.default_rng((seed, plan.dataset_index, plan.subject_index, 2)))
    cues = dict(zip(CUES, plan.cues, strict=True))
    shot_rng = np.random.default_rng((seed, plan.dataset_index, plan.subject_index, plan.image_index, 3))
    shot = draw_shot(shot_rng, look, spec.frame, spec.face_fraction, cues)
    rendering = render(look, shot, cues)
    box = tuple(round(v, 1) for v in rendering.face_box)
    return rendering.image, rendering.label_map, {"face_box": box, "keypoints": rendering.keypoints}


def _draw_and_write(out: str, seed: int, plan: ImagePlan) -> tuple[str, dict]:
    """Draw one photo and write it and its label map (PNG, atomically); returns its path and info."""
    import cv2

    cv2.setNumThreads(1)  # the workers already use the cores
    image, label_map, info = draw_image(seed, plan)
    image_path = Path(out) / plan.relative_path
    ok_image, image_png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    ok_mask, mask_png = cv2.imencode(".png", label_map, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not (ok_image and ok_mask):
        raise RuntimeError(f"could not encode {plan.relative_path} as PNG")
    atomic.write_bytes(image_path, image_png.tobytes())
    atomic.write_bytes(mask_path(image_path), mask_png.tobytes())
    return plan.relative_path, info


def _draw_all(
    out: Path, seed: int, plans: list[ImagePlan], workers: int, progress: Callable[[int, int], None] | None
) -> dict[str, dict]:
    """Draw and write every planned photo with ``workers`` processes; path -> info."""
    results: dict[str, dict] = {}
    if workers <= 1:
        for plan in plans:
            path, info = _draw_and_write(str(out), seed, plan)
            results[path] = info
            if progress:
                progress(len(results), len(plans))
        return results
    # Spawned workers: forking a parent that already runs TensorFlow threads is unsafe.
    # The big iCOPE-like photos go first so that the workers finish together.
    order = sorted(plans, key=lambda plan: -DATASETS[plan.dataset_index].frame[0])
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_draw_and_write, str(out), seed, plan) for plan in order]
        for future in as_completed(futures):
            path, info = future.result()
            results[path] = info
            if progress:
                progress(len(results), len(plans))
    return results


def _is_complete(out: Path, identity: dict) -> bool:
    """Whether ``out`` holds a finished twin made with exactly ``identity`` (seed, scale, version)."""
    manifest_path, identity_path = out / "manifest.csv", out / "twin.json"
    if not (manifest_path.is_file() and identity_path.is_file()):
        return False
    try:
        if json.loads(identity_path.read_text(encoding="utf-8")) != identity:
            return False
        return len(read_manifest(manifest_path, check_files=False)) == identity["n_images"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ManifestError):
        return False


def _allocate(
    total: int, floor: np.ndarray, ceiling: np.ndarray, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Split ``total`` units over bins, each between ``floor`` and ``ceiling``, favouring heavy ``weights``."""
    counts = floor.astype(int).copy()
    if not floor.sum() <= total <= ceiling.sum():
        raise ValueError(f"cannot split {total} between {floor.sum()} and {ceiling.sum()}")
    for _ in range(total - int(counts.sum())):
        room = counts < ceiling
        chance = weights * room
        counts[rng.choice(counts.size, p=chance / chance.sum())] += 1
    return counts


def _check_arguments(seed: int, size_scale: float) -> None:
    """Refuse seeds and scales the generator cannot honour, with a message that says why."""
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 < size_scale <= 4:
        raise ValueError(f"size_scale must be in (0, 4], got {size_scale!r} (1 is the paper's composition)")
