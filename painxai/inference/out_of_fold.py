"""Out-of-fold by default: an image of the run's own data is explained only by the fold model(s) that never
saw its subject.

Every fold model of a run trained on the subjects outside its test fold, so for an image of the run's data
nine of ten fold models trained on that very subject: their maps and probabilities are in-sample. This
module recognises such an image (by its path, or by the SHA-256 of its bytes against the files the run's
manifest lists) and picks the fold(s) whose test set held its subject. Streamlit-free: the dashboard, the
CLI and the audit use it alike.

The file digests of a manifest are computed once per (manifest file, its modification time) and kept in
memory; uploads are hashed in memory and never written anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from painxai.data.folds import fold_of_subjects
from painxai.errors import RequestError

if TYPE_CHECKING:
    import pandas as pd

    from painxai.runs.reader import FoldEnsemble, Run

OUT_OF_FOLD = "out-of-fold"


@dataclass(frozen=True)
class DataMatch:
    """An image found in the run's manifest: its row's path, subject, dataset, label and test fold."""

    path: str
    subject: str
    dataset: str
    label: str
    fold: int


@dataclass(frozen=True)
class FoldChoice:
    """The folds a model explains an image with.

    ``out_of_fold``: True when no chosen fold trained on the image's subject, False when at least one did
    (in-sample), None when the image is not part of the run's data (no fold saw it: the question does not
    arise). ``note``: one line saying so, for captions and reports.
    """

    folds: list[int]
    out_of_fold: bool | None
    note: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready: folds, out_of_fold, note."""
        return {"folds": list(self.folds), "out_of_fold": self.out_of_fold, "note": self.note}


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes held in memory (an upload)."""
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=8)
def _manifest_digests(manifest_path: str, mtime_ns: int, size: int) -> dict[str, int]:
    """SHA-256 of each file the manifest lists -> its row number; unreadable files are left out.

    ``mtime_ns`` and ``size`` are the manifest file's, only so that an edited manifest is hashed again.
    """
    from painxai.data.manifest import read_manifest
    from painxai.hashing import file_digest

    manifest = read_manifest(manifest_path, check_files=False)
    digests: dict[str, int] = {}
    for index, path in enumerate(manifest["path"]):
        try:
            digests.setdefault(file_digest(path), index)
        except OSError:
            continue  # a file that moved away cannot match anything
    return digests


def manifest_digests(manifest_path: str | os.PathLike[str]) -> dict[str, int]:
    """SHA-256 -> row number of every file of the manifest at ``manifest_path``, cached in memory."""
    stat = Path(manifest_path).stat()
    return _manifest_digests(str(Path(manifest_path).resolve()), stat.st_mtime_ns, stat.st_size)


def _match_row(manifest: pd.DataFrame, index: int, folds_document: Mapping[str, Any]) -> DataMatch | None:
    row = manifest.iloc[index]
    fold = fold_of_subjects(folds_document).get(str(row["subject"]))
    if fold is None:
        return None
    return DataMatch(str(row["path"]), str(row["subject"]), str(row["dataset"]), str(row["label"]), fold)


def find_in_run(run: Run, data: bytes | None = None, path: str | os.PathLike[str] | None = None) -> DataMatch | None:
    """The run's manifest row of an image given by its bytes (an upload) and/or its path; None when the
    image is not part of the run's data. A path is matched first (cheap), then the bytes' SHA-256."""
    manifest_path = run.path / "manifest.csv"
    if not manifest_path.is_file():
        return None
    manifest = run.manifest()
    folds_document = run.folds()
    if path is not None:
        wanted = str(Path(path).resolve())
        hits = [i for i, p in enumerate(manifest["path"]) if str(Path(p).resolve()) == wanted]
        if hits:
            return _match_row(manifest, hits[0], folds_document)
        if data is None and Path(path).is_file():
            data = Path(path).read_bytes()
    if data is None:
        return None
    index = manifest_digests(manifest_path).get(sha256_bytes(data))
    return None if index is None else _match_row(manifest, index, folds_document)


def parse_fold_request(text: str) -> str | list[int]:
    """``out-of-fold`` | ``all`` | a comma list of fold numbers, as typed on the command line."""
    text = text.strip()
    if text in (OUT_OF_FOLD, "all"):
        return text
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() for part in parts):
        raise RequestError(f"folds must be '{OUT_OF_FOLD}', 'all' or fold numbers such as 3 or 1,4; got {text!r}")
    return sorted({int(part) for part in parts})


def choose_folds(
    finished: Sequence[int], match: DataMatch | None, request: str | Sequence[int] = OUT_OF_FOLD
) -> FoldChoice:
    """The folds one model explains an image with.

    finished: the model's finished folds. match: the image's row in the run's data, or None. request:
    ``out-of-fold`` (default: the image's own test fold when it belongs to the run's data, else every
    finished fold), ``all``, or explicit fold numbers (labelled in-sample when one of them trained on the
    image's subject). Raises RequestError when the request names folds that are not usable (unfinished or
    damaged), or asks out-of-fold for an image whose test fold is not usable.
    """
    finished = sorted(int(f) for f in finished)
    if request == OUT_OF_FOLD:
        if match is None:
            return FoldChoice(finished, None, f"not in the run's data: all {len(finished)} fold models")
        if match.fold not in finished:
            raise RequestError(
                f"subject {match.subject} is held out by fold {match.fold}, which is unfinished or damaged "
                f"(`painxai check --run RUN` names its files): choose folds explicitly (they trained on this "
                f"subject, so their answer is in-sample)"
            )
        return FoldChoice([match.fold], True, f"out-of-fold: fold {match.fold} never saw subject {match.subject}")
    folds = finished if request == "all" else sorted(int(f) for f in request)
    missing = sorted(set(folds) - set(finished))
    if missing or not folds:
        raise RequestError(
            f"fold(s) {missing or folds} unfinished or damaged (`painxai check --run RUN` names their files); "
            f"usable: {finished}"
        )
    if match is None:
        return FoldChoice(folds, None, f"not in the run's data: fold(s) {', '.join(map(str, folds))}")
    seen = [f for f in folds if f != match.fold]
    if not seen:
        return FoldChoice(folds, True, f"out-of-fold: fold {match.fold} never saw subject {match.subject}")
    return FoldChoice(
        folds, False, f"in-sample: fold(s) {', '.join(map(str, seen))} trained on subject {match.subject}"
    )


def fold_subset(ensemble: FoldEnsemble, folds: Sequence[int]) -> FoldEnsemble:
    """The same ensemble restricted to ``folds`` (sharing the trunk and the chosen tails, nothing copied)."""
    missing = sorted(set(folds) - set(ensemble.folds))
    if missing or not folds:
        raise ValueError(f"{ensemble.name} has no finished fold(s) {missing or list(folds)}")
    if list(folds) == list(ensemble.folds):
        return ensemble
    tails = [ensemble.tails[ensemble.folds.index(f)] for f in folds]
    return dataclasses.replace(ensemble, folds=list(folds), tails=tails)
