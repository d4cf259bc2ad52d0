"""One CSV format for any dataset, its validation, and adapters for the real databases.

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
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from painxai.errors import PainxaiError
import pandas as pd

from painxai import atomic
LABELS = ("pain", "nopain")
REQUIRED_COLUMNS = ("path", "subject", "dataset", "label")
COLUMNS = (*REQUIRED_COLUMNS, "face_box")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# NFCS >= 3 is the usual clinical cut-off for pain (Grunau & Craig; Guinsburg 1999 for Brazilian
# NICUs). Used only when a UNIFESP labels file gives scores instead of classes.
NFCS_PAIN_THRESHOLD = 3.0


class ManifestError(PainxaiError, ValueError):
    """A manifest that cannot be used; the message names the file, line and column."""


def _where(source: str, line: int | None, column: str | None) -> str:
    parts = [source]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


def parse_face_box(text: object) -> tuple[float, float, float, float] | None:
    """Parse ``"x0 y0 x1 y1"`` (pixels) to a tuple; blank or NaN gives ``None``.

    Raises ``ValueError`` when the text is not four numbers with x0 < x1 and y0 < y1.
    """
    if text is None or (isinstance(text, float) and text != text):
        return None
    text = str(text).strip()
    if not text:
        return None
    values = [float(v) for v in re.split(r"[\s,;]+", text)]
    if len(values) != 4:
        raise ValueError(f"expected 4 numbers 'x0 y0 x1 y1', got {len(values)}")
    x0, y0, x1, y1 = values
    if not (x1 > x0 and y1 > y0) or min(values) < 0:
        raise ValueError(f"box {text!r} must have 0 <= x0 < x1 and 0 <= y0 < y1")
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
            f"{_where(source, 1, None)}: missing column(s) {', '.join(missing)}; "
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
                errors.append(f"{_where(source, line, column)}: empty value")
        if values["label"] and values["label"] not in LABELS:
            errors.append(
                f"{_where(source, line, 'label')}: unknown label {values['label']!r}; use 'pain' or 'nopain'"
            )
        try:
            box = parse_face_box(values["face_box"])
        except ValueError as error:
            errors.append(f"{_where(source, line, 'face_box')}: {error}")
            box = None
        image_path = Path(values["path"])
        if not image_path.is_absolute():
            image_path = base / image_path
        key = os.path.normpath(str(image_path))
        if values["path"]:
            if key in seen_paths:
                errors.append(
                    f"{_where(source, line, 'path')}: duplicate of line {seen_paths[key]} ({values['path']})"
                )
            else:
                seen_paths[key] = line
            if check_files:
                problem = _check_image_file(image_path)
                if problem:
                    errors.append(f"{_where(source, line, 'path')}: {values['path']}: {problem}")
        subject, dataset = values["subject"], values["dataset"]
        if subject and dataset:
            first = subject_dataset.setdefault(subject, (dataset, line))
            if first[0] != dataset:
                errors.append(
                    f"{_where(source, line, 'subject')}: subject {subject!r} is listed under dataset "
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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


_ICOPE_NAME = re.compile(r"^(?P<subject>S\d+)_(?P<sex>[MF])_(?P<rest>.+)$", re.IGNORECASE)
# Typos found in the real file names, mapped to the stimulus they mean.
_ICOPE_TYPOS = {"friciton": "friction", "succrose": "sucrose"}
ICOPE_LABELS = {"pain": "pain", "rest": "nopain"}


def icope_stimulus(file_name: str) -> tuple[str, str] | None:
    """Subject and stimulus of an iCOPE file name, or ``None`` if it does not follow the scheme.

    ``S40_M_pain _1.jpg`` -> ``("S40", "pain")``; ``S14_M_pain2.jpg`` -> ``("S14", "pain")``;
    ``S04_M_succrose.jpg`` -> ``("S04", "sucrose")``; ``S08_F_friction_2b.jpg`` -> ``("S08",
    "friction")``; ``S12_F_pain_post_sucrose_1.jpg`` -> ``("S12", "pain_post_sucrose")``.
    """
    match = _ICOPE_NAME.match(Path(file_name).stem)
    if not match:
        return None
    stimulus = match["rest"].lower().replace(" ", "")
    # Drop the repetition counter: "_1", "2", "_2b".
    stimulus = re.sub(r"_?\d+[a-z]?$", "", stimulus).strip("_")
    stimulus = _ICOPE_TYPOS.get(stimulus, stimulus)
    return match["subject"].upper(), stimulus


def icope_manifest(root: str | os.PathLike[str]) -> tuple[pd.DataFrame, Counter[str]]:
    """Build the iCOPE manifest from a folder tree of iCOPE images.

    Keeps ``pain`` -> pain and ``rest`` -> nopain (``pain_post_sucrose`` is not pain).

    Returns the manifest frame and a counter of the files skipped, per stimulus (with
    ``"unrecognised name"`` for files that do not follow the naming scheme).
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder")
    rows, skipped = [], Counter()
    for image in _image_files(root):
        parsed = icope_stimulus(image.name)
        if parsed is None:
            skipped["unrecognised name"] += 1
            continue
        subject, stimulus = parsed
        label = ICOPE_LABELS.get(stimulus)
        if label is None:
            skipped[stimulus] += 1
            continue
        rows.append({"path": str(image), "subject": subject, "dataset": "iCOPE", "label": label, "face_box": None})
    if not rows:
        raise ManifestError(f"{root}: no iCOPE pain or rest images found (names like S04_M_pain_1.jpg)")
    return pd.DataFrame(rows, columns=list(COLUMNS)), skipped


_UNIFESP_NAME = re.compile(r"^(?P<subject>\d{2})_\d{6}")


def _read_unifesp_labels(labels: Path, nfcs_threshold: float) -> dict[str, str]:
    """Map file name -> label from ``file,label`` or ``file,nfcs`` CSV (extra columns ignored)."""
    try:
        table = pd.read_csv(labels, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ManifestError(f"{labels}: cannot read the labels CSV ({error})") from error
    columns = {c.strip().lower(): c for c in table.columns}
    if "file" not in columns or not ({"label", "nfcs"} & columns.keys()):
        raise ManifestError(f"{labels}: a labels CSV needs the columns file,label or file,nfcs")
    result = {}
    for index, record in table.iterrows():
        line = int(index) + 2
        name = Path(record[columns["file"]].strip()).name
        if "label" in columns and record[columns["label"]].strip():
            label = record[columns["label"]].strip().lower().replace(" ", "").replace("_", "").replace("-", "")
            if label not in LABELS:
                raise ManifestError(f"{_where(str(labels), line, 'label')}: unknown label {label!r}")
        else:
            try:
                score = float(record[columns["nfcs"]])
            except (KeyError, ValueError) as error:
                raise ManifestError(f"{_where(str(labels), line, 'nfcs')}: not a number") from error
            label = "pain" if score >= nfcs_threshold else "nopain"
        result[name] = label
    return result


def unifesp_manifest(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str],
    nfcs_threshold: float = NFCS_PAIN_THRESHOLD,
) -> tuple[pd.DataFrame, list[str]]:
    """Build the UNIFESP manifest: subject from the file name (``01_113607.bmp`` -> ``01``).

    The label is not in the UNIFESP file name; it comes from ``labels``, a CSV with ``file,label``
    (pain/nopain) or ``file,nfcs`` (score; pain when score >= ``nfcs_threshold``). Files are matched
    by base name. Returns the manifest and the image files that had no label (skipped).
    """
    root, labels = Path(root), Path(labels)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder")
    by_name = _read_unifesp_labels(labels, nfcs_threshold)
    rows, unlabelled = [], []
    for image in _image_files(root):
        match = _UNIFESP_NAME.match(image.stem)
        if not match:
            unlabelled.append(str(image))
            continue
        label = by_name.get(image.name)
        if label is None:
            unlabelled.append(str(image))
            continue
        rows.append(
            {"path": str(image), "subject": match["subject"], "dataset": "UNIFESP", "label": label, "face_box": None}
        )
    if not rows:
        raise ManifestError(f"{root}: no labelled UNIFESP images found (names like 01_113607.bmp)")
    return pd.DataFrame(rows, columns=list(COLUMNS)), unlabelled


def merge_manifests(paths: Iterable[str | os.PathLike[str]], check_files: bool = True) -> pd.DataFrame:
    """Concatenate validated manifests; the result is validated again as one manifest
    (duplicate paths and subjects under two datasets are refused)."""
    frames = [read_manifest(p, check_files=check_files) for p in paths]
    if not frames:
        raise ManifestError("nothing to merge")
    merged = pd.concat(frames, ignore_index=True)
    duplicated = merged["path"].duplicated(keep=False)
    if duplicated.any():
        raise ManifestError(f"the same image is in several manifests: {merged.loc[duplicated, 'path'].iloc[0]}")
    owners = merged.groupby("subject")["dataset"].nunique()
    clash = owners[owners > 1]
    if len(clash):
        raise ManifestError(f"subject {clash.index[0]!r} appears under two datasets in the merged manifests")
    return merged


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Images, subjects and images per label, per dataset (one row per dataset plus 'all')."""
    counts = frame.groupby(["dataset", "label"]).size().unstack(fill_value=0)
    for label in LABELS:
        if label not in counts:
            counts[label] = 0
    table = pd.DataFrame(
        {
            "subjects": frame.groupby("dataset")["subject"].nunique(),
            "images": frame.groupby("dataset").size(),
            "pain": counts["pain"],
            "nopain": counts["nopain"],
        }
    )
    table.loc["all"] = [frame["subject"].nunique(), len(frame), int(counts["pain"].sum()), int(counts["nopain"].sum())]
    return table.astype(int)
