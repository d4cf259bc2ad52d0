"""Face commands: ``painxai faces fetch-models``, ``painxai faces status``, ``painxai faces detect IMAGE``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from painxai.cli.common import console, user_errors
from painxai.data.images import load_image
from painxai.faces import model_files
from painxai.faces.detection import check_method, detect_faces

faces_app = typer.Typer(help="Face model files and face detection.")


@faces_app.command("fetch-models")
def fetch_models(
    dest: Path = typer.Option(None, help="Folder for the model files (default: $PAINXAI_HOME/face_models)."),
    force: bool = typer.Option(False, help="Extract the files again even when they are already there."),
    wheel: Path = typer.Option(None, help="A local mediapipe 0.10.21 wheel to extract from instead of pip download."),
) -> None:
    """Put the face detector and landmark model files in place (quick when they already are)."""
    with user_errors():
        found = model_files.fetch_models(dest, force=force, wheel=wheel)
    for key, path in found.items():
        console.print(f"{key}: {path}", highlight=False)


@faces_app.command("status")
def status(
    dest: Path = typer.Option(None, help="Folder of the model files (default: $PAINXAI_HOME/face_models)."),
) -> None:
    """Show whether each face model file is present and has the right SHA-256."""
    table = Table(title="face models")
    for column in ("model", "state", "path"):
        table.add_column(column)
    states = model_files.models_status(dest)
    for key, row in states.items():
        table.add_row(key, row["state"], str(row["path"]))
    console.print(table)
    if any(row["state"] != "ok" for row in states.values()):
        console.print("run `painxai faces fetch-models`; until then detection falls back to OpenCV's Haar cascade")
        raise typer.Exit(1)


@faces_app.command("detect")
def detect(
    image: Path = typer.Argument(..., help="Photo to search for faces."),
    min_score: float = typer.Option(0.5, help="Keep faces scored at least this (0-1)."),
    method: str = typer.Option("auto", help="auto (MediaPipe, else Haar), mediapipe or haar."),
) -> None:
    """Print the face boxes (x0, y0, x1, y1 in pixels), their scores, the detector used and its verdict."""
    with user_errors():
        search = detect_faces(load_image(image), min_score=min_score, method=check_method(method))
    table = Table(title=f"{image.name}: detector {search.detector}")
    for column in ("#", "x0", "y0", "x1", "y1", "score", "used"):
        table.add_column(column, justify="right")
    primary = search.primary
    for number, face in enumerate(search.faces, start=1):
        table.add_row(str(number), *(f"{v:.1f}" for v in face.box), f"{face.score:.3f}",
                      "yes" if face is primary else "")
    console.print(table)
    console.print(search.message, highlight=False)
    if len(search.faces) > 1 and primary is not None:
        number = next(n for n, face in enumerate(search.faces, start=1) if face is primary)
        console.print(f"face #{number} (the largest) is the one painxai explain and the dashboard use; "
                      "give --box to use another", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``faces`` command group to the main app."""
    app.add_typer(faces_app, name="faces")
