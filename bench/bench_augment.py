"""Benchmark: the paper's augmentation of the whole synthetic twin (483 images x 20 samples).

Target: under 3 minutes on 2 cores. Prints the machine, the wall time and images/s of
:func:`painxai.training.augment_cache.augment_manifest` with 2 workers (cache empty, then the same call again from
the cache), and, measured in the same process on the same face crops and the same drawn transforms,
the baseline: the per-sample cost of rendering with Keras's own ``ImageDataGenerator`` code
(``apply_affine_transform`` + ``flip_axis`` + ``apply_brightness_shift`` from
``keras.src.legacy.preprocessing.image``, Keras 3.15) against ours (one ``cv2.warpAffine``), and
1 worker against 2 on the first images.

    .venv/bin/python bench/bench_augment.py [--manifest data/twin/manifest.csv] [--no-check-detector]
    .venv/bin/python bench/bench_augment.py --acceptance [--subset N] [--detector auto|haar]

``--acceptance`` measures, instead of time, which draws are kept: the acceptance rate and the kept
samples' zoom, rotation and shift against the drawn (uniform) ranges, for the acceptance rule in use
(the face detector with a half-visible pre-check) and for version 1's rule (the whole face box inside
the sample, ``min_visible=1``), on the first ``--subset`` images (0 = all). It also counts the crops in which
the detector misses the face itself: their samples are checked by the pre-check alone.

``--detector haar`` measures with OpenCV's Haar cascade, the fallback :func:`painxai.faces.detection.detect_faces`
uses when MediaPipe's model file is missing: the run points ``PAINXAI_HOME`` at an empty folder (it and its
worker processes then find no face model file), and prints the detector that ran. ``auto`` (the default) uses
what this installation uses (MediaPipe's BlazeFace when its file is in place).

Without ``--manifest`` it uses ``data/twin/manifest.csv``, generating the twin into a temporary
folder when that file is missing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchlib import machine
from painxai.data.images import load_image
from painxai.data.manifest import read_manifest
from painxai.faces.crop import crop_face
from painxai.training.augment import (
    PARAM_COLUMNS,
    AugmentSettings,
    draw_params,
    warp_sample,
)
from painxai.training.augment_cache import augment_manifest, detector_name

TWIN_MANIFEST = Path("data/twin/manifest.csv")


def manifest_path(given: Path | None, scratch: Path) -> Path:
    """The manifest to augment: the one given, the twin's, or a twin generated into ``scratch``."""
    if given is not None:
        return given
    if TWIN_MANIFEST.is_file():
        return TWIN_MANIFEST
    from painxai.synth.twin import generate_twin

    print(f"{TWIN_MANIFEST} not found: generating the twin into {scratch} (not timed)")
    return generate_twin(scratch / "twin", seed=0).manifest_path


def keras_render(crop: np.ndarray, params) -> np.ndarray:
    """One sample rendered the way Keras's ImageDataGenerator renders it (its own functions)."""
    from keras.src.legacy.preprocessing.image import apply_affine_transform, apply_brightness_shift, flip_axis

    sample = apply_affine_transform(
        crop.astype(np.float32), params.rotation_deg, params.shift_x_px, params.shift_y_px, params.shear_deg,
        params.zoom_x, params.zoom_y, row_axis=0, col_axis=1, channel_axis=2, fill_mode="nearest",
    )
    if params.flip:
        sample = flip_axis(sample, 1)
    return apply_brightness_shift(sample, params.brightness, False)


def render_baseline(frame, settings: AugmentSettings, n_images: int) -> None:
    """Per-sample rendering time, ours against Keras's, on the crops of the first ``n_images``."""
    crops = []
    for row in frame.head(n_images).itertuples(index=False):
        crop, _transform = crop_face(load_image(row.path), row.face_box, settings.crop_size, settings.margin)
        crops.append(crop)
    rng = np.random.default_rng(0)
    jobs = [(crop, draw_params(rng, settings, settings.crop_size)) for crop in crops for _ in range(settings.per_image)]
    started = time.perf_counter()
    for crop, params in jobs:
        warp_sample(crop, params, settings.fill)
    ours = (time.perf_counter() - started) / len(jobs)
    try:
        keras_render(jobs[0][0], jobs[0][1])  # import Keras outside the timing
    except ImportError as error:
        print(f"baseline: Keras's ImageDataGenerator functions are not available here ({error})")
        return
    started = time.perf_counter()
    for crop, params in jobs:
        keras_render(crop, params)
    theirs = (time.perf_counter() - started) / len(jobs)
    print(
        f"rendering one {settings.crop_size}px sample ({len(jobs)} samples, same transforms, one process): "
        f"ours {ours * 1e3:.2f} ms, Keras ImageDataGenerator {theirs * 1e3:.2f} ms ({theirs / ours:.1f}x)"
    )


def kept_distribution(params: np.ndarray, size: int) -> dict[str, float]:
    """Summary of kept transforms (N, 8) in PARAM_COLUMNS order: zoom-in fraction and mean per axis,
    mean |rotation| (degrees) and mean |shift| (fraction of the side) per axis."""
    column = {name: params[:, index] for index, name in enumerate(PARAM_COLUMNS)}
    return {
        "zoom-in x": float((column["zoom_x"] < 1).mean()),
        "zoom-in y": float((column["zoom_y"] < 1).mean()),
        "mean zoom x": float(column["zoom_x"].mean()),
        "mean zoom y": float(column["zoom_y"].mean()),
        "mean |rotation|": float(np.abs(column["rotation_deg"]).mean()),
        "mean |shift x|": float(np.abs(column["shift_x_px"]).mean() / size),
        "mean |shift y|": float(np.abs(column["shift_y_px"]).mean() / size),
    }


def drawn_distribution(settings: AugmentSettings) -> dict[str, float]:
    """The same summary for the uniform ranges transforms are drawn from."""
    low, high = settings.zoom
    zoom_in = min(max((1 - low) / (high - low), 0.0), 1.0) if high > low else float(low < 1)
    return {
        "zoom-in x": zoom_in, "zoom-in y": zoom_in, "mean zoom x": (low + high) / 2, "mean zoom y": (low + high) / 2,
        "mean |rotation|": settings.rotation / 2, "mean |shift x|": settings.shift / 2,
        "mean |shift y|": settings.shift / 2,
    }


def acceptance(frame, settings: AugmentSettings) -> None:
    """Print acceptance and kept-vs-drawn distributions for the current rule and version 1's rule."""
    import dataclasses

    rules = {
        "detector + half-visible pre-check (now)": settings,
        "whole face box inside (version 1)": dataclasses.replace(settings, min_visible=1.0),
    }
    drawn = drawn_distribution(settings)
    print(f"{'':42s}" + "".join(f"{name:>17s}" for name in drawn))
    print(f"{'drawn':42s}" + "".join(f"{value:17.3f}" for value in drawn.values()))
    for label, rule in rules.items():
        started = time.perf_counter()
        result = augment_manifest(frame, None, rule, seed=0, workers=2)
        report = result.report
        draws = report.kept + sum(report.redrawn.values()) + sum(report.given_up.values())
        kept = kept_distribution(result.params, rule.crop_size)
        print(f"{'kept, ' + label:42s}" + "".join(f"{value:17.3f}" for value in kept.values()))
        print(
            f"    acceptance {report.kept}/{draws} draws = {report.kept / draws:.1%}; {report.kept}/"
            f"{report.requested} samples kept; {time.perf_counter() - started:.1f} s; {report.summary()}"
        )
        checked = report.images - report.missed_in_crop
        print(
            f"    the detector found the face in {checked} of {report.images} crops ({checked / report.images:.1%}; "
            f"the samples of the other {report.missed_in_crop} were checked by the pre-check alone)"
        )


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=None)
    parser.add_argument("--per-image", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--check-detector", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--subset", type=int, default=100, help="images for the 1-vs-2-worker and Keras baselines")
    parser.add_argument("--acceptance", action="store_true", help="measure kept-vs-drawn transforms, not time")
    parser.add_argument("--detector", choices=("auto", "haar"), default="auto",
                        help="haar: measure with the Haar fallback (no face model file reachable)")
    args = parser.parse_args()
    settings = AugmentSettings(per_image=args.per_image, crop_size=args.size, check_detector=args.check_detector)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench_augment_") as scratch:
        scratch = Path(scratch)
        if args.detector == "haar":
            # Before any detection in this process, and inherited by the spawned workers.
            os.environ["PAINXAI_HOME"] = str(scratch / "home_without_face_models")
        print(f"face detector: {detector_name() or 'none works'}")
        frame = read_manifest(manifest_path(args.manifest, scratch))
        if args.acceptance:
            chosen = frame.head(args.subset) if args.subset else frame
            print(f"acceptance on {len(chosen)} images x {settings.per_image} samples; settings: {settings}")
            acceptance(chosen, settings)
            return
        n_images = len(frame)
        print(f"manifest: {n_images} images, {frame['subject'].nunique()} subjects; settings: {settings}")

        started = time.perf_counter()
        result = augment_manifest(frame, scratch / "cache", settings, seed=0, workers=2)
        seconds = time.perf_counter() - started
        print(
            f"2 workers, empty cache: {seconds:.1f} s for {n_images} images x {settings.per_image} = "
            f"{n_images / seconds:.2f} images/s, {result.report.kept / seconds:.0f} samples/s "
            f"(target: under 180 s) -> {'OK' if seconds < 180 else 'TOO SLOW'}"
        )
        print(f"report: {result.report.summary()}")
        print(f"crop boxes: {result.report.crop_boxes}")
        cache_bytes = sum(f.stat().st_size for f in (scratch / "cache").glob("*.npz"))
        print(f"cache: {cache_bytes / 1e6:.1f} MB on disk for {result.images.nbytes / 1e6:.1f} MB of samples")
        del result

        started = time.perf_counter()
        again = augment_manifest(frame, scratch / "cache", settings, seed=0, workers=2)
        print(
            f"same call again (from the cache): {time.perf_counter() - started:.1f} s, "
            f"{again.report.computed_images} images recomputed"
        )
        del again

        subset = frame.head(args.subset)
        timings = {}
        for workers in (1, 2):
            started = time.perf_counter()
            augment_manifest(subset, None, settings, seed=0, workers=workers)
            timings[workers] = time.perf_counter() - started
        print(
            f"first {len(subset)} images, no cache: 1 worker {timings[1]:.1f} s "
            f"({len(subset) / timings[1]:.2f} images/s), 2 workers {timings[2]:.1f} s "
            f"({len(subset) / timings[2]:.2f} images/s), speed-up {timings[1] / timings[2]:.2f}x"
        )
        render_baseline(frame, settings, min(args.subset, 10))


if __name__ == "__main__":
    main()
