"""One helper for every file checksum: manifests, folds files, face model files, image contents.

A leaf module (it imports nothing of painxai), so any package may use it.
"""

from __future__ import annotations

import hashlib
import os


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """The hex digest of the bytes of the file at ``path`` (``algorithm``: a :mod:`hashlib` name).

    Reads the file in chunks (:func:`hashlib.file_digest`), so large files cost no memory.
    """
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()
