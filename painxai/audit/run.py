"""Audit a run: every model on the same out-of-fold images, audit.json written after each model, resumable."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from painxai.audit.images import AuditPhotos, choose_images, load_photos, pain_images
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
    photos = located = None
    for name in names:
        previous = document["models"].get(name)
        same = previous and previous.get("settings") == asdict(settings)
        if same and previous.get("folds") == run.finished_folds(name):
            log(f"{name}: already audited with these settings, skipped")
            continue
        if photos is None:
            photos = load_photos(rows)
            located = _located_images(run)
            if located is not None:
                log(f"localisation on every out-of-fold pain image with ground truth: {len(located.rows)}")
        log(f"{name}: auditing {settings.images} out-of-fold test images…")
        document["models"][name] = audit_model(run, name, photos, settings, located)
        document["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_audit(run.path, document)
        entry = document["models"][name]
        log(f"{name}: {entry['verdict']} ({entry['seconds']} s)")
    return document


def _located_images(run: Any) -> AuditPhotos | None:
    """Every out-of-fold pain image of the run with its masks and cue intensities, when the data have them
    (the twin's truth.csv beside the manifest the run was trained from); None for data without them."""
    from painxai.data.regions import TRUTH_FILE

    source = run.config.get("manifest_source")
    folder = Path(source).parent if source else None
    if folder is None or not (folder / TRUTH_FILE).is_file():
        return None
    return load_photos(pain_images(run.manifest(), run.folds()), folder)
