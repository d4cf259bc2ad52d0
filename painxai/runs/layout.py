"""The run folder's layout: file names, paths, the format version and the one error type of runs.

A run folder (docs/ARCHITECTURE.md, "Data on disk")::

    <run>/run.json                     settings, provenance, per model what inference needs
    <run>/manifest.csv, folds.json     the data the run was trained on (copies)
    <run>/.lock                        taken (fcntl.flock) while a job creates the run or merges run.json
    <run>/<model>/initial.weights.h5   the weights every fold started from (the shared frozen trunk)
    <run>/<model>/fold_<k>/            trained.weights.h5, history.csv, predictions.csv, metrics.json,
                                       DONE (written last: a folder without it is unfinished)

Formats (``run.json["format"]``): 1 = ``trained.weights.h5`` is the Keras weights file of the whole tail
above ``phase2_cut_layer`` (ncnn: the whole model); 2 = it holds only the layers the fold trained, as
``layers/<name>/<i>`` datasets (see :mod:`painxai.runs.fold_weights`). Both are read.
"""

from __future__ import annotations

import re
from pathlib import Path

from painxai.errors import PainxaiError

#: Version of the layout this code writes; readers accept every version in ``READABLE_FORMATS``.
RUN_FORMAT = 2
READABLE_FORMATS = (1, 2)

RUN_JSON = "run.json"
MANIFEST = "manifest.csv"
FOLDS = "folds.json"
LOCK = ".lock"
INITIAL_WEIGHTS = "initial.weights.h5"
TRAINED_WEIGHTS = "trained.weights.h5"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
METRICS = "metrics.json"
DONE = "DONE"
#: Files of a finished fold besides DONE, in the order the writer writes them.
FOLD_FILES = (TRAINED_WEIGHTS, HISTORY, PREDICTIONS, METRICS)
HISTORY_COLUMNS = ("epoch", "phase", "loss", "val_loss", "accuracy", "val_accuracy", "lr")
PREDICTION_COLUMNS = ("path", "subject", "dataset", "label", "prob_pain")

_FOLD_DIR = re.compile(r"^fold_(\d+)$")


class RunError(PainxaiError):
    """A run folder that cannot be read (its message names the file and what to do), or a request for
    something the run does not hold."""


def model_dir(run: Path, model: str) -> Path:
    """``<run>/<model>``."""
    return Path(run) / model


def fold_dir(run: Path, model: str, fold: int) -> Path:
    """``<run>/<model>/fold_<k>``."""
    return Path(run) / model / f"fold_{fold}"


def initial_weights(run: Path, model: str) -> Path:
    """``<run>/<model>/initial.weights.h5``: the weights every fold of ``model`` started from."""
    return model_dir(run, model) / INITIAL_WEIGHTS


def is_fold_done(run: Path, model: str, fold: int) -> bool:
    """True when the fold's ``DONE`` marker exists (every other file was written before it)."""
    return (fold_dir(run, model, fold) / DONE).is_file()


def fold_number(folder: Path) -> int | None:
    """k of a ``fold_<k>`` folder name, else None."""
    match = _FOLD_DIR.match(Path(folder).name)
    return int(match.group(1)) if match else None


def fold_folders(run: Path, model: str) -> dict[int, Path]:
    """Every ``fold_<k>`` folder of ``model`` (finished or not), by k ascending."""
    folder = model_dir(run, model)
    if not folder.is_dir():
        return {}
    found = {k: child for child in folder.iterdir() if child.is_dir() and (k := fold_number(child)) is not None}
    return dict(sorted(found.items()))


def run_folders(root: Path, also: Path | None = None) -> list[Path]:
    """The run folders directly under ``root`` (those with a run.json), newest run.json first; ``also``, a run
    folder elsewhere (e.g. named on the command line), comes first when it holds a run.json and is not among
    them. [] when ``root`` is absent. The runs are not opened: one that cannot be read is still listed."""
    found = [path.parent for path in root.glob(f"*/{RUN_JSON}")] if root.is_dir() else []
    runs = sorted(found, key=lambda path: (path / RUN_JSON).stat().st_mtime, reverse=True)
    if also is not None and (also / RUN_JSON).is_file() and also.resolve() not in {p.resolve() for p in runs}:
        runs.insert(0, also)
    return runs


def finished_folds_signature(run: Path) -> tuple[str, ...]:
    """The sorted ``<model>/fold_<k>`` folders of ``run`` that hold a ``DONE`` marker: what changes when a fold
    finishes (readers key their caches on it)."""
    return tuple(sorted(str(done.parent.relative_to(run)) for done in run.glob(f"*/fold_*/{DONE}")))


def model_order(names: list[str] | set[str], listed: list[str] | tuple[str, ...] = ()) -> list[str]:
    """``names`` in report order: those in ``listed`` (run.json's models) first in that order, then the
    paper's models in the paper's order, then the rest by name."""
    from painxai.models import SPECS

    names = set(names)
    first = [m for m in listed if m in names]
    paper = [m for m in SPECS if m in names and m not in first]
    return first + paper + sorted(names - set(first) - set(paper))
