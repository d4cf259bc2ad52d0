"""``painxai augment``: the paper's augmentation of a manifest's images into the on-disk cache."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from painxai.cli.common import console, progress_bar, user_errors
from painxai.faces.crop import DEFAULT_MARGIN


def augment(
    manifest: Path = typer.Option(..., help="Manifest CSV of the images to augment."),
    out: Path = typer.Option(..., help="Cache folder for the augmented samples (one .npz per image)."),
    per_image: int = typer.Option(20, help="New samples per image (the paper made 20)."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same samples."),
    size: int = typer.Option(128, help="Side in pixels of the face crops and samples."),
    margin: float = typer.Option(DEFAULT_MARGIN, help="Fraction of the face box added on each side of the crop."),
    check_detector: bool = typer.Option(
        True,
        "--check-detector/--no-check-detector",
        help="Keep a sample only if the face detector still finds the face (when a detector works).",
    ),
    workers: int = typer.Option(2, min=1, help="Worker processes."),
) -> None:
    """Augment every image of a manifest as the paper did (rotation, shear, shift, zoom, brightness, flip),
    keeping only samples whose face stays inside; prints the kept, redrawn and given-up counts."""
    from painxai.data.manifest import read_manifest
    from painxai.training.augment import AugmentSettings
    from painxai.training.augment_cache import augment_manifest

    with user_errors(), progress_bar("augmenting") as progress:
        settings = AugmentSettings(per_image=per_image, crop_size=size, margin=margin, check_detector=check_detector)
        frame = read_manifest(manifest)
        result = augment_manifest(frame, out, settings, seed, progress=progress, workers=workers)
    report = result.report
    table = Table(title=f"augmented samples in {out} ({report.seconds:.1f} s)")
    table.add_column("count")
    table.add_column("value", justify="right")
    rows = [
        ("source images", report.images),
        ("augmented now / from the cache", f"{report.computed_images} / {report.cached_images}"),
        ("samples requested", report.requested),
        ("samples kept", report.kept),
        *((f"redrawn: {reason}", n) for reason, n in sorted(report.redrawn.items())),
        *((f"given up: {reason}", n) for reason, n in sorted(report.given_up.items())),
        *((f"crop box from {source}", n) for source, n in sorted(report.crop_boxes.items())),
        ("detector check", report.detector),
    ]
    if report.missed_in_crop:
        rows.append(("face missed in the crop (samples unchecked)", report.missed_in_crop))
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``painxai augment`` to the main app."""
    app.command()(augment)
