"""Reading a training run: finished folds, their predictions, metrics, histories and models.

A run folder (docs/ARCHITECTURE.md) is written by :mod:`painxai.training.protocol`. Only folds whose ``DONE``
marker exists are read, so a run still in progress can be shown: its unfinished folds are simply
not there yet.

Fold models share their frozen layers: ``<model>/initial.weights.h5`` holds the weights every fold
started from and ``fold_<k>/trained.weights.h5`` the layers the fold trained (above
``SPECS[model].phase2_cut_layer``; for ncnn the whole model). :meth:`Run.load_fold_model` rebuilds
one fold's full model; :meth:`Run.ensemble` builds the shared trunk once and one tail per fold.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai.errors import PainxaiError

_FOLD_DIR = re.compile(r"^fold_(\d+)$")


class RunError(PainxaiError, ValueError):
    """A folder that is not a readable run, or a request for something the run does not hold."""


@dataclass
class FoldEnsemble:
    """The fold models of one model of a run, sharing their frozen trunk.

    ``trunk``: keras.Model from the preprocessed input to ``phase2_cut_layer`` (identical for all
    folds), or None for ncnn; ``tails``: one keras.Model per fold of ``folds`` taking the trunk's
    output (ncnn: the whole fold model); ``size``: input side in pixels.
    """

    name: str
    folds: list[int]
    trunk: Any
    tails: list[Any]
    size: int

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Pain probabilities of every fold model for RGB uint8 ``images`` (N, S, S, 3) (resized to
        the model's input size when S differs); returns (F, N) float32, the trunk run once."""
        from painxai.models import preprocess, prob_pain
        from painxai.training.pool import resize_images

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
            raise RunError(f"expected square RGB images (N, S, S, 3), got shape {images.shape}")
        images = resize_images(images.astype(np.uint8), self.size)
        result = np.empty((len(self.tails), len(images)), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            inputs = preprocess(self.name, images[start : start + batch_size])
            shared = self.trunk(inputs, training=False) if self.trunk is not None else inputs
            for index, tail in enumerate(self.tails):
                outputs = np.asarray(tail(shared, training=False), dtype=np.float32)
                result[index, start : start + batch_size] = prob_pain(self.name, outputs)
        return result


class Run:
    """One run folder. ``config`` is its run.json."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        run_json = self.path / "run.json"
        if not run_json.is_file():
            raise RunError(f"{self.path}: not a painxai run (no run.json)")
        try:
            self.config: dict[str, Any] = json.loads(run_json.read_text())
        except (OSError, ValueError) as error:
            raise RunError(f"{run_json}: unreadable ({error})") from error

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The run folder's name."""
        return self.path.name

    def finished_folds(self, model: str) -> list[int]:
        """Folds of ``model`` whose ``DONE`` marker exists, ascending."""
        folder = self.path / model
        if not folder.is_dir():
            return []
        found = []
        for child in folder.iterdir():
            match = _FOLD_DIR.match(child.name)
            if match and (child / "DONE").is_file():
                found.append(int(match.group(1)))
        return sorted(found)

    def models(self) -> list[str]:
        """Models with at least one finished fold, in the run's model order."""
        listed = list(self.config.get("models", []))
        others = sorted(p.name for p in self.path.iterdir() if p.is_dir() and p.name not in listed)
        return [m for m in [*listed, *others] if self.finished_folds(m)]

    def input_size(self, model: str) -> int:
        """Input side in pixels that ``model`` was trained at in this run."""
        try:
            return int(self.config["model_settings"][model]["input_size"])
        except KeyError:
            raise RunError(f"{self.path}: run.json has no input size for {model!r}") from None

    def manifest(self) -> pd.DataFrame:
        """The run's copy of the manifest (:func:`painxai.data.manifest.read_manifest`, files not checked)."""
        from painxai.data.manifest import read_manifest

        return read_manifest(self.path / "manifest.csv", check_files=False)

    def folds(self) -> dict:
        """The run's folds document (:func:`painxai.data.folds.read_folds`)."""
        from painxai.data.folds import read_folds

        return read_folds(self.path / "folds.json")

    def _fold_file(self, model: str, fold: int, name: str) -> Path:
        if fold not in self.finished_folds(model):
            raise RunError(f"{self.path}: {model} fold {fold} is not finished")
        return self.path / model / f"fold_{fold}" / name

    def predictions(self) -> pd.DataFrame:
        """Test predictions of every finished fold: columns model, fold, path, subject, dataset,
        label, prob_pain."""
        frames = []
        for model in self.models():
            for fold in self.finished_folds(model):
                frame = pd.read_csv(self._fold_file(model, fold, "predictions.csv"), dtype={"subject": str})
                frame.insert(0, "fold", fold)
                frame.insert(0, "model", model)
                frames.append(frame)
        columns = ["model", "fold", "path", "subject", "dataset", "label", "prob_pain"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def fold_metrics(self) -> pd.DataFrame:
        """One row per finished fold: model, fold and the scalar entries of its metrics.json."""
        rows = []
        for model in self.models():
            for fold in self.finished_folds(model):
                metrics = json.loads(self._fold_file(model, fold, "metrics.json").read_text())
                scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
                rows.append({"model": model, "fold": fold, **scalars})
        return pd.DataFrame(rows)

    def history(self, model: str, fold: int) -> pd.DataFrame:
        """The fold's epochs: epoch, phase, loss, val_loss, accuracy, val_accuracy, lr."""
        return pd.read_csv(self._fold_file(model, fold, "history.csv"))

    def _initial_model(self, model: str) -> Any:
        """``model`` rebuilt at the run's input size with the weights every fold started from."""
        from painxai.models import build

        initial = self.path / model / "initial.weights.h5"
        if not initial.is_file():
            raise RunError(f"{self.path}: {initial.name} of {model} is missing")
        size = self.input_size(model)
        network = build(model, input_shape=(size, size, 3), weights=None, seed=int(self.config.get("seed", 0)))
        network.load_weights(initial)
        return network

    def load_fold_model(self, model: str, fold: int) -> Any:
        """The full keras model of one finished fold (shared initial layers + the fold's trained ones)."""
        from painxai.models import SPECS, split_model

        trained = self._fold_file(model, fold, "trained.weights.h5")
        network = self._initial_model(model)
        cut = SPECS[model].phase2_cut_layer
        if cut is None:
            network.load_weights(trained)
        else:
            _trunk, tail = split_model(network, cut)
            tail.load_weights(trained)  # the tail shares its layer objects with ``network``
        return network

    def ensemble(self, model: str, folds: list[int] | None = None) -> FoldEnsemble:
        """The finished folds of ``model`` (all, or ``folds``) as a :class:`FoldEnsemble` whose trunk
        is built once and shared."""
        import keras

        from painxai.models import SPECS, split_model

        finished = self.finished_folds(model)
        chosen = finished if folds is None else sorted(folds)
        missing = sorted(set(chosen) - set(finished))
        if missing or not chosen:
            raise RunError(f"{self.path}: {model} has no finished fold(s) {missing or ''}".rstrip())
        network = self._initial_model(model)
        cut = SPECS[model].phase2_cut_layer
        trunk, template = (None, network) if cut is None else split_model(network, cut)
        tails = []
        for fold in chosen:
            tail = keras.models.clone_model(template)
            tail.load_weights(self._fold_file(model, fold, "trained.weights.h5"))
            tails.append(tail)
        return FoldEnsemble(name=model, folds=chosen, trunk=trunk, tails=tails, size=self.input_size(model))


def list_runs(root: str | os.PathLike[str]) -> list[Run]:
    """Runs directly under ``root`` (folders with a run.json), newest first; [] when ``root`` is absent."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for child in root.iterdir():
        if (child / "run.json").is_file():
            try:
                runs.append(Run(child))
            except RunError:
                continue  # a run.json being replaced right now; it will be listed next time
    return sorted(runs, key=lambda run: (run.path / "run.json").stat().st_mtime, reverse=True)
