"""Adapters from the real databases to manifests, and the merge of several manifests into one.

iCOPE keeps its labels in the file names (``S04_M_pain_1.jpg``); UNIFESP's file names carry only the
subject (``01_113607.bmp``) and its labels come from a separate CSV. Each adapter returns a manifest
frame (the columns of :data:`painxai.data.manifest.COLUMNS`) and what it skipped, so the user sees why an
image is missing.

iCOPE subset: the adapter keeps every "pain" and "rest" photo. The public list of iCOPE's file names has
27 subjects with 76 pain and 88 rest photos, where the paper used 26 subjects with 60 and 63 (it does not
say which). A researcher who knows the exact list passes it as an include file (:func:`read_include`:
file names, paths or subjects, one per line); :func:`composition_notes` says, for a run's provenance,
where a manifest's composition differs from the paper's.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from painxai.data.manifest import COLUMNS, ManifestError, read_manifest, where
from painxai.labels import CLASSES, NOPAIN, PAIN

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# NFCS >= 3 is the usual clinical cut-off for pain (Grunau & Craig; Guinsburg 1999 for Brazilian
# NICUs). Used only when a UNIFESP labels file gives scores instead of classes.
NFCS_PAIN_THRESHOLD = 3.0

def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


_ICOPE_NAME = re.compile(r"^(?P<subject>S\d+)_(?P<sex>[MF])_(?P<rest>.+)$", re.IGNORECASE)
# Typos found in the real file names, mapped to the stimulus they mean.
_ICOPE_TYPOS = {"friciton": "friction", "succrose": "sucrose"}
ICOPE_LABELS = {"pain": PAIN, "rest": NOPAIN}


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


def icope_manifest(
    root: str | os.PathLike[str], include: str | os.PathLike[str] | None = None
) -> tuple[pd.DataFrame, Counter[str]]:
    """Build the iCOPE manifest from a folder tree of iCOPE images.

    Keeps ``pain`` -> pain and ``rest`` -> nopain (``pain_post_sucrose`` is not pain); with ``include``
    (a file, see :func:`read_include`) only the images and subjects it lists.

    Returns the manifest frame and a counter of the files skipped, per stimulus (with
    ``"unrecognised name"`` for files that do not follow the naming scheme and ``"not in the include
    list"``).
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder")
    rows: list[dict[str, object]] = []
    skipped: Counter[str] = Counter()
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
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if include is not None:
        kept = included(frame, root, include)
        skipped["not in the include list"] += int((~kept).sum())
        frame = frame[kept].reset_index(drop=True)
    return frame, skipped


_SUBJECT_ENTRY = re.compile(r"^S\d+$", re.IGNORECASE)


def read_include(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """The entries of an include file as (line number, entry): one image or subject per line.

    An entry is a subject (``S04``) or an image, by file name (``S04_M_pain_1.jpg``) or path (absolute,
    or relative to the image folder: ``pilot/S04_M_pain_1.jpg``). Blank lines and lines starting with
    ``#`` are ignored; spaces inside a name are kept (iCOPE has ``S40_M_pain _1.jpg``).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read the include list ({error})") from error
    entries = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    entries = [(number, entry) for number, entry in entries if entry and not entry.startswith("#")]
    if not entries:
        raise ManifestError(f"{path}: the include list is empty (one image or subject per line)")
    return entries


def included(frame: pd.DataFrame, root: str | os.PathLike[str], include: str | os.PathLike[str]) -> pd.Series:
    """Which rows of an adapter's ``frame`` (absolute paths under ``root``) the include file lists (bool
    Series). Every entry must match a row: one that matches none (a typo, an image of another stimulus,
    another folder) is an error naming the file and line, so a run never silently uses a different subset.
    """
    paths = frame["path"].map(lambda p: Path(p).resolve())
    names = paths.map(lambda p: p.name)
    subjects = frame["subject"].astype(str).str.upper()
    kept = pd.Series(False, index=frame.index)
    for number, entry in read_include(include):
        if _SUBJECT_ENTRY.match(entry):
            matches = subjects == entry.upper()
        elif "/" in entry or os.sep in entry:
            target = Path(entry) if Path(entry).is_absolute() else Path(root) / entry
            matches = paths == target.resolve()
        else:
            matches = names == entry
        if not matches.any():
            raise ManifestError(
                f"{where(str(include), number, None)}: {entry!r} matches no kept (pain or rest) image under "
                f"{root}; fix the entry or remove the line"
            )
        kept |= matches
    return kept


#: The paper's composition per database: (subjects, pain images, no-pain images).
PAPER_COMPOSITION = {"UNIFESP": (30, 164, 196), "iCOPE": (26, 60, 63)}


def composition_notes(manifest: pd.DataFrame) -> list[str]:
    """One line per real database of ``manifest`` whose subjects or images differ from the paper's
    (:data:`PAPER_COMPOSITION`), for a run's provenance; empty when they all agree (or for the twin)."""
    notes = []
    for dataset, (subjects, pain, nopain) in PAPER_COMPOSITION.items():
        rows = manifest[manifest["dataset"] == dataset]
        if rows.empty:
            continue
        have = (rows["subject"].nunique(), int((rows["label"] == PAIN).sum()), int((rows["label"] == NOPAIN).sum()))
        if have != (subjects, pain, nopain):
            text = (
                f"{dataset}: {have[0]} subjects, {have[1]} pain / {have[2]} no-pain images; the paper used "
                f"{subjects}, {pain} / {nopain}"
            )
            if dataset == "iCOPE":
                text += " (a subset it does not list: painxai manifest icope --include FILE takes an exact list)"
            notes.append(text)
    return notes


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
            if label not in CLASSES:
                raise ManifestError(f"{where(str(labels), line, 'label')}: unknown label {label!r}")
        else:
            try:
                score = float(record[columns["nfcs"]])
            except (KeyError, ValueError) as error:
                raise ManifestError(f"{where(str(labels), line, 'nfcs')}: not a number") from error
            label = PAIN if score >= nfcs_threshold else NOPAIN
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

