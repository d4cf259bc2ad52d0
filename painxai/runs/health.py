"""Checks of a run folder's files, so that a damaged run degrades instead of crashing.

A finished fold (``DONE`` present) is healthy when its ``predictions.csv``, ``metrics.json`` and
``history.csv`` parse with the columns and types the trainer writes and its ``trained.weights.h5`` opens
with h5py and holds the expected layer groups (a cheap check: no TensorFlow, no full load; a full load
that still fails raises :class:`painxai.runs.layout.RunError` naming the file). The model's
``initial.weights.h5`` must open too. A fold folder without ``DONE`` is unfinished (still training, or
killed): reported as such, never as damage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painxai.runs import layout
from painxai.runs.fold_weights import check_weights_file

PHASES = ("head", "finetune", "end_to_end")
_REDO = "delete the fold folder and run `painxai train ... --resume` to train that fold again"


@dataclass(frozen=True)
class FoldProblem:
    """One damaged file: ``model``, ``fold`` (None when the problem concerns every fold of the model),
    the file's ``path`` and a ``message`` saying what is wrong and what to do."""

    model: str
    fold: int | None
    path: Path
    message: str

    def describe(self) -> str:
        """``<path>: <message>``."""
        return f"{self.path}: {self.message}"


@dataclass
class RunHealth:
    """The state of a run's folds: ``problems`` (damaged files), ``unfinished`` (model, fold) pairs
    without DONE, and ``healthy`` per model the finished folds that can be used."""

    run: Path
    problems: list[FoldProblem] = field(default_factory=list)
    unfinished: list[tuple[str, int]] = field(default_factory=list)
    healthy: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no file is damaged (unfinished folds are not damage)."""
        return not self.problems

    def describe(self) -> str:
        """A few lines: healthy folds per model, unfinished folds, then one line per problem."""
        folds = ", ".join(f"{m} {len(f)}" for m, f in self.healthy.items()) or "none"
        lines = [f"run {self.run}: healthy finished folds: {folds}"]
        if self.unfinished:
            pairs = ", ".join(f"{m} fold {k}" for m, k in self.unfinished)
            lines.append(f"unfinished (no DONE; still training, or resume with `painxai train ... --resume`): {pairs}")
        lines += [f"damaged: {problem.describe()}" for problem in self.problems]
        if self.ok:
            lines.append("no damaged files")
        return "\n".join(lines)


def check_initial(run: Path, model: str) -> FoldProblem | None:
    """The model's ``initial.weights.h5``: present and readable (shared by every fold)."""
    path = layout.initial_weights(run, model)
    problem = check_weights_file(path, None)
    if problem is None:
        return None
    return FoldProblem(model, None, path, f"{problem}; every fold of {model} needs it: train {model} again")


def check_fold(folder: Path, model: str, fold: int, fold_layers: tuple[str, ...]) -> list[FoldProblem]:
    """Problems of one finished fold's files ([] when healthy)."""
    problems = []
    for name, check in (
        (layout.PREDICTIONS, _check_predictions),
        (layout.METRICS, _check_metrics),
        (layout.HISTORY, _check_history),
        (layout.TRAINED_WEIGHTS, lambda path: check_weights_file(path, fold_layers)),
    ):
        path = folder / name
        message = "missing although the fold is marked DONE" if not path.is_file() else check(path)
        if message:
            problems.append(FoldProblem(model, fold, path, f"{message}; {_REDO}"))
    return problems


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame | str:
    """The CSV at ``path`` with every one of ``columns``, or what is wrong with it."""
    try:
        frame = pd.read_csv(path, dtype={"subject": str})
    except (OSError, ValueError, UnicodeDecodeError) as error:  # pandas' ParserError is a ValueError
        return f"not a readable CSV file ({type(error).__name__}: {str(error).strip()})"
    missing = [c for c in columns if c not in frame.columns]
    return f"missing column(s) {missing}" if missing else frame


def _check_predictions(path: Path) -> str | None:
    frame = _read_csv(path, layout.PREDICTION_COLUMNS)
    if isinstance(frame, str):
        return frame
    if frame.empty:
        return "no rows"
    probabilities = pd.to_numeric(frame["prob_pain"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~((probabilities >= 0) & (probabilities <= 1)))
    if bad.size:
        return f"prob_pain must be a number in [0, 1]; line {int(bad[0]) + 2} has {frame['prob_pain'].iloc[bad[0]]!r}"
    return None


def _check_metrics(path: Path) -> str | None:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"not valid JSON ({error})"
    if not isinstance(metrics, dict):
        return "not a JSON object"
    epochs = metrics.get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool):
        return f"'epochs' must be an integer, got {epochs!r}"
    return None


def _check_history(path: Path) -> str | None:
    frame = _read_csv(path, layout.HISTORY_COLUMNS)
    if isinstance(frame, str):
        return frame
    unknown = sorted(set(frame["phase"].astype(str)) - set(PHASES))
    if unknown:
        return f"unknown phase(s) {unknown}; expected {', '.join(PHASES)}"
    return None
