"""Benchmark of the synthetic twin: generation time and how often face detectors find the faces.

Generates the twin with the default workers (up to 2), then with 1 worker as the baseline, in the
same process; then runs OpenCV's Haar frontal-face cascade and, when its model file is present,
MediaPipe's BlazeFace (short range) on every image, counting a face as found when a detection
overlaps the true face box with IoU >= 0.3.

    .venv/bin/python bench/bench_synth.py [--scale 1.0] [--seed 0] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchlib import machine
from painxai.data.manifest import read_manifest
from painxai.paths import face_models_dir
from painxai.synth.twin import generate_twin

IOU_FOUND = 0.3


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def timed_generation(out: Path, seed: int, scale: float, workers: int | None) -> tuple[float, float, int]:
    """Generate a twin; returns (wall seconds, CPU seconds of this process and its workers, images)."""
    cpu_before = sum(os.times()[:4])
    started = time.perf_counter()
    summary = generate_twin(out, seed=seed, size_scale=scale, workers=workers)
    return time.perf_counter() - started, sum(os.times()[:4]) - cpu_before, summary.n_images


def haar_detector():
    """A function image (H, W, 3) uint8 RGB -> list of boxes, with OpenCV's Haar cascade."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(image: np.ndarray) -> list[tuple[float, float, float, float]]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        scale = min(1.0, 480 / max(gray.shape))  # the big frames are searched at about 480 pixels
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        found = cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=4, minSize=(24, 24))
        return [(x / scale, y / scale, (x + w) / scale, (y + h) / scale) for x, y, w, h in found]

    return detect


def blazeface_detector():
    """A BlazeFace detection function, or None when its model file is not on this machine.

    The function keeps the MediaPipe detector alive; ``detect.close()`` releases it.
    """
    model = face_models_dir() / "face_detection_short_range.tflite"
    if not model.is_file():
        return None
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(model)),
                                         min_detection_confidence=0.5)
    detector = vision.FaceDetector.create_from_options(options)

    def detect(image: np.ndarray) -> list[tuple[float, float, float, float]]:
        result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
        boxes = []
        for detection in result.detections:
            box = detection.bounding_box
            boxes.append((box.origin_x, box.origin_y, box.origin_x + box.width, box.origin_y + box.height))
        return boxes

    detect.close = detector.close  # type: ignore[attr-defined]
    return detect


def detection_rates(manifest: Path) -> None:
    """Print, per detector, dataset and label, the share of faces found (IoU >= 0.3 with the truth)."""
    import cv2

    frame = read_manifest(manifest)
    detectors = {"Haar frontalface_default": haar_detector()}
    blaze = blazeface_detector()
    if blaze is None:
        print("BlazeFace: model file not found in", face_models_dir(), "- skipped")
    else:
        detectors["BlazeFace short range"] = blaze
    for name, detect in detectors.items():
        found: dict[tuple[str, str], list[bool]] = defaultdict(list)
        started = time.perf_counter()
        for record in frame.itertuples(index=False):
            image = cv2.cvtColor(cv2.imread(record.path), cv2.COLOR_BGR2RGB)
            hit = any(iou(box, record.face_box) >= IOU_FOUND for box in detect(image))
            found[(record.dataset, record.label)].append(hit)
        seconds = time.perf_counter() - started
        everything = [hit for hits in found.values() for hit in hits]
        print(f"{name}: found {np.mean(everything):.1%} of {len(everything)} faces ({seconds:.1f} s)")
        for (dataset, label), hits in sorted(found.items()):
            print(f"    {dataset:13s} {label:6s} {np.mean(hits):6.1%} of {len(hits)}")
        if hasattr(detect, "close"):
            detect.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="size_scale of the twin (1: the paper's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the 1-worker generation")
    args = parser.parse_args()
    print("machine:", machine())
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu, n = timed_generation(Path(folder) / "twin", args.seed, args.scale, None)
        print(f"generation, default workers: {n} images in {wall:.1f} s ({n / wall:.1f} images/s; CPU {cpu:.1f} s)")
        if not args.no_baseline:
            wall1, cpu1, _ = timed_generation(Path(folder) / "baseline", args.seed, args.scale, 1)
            print(f"baseline, 1 worker:          {n} images in {wall1:.1f} s ({n / wall1:.1f} images/s; "
                  f"CPU {cpu1:.1f} s); speed-up {wall1 / wall:.2f}x")
        detection_rates(Path(folder) / "twin" / "manifest.csv")


if __name__ == "__main__":
    main()
