"""Audit a run: every model on the same out-of-fold images, audit.json written after each model, resumable."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from painxai.audit.images import choose_images, load_photos
from painxai.audit.model import AuditSettings, audit_model
from painxai.audit.store import AUDIT_FORMAT, AuditError, read_audit, write_audit


def audit_run(
    run_path: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    settings: AuditSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Audit ``models`` (default: every model with a finished fold) of the run and write ``audit.json``
    after each model; models already audited with the same settings and folds are skipped. Returns the
    document."""
    from painxai.runs.reader import Run

    settings = settings or AuditSettings()
    log = log or (lambda _message: None)
    run = Run(run_path)
    available = run.models()
    names = list(available if models is None else models)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise AuditError(f"model(s) {unknown or names} not in run {run.name}; it has {', '.join(available) or 'none'}")
    try:
        document = read_audit(run.path) or {}
    except AuditError:
        document = {}  # an unreadable file is replaced
    document = {"format": AUDIT_FORMAT, **document, "run": run.name}
    document.setdefault("models", {})
    rows = choose_images(run.manifest(), run.folds(), settings.images, settings.seed)
    photos = None
    for name in names:
        previous = document["models"].get(name)
        same = previous and previous.get("settings") == asdict(settings)
        if same and previous.get("folds") == run.finished_folds(name):
            log(f"{name}: already audited with these settings, skipped")
            continue
        if photos is None:
            photos = load_photos(rows)
        log(f"{name}: auditing {settings.images} out-of-fold test images…")
        document["models"][name] = audit_model(run, name, photos, settings)
        document["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_audit(run.path, document)
        entry = document["models"][name]
        log(f"{name}: {entry['verdict']} ({entry['seconds']} s)")
    return document
