"""One CSV format for any dataset: reading with validation, writing, face boxes, and a per-dataset summary.

A manifest is a CSV with the columns

- ``path``: the image file, relative to the manifest's folder or absolute;
- ``subject``: who is in the image (a newborn id; never split across folds);
- ``dataset``: where it comes from (``UNIFESP``, ``iCOPE``, ``twin-UNIFESP`` ...);
- ``label``: ``pain`` or ``nopain``;
- ``face_box`` (optional): ``x0 y0 x1 y1`` in pixels of the image as stored on disk
  (after EXIF orientation), blank when unknown.

:func:`read_manifest` returns a :class:`pandas.DataFrame` with those columns, ``path`` made
absolute and ``face_box`` parsed to a tuple of four floats or ``None``. Every problem is reported
with the CSV line and the column, so a user can fix the file.

The adapters that build manifests from the real databases (iCOPE, UNIFESP) are in
:mod:`painxai.data.adapters`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pandas as pd

from painxai import atomic
from painxai.errors import PainxaiError
from painxai.labels import CLASSES, NOPAIN, PAIN

REQUIRED_COLUMNS = ("path", "subject", "dataset", "label")
COLUMNS = (*REQUIRED_COLUMNS, "face_box")


class ManifestError(PainxaiError):
    """A manifest that cannot be used; the message names the file, line and column."""


def where(source: str, line: int | None, column: str | None) -> str:
    """``"file, line n, column 'c'"``: where a problem is, for messages (line and column optional)."""
    parts = [source]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


def parse_face_box(text: object) -> tuple[float, float, float, float] | None:
    """Parse ``"x0 y0 x1 y1"`` (pixels) to a tuple; blank or NaN gives ``None``.

    Raises ``ManifestError`` (without the file and line, which the caller adds) when the text is not four
    numbers with 0 <= x0 < x1 and 0 <= y0 < y1.
    """
    if text is None or (isinstance(text, float) and text != text):
        return None
    text = str(text).strip()
    if not text:
        return None
    try:
        values = [float(v) for v in re.split(r"[\s,;]+", text)]
    except ValueError:
        raise ManifestError(f"{text!r} is not 4 numbers 'x0 y0 x1 y1'") from None
    if len(values) != 4:
        raise ManifestError(f"expected 4 numbers 'x0 y0 x1 y1', got {len(values)}")
    x0, y0, x1, y1 = values
    if not (x1 > x0 and y1 > y0) or min(values) < 0:
        raise ManifestError(f"box {text!r} must have 0 <= x0 < x1 and 0 <= y0 < y1")
    return (x0, y0, x1, y1)


def format_face_box(box: tuple[float, float, float, float] | None) -> str:
    """The manifest text of a face box (integers when whole), blank for ``None``."""
    if box is None:
        return ""
    return " ".join(f"{v:g}" for v in box)


def _check_image_file(path: Path) -> str | None:
    """Return why ``path`` is not a readable image, or ``None``. Reads the header only."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        return "file not found"
    try:
        with Image.open(path) as image:
            image.size  # noqa: B018 - touching the header is the check
    except (UnidentifiedImageError, OSError) as error:
        return f"not a readable image ({error.__class__.__name__})"
    return None


def read_manifest(path: str | os.PathLike[str], check_files: bool = True) -> pd.DataFrame:
    """Load and validate a manifest CSV.

    Parameters
    ----------
    path: the CSV file.
    check_files: also check that every image exists and has a readable image header.

    Returns
    -------
    DataFrame with one row per image and the columns ``path`` (absolute, str), ``subject``,
    ``dataset``, ``label`` (``pain``/``nopain``) and ``face_box`` (tuple of 4 floats or None),
    in file order.

    Raises
    ------
    ManifestError naming the line and column of the first kind of problem found: missing columns,
    an empty manifest, unknown labels, bad face boxes, missing or unreadable files, duplicate
    paths, a subject listed under two datasets.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ManifestError(f"{source}: manifest file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{source}: cannot read the manifest as UTF-8 text ({error})") from error
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"{where(source, 1, None)}: missing column(s) {', '.join(missing)}; "
            f"a manifest needs {', '.join(REQUIRED_COLUMNS)} (and optionally face_box)"
        )
    reader.fieldnames = header
    rows = []
    errors: list[str] = []
    seen_paths: dict[str, int] = {}
    subject_dataset: dict[str, tuple[str, int]] = {}
    base = path.resolve().parent
    for index, raw in enumerate(reader):
        line = index + 2  # the header is line 1
        values = {c: (raw.get(c) or "").strip() for c in COLUMNS}
        for column in REQUIRED_COLUMNS:
            if not values[column]:
                errors.append(f"{where(source, line, column)}: empty value")
        if values["label"] and values["label"] not in CLASSES:
            errors.append(
                f"{where(source, line, 'label')}: unknown label {values['label']!r}; use 'pain' or 'nopain'"
            )
        try:
            box = parse_face_box(values["face_box"])
        except ManifestError as error:
            errors.append(f"{where(source, line, 'face_box')}: {error}")
            box = None
        image_path = Path(values["path"])
        if not image_path.is_absolute():
            image_path = base / image_path
        key = os.path.normpath(str(image_path))
        if values["path"]:
            if key in seen_paths:
                errors.append(
                    f"{where(source, line, 'path')}: duplicate of line {seen_paths[key]} ({values['path']})"
                )
            else:
                seen_paths[key] = line
            if check_files:
                problem = _check_image_file(image_path)
                if problem:
                    errors.append(f"{where(source, line, 'path')}: {values['path']}: {problem}")
        subject, dataset = values["subject"], values["dataset"]
        if subject and dataset:
            first = subject_dataset.setdefault(subject, (dataset, line))
            if first[0] != dataset:
                errors.append(
                    f"{where(source, line, 'subject')}: subject {subject!r} is listed under dataset "
                    f"{dataset!r} here and {first[0]!r} on line {first[1]}; subjects must be unique"
                )
        rows.append(
            {"path": key, "subject": subject, "dataset": dataset, "label": values["label"], "face_box": box}
        )
        if len(errors) >= 20:
            break
    if errors:
        more = " (first 20 shown)" if len(errors) >= 20 else ""
        raise ManifestError(f"{len(errors)} problem(s) in the manifest{more}:\n" + "\n".join(errors))
    if not rows:
        raise ManifestError(f"{source}: the manifest lists no images")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` (the columns of :data:`COLUMNS`) as a manifest CSV, atomically.

    Paths inside the manifest's folder are written relative to it, so the folder can move.
    """
    path = Path(path)
    base = path.resolve().parent
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in frame.itertuples(index=False):
        image = Path(row.path)
        try:
            shown = image.resolve().relative_to(base).as_posix()
        except ValueError:
            shown = str(image)
        box = getattr(row, "face_box", None)
        writer.writerow([shown, row.subject, row.dataset, row.label, format_face_box(box)])
    atomic.write_text(path, out.getvalue())
    return path


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Images, subjects and images per label, per dataset (one row per dataset plus 'all')."""
    counts = frame.groupby(["dataset", "label"]).size().unstack(fill_value=0)
    for label in CLASSES:
        if label not in counts:
            counts[label] = 0
    table = pd.DataFrame(
        {
            "subjects": frame.groupby("dataset")["subject"].nunique(),
            "images": frame.groupby("dataset").size(),
            PAIN: counts[PAIN],
            NOPAIN: counts[NOPAIN],
        }
    )
    table.loc["all"] = [frame["subject"].nunique(), len(frame), int(counts[PAIN].sum()), int(counts[NOPAIN].sum())]
    return table.astype(int)
