"""Audit a run: every model and method on the same out-of-fold images, audit.json written after each, resumable."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from painxai.audit.images import AuditPhotos, choose_images, load_photos, pain_images
from painxai.audit.model import AuditSettings, audit_model, settings_for
from painxai.audit.store import AUDIT_FORMAT, AuditError, read_audit, write_audit
from painxai.explain.methods import DEFAULT_METHOD


def audit_run(
    run_path: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    settings: AuditSettings | None = None,
    log: Callable[[str], None] | None = None,
    methods: Sequence[str] = (DEFAULT_METHOD,),
) -> dict[str, Any]:
    """Audit ``models`` (default: every model with a finished fold) of the run under each of ``methods``
    (:data:`painxai.explain.methods.METHODS` names; each with :func:`settings_for` its budget, from
    ``settings``) and write ``audit.json`` after each (method, model); those already audited with the same
    settings and folds are skipped. Returns the document: ``methods[method][model]`` is one entry."""
    from painxai.runs.reader import Run

    base = settings or AuditSettings()
    log = log or (lambda _message: None)
    run = Run(run_path)
    available = run.models()
    names = list(available if models is None else models)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise AuditError(f"model(s) {unknown or names} not in run {run.name}; it has {', '.join(available) or 'none'}")
    chosen = {method: settings_for(method, base) for method in methods}  # RequestError for an unknown method
    try:
        document = read_audit(run.path) or {}
    except AuditError:
        document = {}  # an unreadable file is replaced
    document = {"format": AUDIT_FORMAT, **document, "run": run.name}
    document.setdefault("methods", {})
    photos: dict[int, AuditPhotos] = {}
    located: AuditPhotos | None = None
    for method, method_settings in chosen.items():
        entries = document["methods"].setdefault(method, {})
        for name in names:
            previous = entries.get(name)
            same = previous and previous.get("settings") == method_settings.as_json()
            if same and previous.get("folds") == run.finished_folds(name):
                log(f"{name}, {method}: already audited with these settings, skipped")
                continue
            count = method_settings.images
            if count not in photos:
                photos[count] = load_photos(choose_images(run.manifest(), run.folds(), count, method_settings.seed))
            if located is None:
                located = _located_images(run)
                if located is not None:
                    log(f"localisation on the out-of-fold pain images with ground truth: {len(located.rows)}")
            log(f"{name}, {method}: auditing {count} out-of-fold test images…")
            entries[name] = audit_model(run, name, photos[count], method_settings, located)
            document["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            write_audit(run.path, document)
            log(f"{name}, {method}: {entries[name]['verdict']} ({entries[name]['seconds']} s)")
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
