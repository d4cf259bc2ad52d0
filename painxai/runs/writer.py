"""Writing a run folder: create it, merge into run.json, write initial weights and folds (DONE last).

Parallel jobs (``painxai train --fold k`` on a scheduler, several into one new folder) are safe by
construction:

- :func:`create_run` builds ``run.json``, ``manifest.csv`` and ``folds.json`` in a hidden temporary folder
  beside the run and renames it onto the run's path in one step (``rename(2)`` replaces only a missing or
  empty folder). Whoever renames first created the run; the others see it complete (run.json, manifest
  and folds together), never half made, and continue it.
- every later change to run.json goes through :func:`update_run_json`, which re-reads and rewrites it
  (atomically) while holding an exclusive ``fcntl.flock`` on ``<run>/.lock``, so no job's part is lost.
- each fold folder is written by one job only, its files atomically and ``DONE`` last.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai import atomic
from painxai.runs import layout
from painxai.runs.fold_weights import write_layer_weights
from painxai.runs.layout import RunError
from painxai.runs.reader import read_run_json


@contextlib.contextmanager
def locked(run: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<run>/.lock`` (blocks until other jobs release it)."""
    fd = os.open(Path(run) / layout.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def create_run(run: Path, document: dict, manifest: pd.DataFrame, folds_bytes: bytes) -> bool:
    """Create the run folder ``run`` with ``run.json`` (``document``), ``manifest.csv`` and ``folds.json``
    in one atomic step. Returns False, writing nothing, when a run is already there (made earlier, or by
    a parallel job a moment ago). Raises RunError when ``run`` holds other files."""
    from painxai.data.manifest import write_manifest

    run = Path(run)
    if (run / layout.RUN_JSON).is_file():
        return False
    if run.exists() and (not run.is_dir() or any(run.iterdir())):
        raise RunError(f"{run} exists and is not a painxai run (no run.json): choose an empty or new folder")
    run.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run.name}.creating-", dir=run.parent))
    try:
        write_manifest(manifest, staging / layout.MANIFEST)
        atomic.write_bytes(staging / layout.FOLDS, folds_bytes)
        atomic.write_json(staging / layout.RUN_JSON, document)
        (staging / layout.LOCK).touch()
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; a run folder is an ordinary one
        try:
            os.rename(staging, run)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST) and (run / layout.RUN_JSON).is_file():
                return False  # a parallel job created it first
            raise
        return True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def update_run_json(run: Path, update: Callable[[dict], None]) -> dict:
    """Re-read run.json under the run's lock, apply ``update`` (in place) and write it back atomically;
    returns the new document. Parallel jobs each merge their part; none is lost."""
    with locked(run):
        document = read_run_json(run)
        update(document)
        atomic.write_json(Path(run) / layout.RUN_JSON, document)
    return document


def save_model_weights(model: Any, final: Path) -> None:
    """The layer weights of a keras ``model`` to ``final`` (a ``.weights.h5`` path), atomically.

    Saved through an uncompiled model over the same layers: a compiled model's ``save_weights`` also
    writes its optimizer's state (Adam's two moments: 3x the file), which no loader reads. The file
    loads into the original model unchanged.
    """
    import keras

    with atomic.atomic_path(final) as tmp:
        keras_name = tmp.with_name(tmp.name + ".weights.h5")
        try:
            keras.Model(model.inputs, model.outputs).save_weights(keras_name)
            os.replace(keras_name, tmp)
        finally:
            keras_name.unlink(missing_ok=True)


def write_fold(
    run: Path,
    model: str,
    fold: int,
    trained_layers: Mapping[str, list[np.ndarray]],
    history: pd.DataFrame,
    predictions: pd.DataFrame,
    metrics: dict[str, Any],
) -> Path:
    """Write one finished fold, every file atomically and ``DONE`` last; returns the fold folder.

    ``trained_layers``: layer name -> weight arrays of the layers the fold trained (the rest of the model
    is ``initial.weights.h5``); ``history``: columns ``layout.HISTORY_COLUMNS`` (``phase`` is "head",
    "finetune" or "end_to_end"); ``predictions``: one row per test image, columns
    ``layout.PREDICTION_COLUMNS`` (``prob_pain`` in [0, 1]); ``metrics``: JSON-safe, with an integer
    ``epochs``.
    """
    folder = layout.fold_dir(run, model, fold)
    write_layer_weights(folder / layout.TRAINED_WEIGHTS, trained_layers)
    atomic.write_text(folder / layout.HISTORY, history[list(layout.HISTORY_COLUMNS)].to_csv(index=False))
    buffer = io.StringIO()
    predictions[list(layout.PREDICTION_COLUMNS)].to_csv(buffer, index=False)
    atomic.write_text(folder / layout.PREDICTIONS, buffer.getvalue())
    atomic.write_json(folder / layout.METRICS, metrics)
    atomic.write_text(folder / layout.DONE, time.strftime("%Y-%m-%dT%H:%M:%S%z") + "\n")
    return folder


def discard_unfinished_fold(run: Path, model: str, fold: int) -> None:
    """Delete a fold folder without ``DONE`` (left by a killed job) before the fold is trained again."""
    folder = layout.fold_dir(run, model, fold)
    if folder.exists() and not layout.is_fold_done(run, model, fold):
        shutil.rmtree(folder)
