"""Leave-subjects-out cross-validation folds, as in the paper (docs/PROTOCOL.md#cross-validation).

No subject's images are ever split across folds. Subjects of each dataset are dealt to the folds
in turn, so with the paper's composition (30 UNIFESP + 26 iCOPE subjects, k = 10) every fold holds
exactly 3 UNIFESP subjects and 2 or 3 iCOPE subjects. Within a dataset, subjects are dealt in order
of their share of pain images, so classes also spread evenly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.data.manifest import read_manifest
from painxai.errors import PainxaiError
from painxai.hashing import file_digest
from painxai.labels import NOPAIN, PAIN


class FoldError(PainxaiError):
    """A fold request that cannot be met, or a malformed folds file."""


def make_folds(manifest: pd.DataFrame, k: int = 10, seed: int = 0) -> list[list[str]]:
    """Assign every subject of ``manifest`` to one of ``k`` test folds.

    Returns ``k`` lists of subject ids. Per dataset, fold counts differ by at most one subject;
    total fold sizes differ by at most one subject. Deterministic for a given ``seed``.
    """
    subjects = manifest.groupby("subject").agg(
        dataset=("dataset", "first"), images=("label", "size"), pain=("label", lambda s: int((s == PAIN).sum()))
    )
    if k < 2:
        raise FoldError(f"k must be at least 2, got {k}")
    if k > len(subjects):
        raise FoldError(f"cannot make {k} folds from {len(subjects)} subjects: k must not exceed the subjects")
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    per_dataset = np.zeros(k, dtype=int)
    pain_images = np.zeros(k, dtype=int)
    nopain_images = np.zeros(k, dtype=int)
    # Largest dataset first, so the smaller ones fill the folds that stayed short.
    datasets = subjects["dataset"].value_counts().index.tolist()
    for dataset in datasets:
        members = subjects[subjects["dataset"] == dataset]
        members = members.iloc[rng.permutation(len(members))]
        share = members["pain"] / members["images"]
        members = members.iloc[np.argsort(-share.to_numpy(), kind="stable")]
        per_dataset[:] = 0
        for subject, row in members.iterrows():
            sizes = np.array([len(f) for f in folds])
            tie_break = rng.permutation(k)
            own_class = pain_images if row[PAIN] * 2 >= row["images"] else nopain_images
            order = np.lexsort((tie_break, own_class, sizes, per_dataset))
            chosen = int(order[0])
            folds[chosen].append(str(subject))
            per_dataset[chosen] += 1
            pain_images[chosen] += int(row["pain"])
            nopain_images[chosen] += int(row["images"] - row["pain"])
    return [sorted(f) for f in folds]


def folds_document(manifest: pd.DataFrame, folds: list[list[str]], seed: int, manifest_sha256: str) -> dict:
    """The JSON-ready description of ``folds`` (see ``write_folds``)."""
    entries = []
    for index, members in enumerate(folds):
        rows = manifest[manifest["subject"].isin(members)]
        entries.append(
            {
                "fold": index,
                "test_subjects": list(members),
                "test_images": len(rows),
                "test_pain": int((rows["label"] == PAIN).sum()),
                "test_nopain": int((rows["label"] == NOPAIN).sum()),
                "test_datasets": {str(d): int(n) for d, n in rows.groupby("dataset")["subject"].nunique().items()},
            }
        )
    return {"k": len(folds), "seed": seed, "manifest_sha256": manifest_sha256, "folds": entries}


def write_folds(
    manifest_path: str | os.PathLike[str], out: str | os.PathLike[str], k: int = 10, seed: int = 0
) -> dict:
    """Make folds for the manifest at ``manifest_path`` and write them to ``out`` (JSON, atomically).

    The file is ``{"k", "seed", "manifest_sha256", "folds": [{"fold", "test_subjects",
    "test_images", "test_pain", "test_nopain", "test_datasets"}, ...]}``. Returns that document.
    """
    manifest = read_manifest(manifest_path)
    document = folds_document(manifest, make_folds(manifest, k, seed), seed, file_digest(manifest_path))
    atomic.write_json(out, document)
    return document


def read_folds(path: str | os.PathLike[str], manifest: pd.DataFrame | None = None) -> dict:
    """Load a folds file and check it; with ``manifest``, also check that it covers the same
    subjects exactly once. Raises :class:`FoldError` with what is wrong."""
    import json

    path = Path(path)
    try:
        document = json.loads(path.read_text())
        folds = [list(map(str, f["test_subjects"])) for f in document["folds"]]
        int(document["k"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FoldError(f"{path}: not a valid folds file ({error})") from error
    if len(folds) != int(document["k"]):
        raise FoldError(f"{path}: k = {document['k']} but {len(folds)} folds are listed")
    listed = [s for f in folds for s in f]
    if len(listed) != len(set(listed)):
        raise FoldError(f"{path}: a subject appears in two folds")
    if manifest is not None:
        known = set(manifest["subject"])
        if set(listed) != known:
            missing, extra = sorted(known - set(listed)), sorted(set(listed) - known)
            raise FoldError(
                f"{path}: folds do not match the manifest (missing subjects {missing[:5]}, unknown {extra[:5]})"
            )
    return document


def fold_subjects(document: dict, fold: int) -> list[str]:
    """The test subjects of ``fold`` in a folds document."""
    return [str(s) for s in document["folds"][fold]["test_subjects"]]


def validation_subjects(
    manifest: pd.DataFrame, train_subjects: list[str], fraction: float = 0.1, seed: int = 0
) -> list[str]:
    """Hold out some training subjects (never single images) for early stopping.

    Takes about ``fraction`` of the subjects of each dataset (at least one per dataset, leaving at
    least one for training), chosen at random with ``seed``. Returns the validation subject ids.
    """
    rng = np.random.default_rng(seed)
    train = manifest[manifest["subject"].isin(train_subjects)]
    chosen: list[str] = []
    for _dataset, rows in train.groupby("dataset", sort=True):
        members = sorted(rows["subject"].unique())
        if len(members) < 2:
            continue
        take = min(len(members) - 1, max(1, round(fraction * len(members))))
        chosen.extend(str(s) for s in rng.choice(members, size=take, replace=False))
    return sorted(chosen)


def fold_of_subjects(folds_document: Mapping[str, Any]) -> dict[str, int]:
    """Subject id -> the fold whose test set holds it, from a folds document (:mod:`painxai.data.folds`)."""
    return {str(s): int(entry["fold"]) for entry in folds_document["folds"] for s in entry["test_subjects"]}
