"""Data commands: ``painxai manifest ...``, ``painxai synth``, ``painxai folds``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from painxai.cli.common import console, progress_bar, user_errors
from painxai.data import adapters
from painxai.data import manifest as mf
from painxai.data.folds import write_folds

manifest_app = typer.Typer(help="Build manifests (one CSV format for any dataset) from the real databases.")


def _print_summary(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    summary = mf.summarise(frame)
    table.add_column("dataset")
    for column in summary.columns:
        table.add_column(column, justify="right")
    for name, row in summary.iterrows():
        table.add_row(str(name), *(str(v) for v in row))
    console.print(table)


@manifest_app.command("icope")
def manifest_icope(
    root: Path = typer.Option(..., help="Folder holding the iCOPE images (searched recursively)."),
    out: Path = typer.Option(..., help="Manifest CSV to write."),
    include: Path | None = typer.Option(
        None,
        help="Keep only these images or subjects: a text file, one per line (file name, path under --root, or "
        "subject like S04; # comments). The paper used 26 subjects, 60 pain + 63 rest images, without listing "
        "them; without --include every pain and rest image is kept (27 subjects, 76 + 88 in the public list).",
    ),
) -> None:
    """iCOPE: subject and stimulus from the file names; keeps pain -> pain and rest -> nopain."""
    with user_errors():
        frame, skipped = adapters.icope_manifest(root, include=include)
        mf.write_manifest(frame, out)
    _print_summary(frame, f"iCOPE manifest written to {out}")
    if skipped:
        console.print("skipped: " + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())))
    for note in adapters.composition_notes(frame):
        console.print(f"note: {note}")


@manifest_app.command("unifesp")
def manifest_unifesp(
    root: Path = typer.Option(..., help="Folder holding the UNIFESP frames (searched recursively)."),
    labels: Path = typer.Option(..., help="CSV with file,label (pain/nopain) or file,nfcs."),
    out: Path = typer.Option(..., help="Manifest CSV to write."),
    nfcs_threshold: float = typer.Option(
        adapters.NFCS_PAIN_THRESHOLD, help="With file,nfcs labels: an NFCS score at or above this is pain."
    ),
) -> None:
    """UNIFESP: subject from the file name, label from a labels CSV."""
    with user_errors():
        frame, unlabelled = adapters.unifesp_manifest(root, labels, nfcs_threshold)
        mf.write_manifest(frame, out)
    _print_summary(frame, f"UNIFESP manifest written to {out}")
    if unlabelled:
        console.print(f"skipped {len(unlabelled)} image(s) without a label, e.g. {unlabelled[0]}")


@manifest_app.command("merge")
def manifest_merge(
    manifests: list[Path] = typer.Argument(..., help="Manifests to merge."),
    out: Path = typer.Option(..., help="Merged manifest CSV to write."),
) -> None:
    """Merge manifests into one (paths and subjects must stay unique)."""
    with user_errors():
        frame = adapters.merge_manifests(manifests)
        mf.write_manifest(frame, out)
    _print_summary(frame, f"merged manifest written to {out}")


@manifest_app.command("check")
def manifest_check(manifest: Path = typer.Argument(..., help="Manifest CSV to validate.")) -> None:
    """Validate a manifest and print its composition."""
    with user_errors():
        frame = mf.read_manifest(manifest)
    _print_summary(frame, f"{manifest}: valid")


def synth(
    out: Path = typer.Option(Path("data/twin"), help="Folder for the images and manifest.csv."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same twin."),
    size_scale: float = typer.Option(1.0, help="Scale the number of subjects and images (tests use 0.1)."),
) -> None:
    """Generate the synthetic twin of UNIFESP + iCOPE with known pain cues and region masks."""
    from painxai.synth.twin import generate_twin

    with progress_bar("drawing the synthetic twin") as progress:
        summary = generate_twin(out, seed=seed, size_scale=size_scale, progress=progress)
    frame = mf.read_manifest(summary.manifest_path, check_files=False)
    _print_summary(frame, f"synthetic twin written to {out} in {summary.seconds:.1f} s")


def folds(
    manifest: Path = typer.Option(..., help="Manifest CSV."),
    k: int = typer.Option(10, help="Number of folds."),
    seed: int = typer.Option(0, help="Random seed."),
    out: Path = typer.Option(..., help="folds.json to write."),
) -> None:
    """Leave-subjects-out folds: no subject in two folds; datasets and classes spread evenly."""
    with user_errors():
        document = write_folds(manifest, out, k=k, seed=seed)
    table = Table(title=f"{k} folds written to {out}")
    for column in ("fold", "subjects", "images", "pain", "nopain", "datasets"):
        table.add_column(column)
    for fold in document["folds"]:
        table.add_row(
            str(fold["fold"]),
            str(len(fold["test_subjects"])),
            str(fold["test_images"]),
            str(fold["test_pain"]),
            str(fold["test_nopain"]),
            ", ".join(f"{d} {n}" for d, n in fold["test_datasets"].items()),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the data commands to the main app."""
    app.add_typer(manifest_app, name="manifest")
    app.command()(synth)
    app.command()(folds)
