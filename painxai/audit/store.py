"""``<run>/audit.json``: the one reader and writer of the audit's file (written atomically after each model)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from painxai.errors import PainxaiError

AUDIT_FILE = "audit.json"
# 2: intervals by subject, localisation on every out-of-fold pain image; 3: one entry per method and model,
# under "methods" (method -> model -> entry)
AUDIT_FORMAT = 3


class AuditError(PainxaiError):
    """An audit that cannot run (no test image, unknown model) or an unreadable audit.json."""


def audit_path(run_path: str | os.PathLike[str]) -> Path:
    """``<run>/audit.json``."""
    return Path(run_path) / AUDIT_FILE


def read_audit(run_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run's audit document (``methods[method][model]``: one entry), or None when the run has not been
    audited. An unreadable file, or one of another format than this version writes, raises AuditError
    saying to audit again."""
    path = audit_path(run_path)
    if not path.is_file():
        return None
    again = f"run `painxai audit --run {Path(run_path)}` again"
    try:
        document = json.loads(path.read_text())
        written = document.get("format")
    except (OSError, ValueError, AttributeError) as error:
        raise AuditError(f"{path}: unreadable ({error}); {again}") from error
    if written != AUDIT_FORMAT:  # before any key is read: an older file has other keys
        raise AuditError(
            f"{path}: written in audit format {written!r}, and this version reads format {AUDIT_FORMAT}; {again}"
        )
    if not isinstance(document.get("methods"), dict):  # the one key every reader needs
        raise AuditError(f"{path}: unreadable (no 'methods'); {again}")
    return document


def write_audit(run_path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write the document atomically (a reader never sees half of it)."""
    from painxai import atomic

    atomic.write_json(audit_path(run_path), document)
