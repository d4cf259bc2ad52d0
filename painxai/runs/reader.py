"""Reading a training run: finished folds, their predictions, metrics, histories, models and health.

A run folder (:mod:`painxai.runs.layout`, docs/ARCHITECTURE.md) is written by :mod:`painxai.runs.writer`.
Only folds whose ``DONE`` marker exists are read, so a run still in progress can be shown: its unfinished
folds are simply not there yet. A finished fold whose files are damaged is left out everywhere and
reported by :meth:`Run.health` (file, what is wrong, what to do), so a damaged run degrades instead of
crashing.

Fold models share their frozen layers: ``<model>/initial.weights.h5`` holds the weights every fold
started from and ``fold_<k>/trained.weights.h5`` the layers the fold trained (format 2: only those
layers; format 1: the whole tail above ``SPECS[model].phase2_cut_layer``, for ncnn the whole model).
:meth:`Run.load_fold_model` rebuilds one fold's full model; :meth:`Run.ensemble` builds the shared trunk
once and one tail per fold.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai.errors import PainxaiError
from painxai.runs import layout
from painxai.runs.fold_weights import is_layer_file, load_layer_weights, read_layer_weights, set_layer_weights
from painxai.runs.health import FoldProblem, RunHealth, check_fold, check_initial
from painxai.runs.layout import RunError
from painxai.runs.provenance import DEFAULT_CROP_MARGIN, ModelInfo, Provenance, infer_data_source, model_info

__all__ = [
    "FoldEnsemble", "FoldProblem", "ModelInfo", "Provenance", "Run", "RunError", "RunHealth", "read_run_json",
]  # fmt: skip


@dataclass
class FoldEnsemble:
    """The fold models of one model of a run, sharing their frozen trunk.

    ``trunk``: keras.Model from the preprocessed input to ``phase2_cut_layer`` (identical for all
    folds), or None for ncnn; ``tails``: one keras.Model per fold of ``folds`` taking the trunk's
    output (ncnn: the whole fold model); ``size``: input side in pixels; ``crop_margin``: the face
    crop margin the folds were trained with (crop new photos with it).
    """

    name: str
    folds: list[int]
    trunk: Any
    tails: list[Any]
    size: int
    crop_margin: float = DEFAULT_CROP_MARGIN
    preprocessing: str | None = None  # the name run.json records with the weights; None: the model's spec's

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """RGB uint8 ``images`` (N, S, S, 3) -> the folds' float32 input, with the preprocessing they were
        trained with (run.json's record; the registered model's own when the run has none)."""
        from painxai.models import preprocess
        from painxai.models.preprocessing import preprocess_mode

        if self.preprocessing is None:
            return preprocess(self.name, images)
        return preprocess_mode(self.preprocessing, images)

    def predict(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Pain probabilities of every fold model for RGB uint8 ``images`` (N, S, S, 3) (resized to
        the model's input size when S differs); returns (F, N) float32, the trunk run once."""
        from painxai.data.images import resize_images
        from painxai.models import prob_pain

        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
            raise RunError(f"expected square RGB images (N, S, S, 3), got shape {images.shape}")
        images = resize_images(images.astype(np.uint8), self.size)
        result = np.empty((len(self.tails), len(images)), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            inputs = self.preprocess(images[start : start + batch_size])
            shared = self.trunk(inputs, training=False) if self.trunk is not None else inputs
            for index, tail in enumerate(self.tails):
                outputs = np.asarray(tail(shared, training=False), dtype=np.float32)
                result[index, start : start + batch_size] = prob_pain(self.name, outputs)
        return result


def read_run_json(run: Path) -> dict:
    """The run's ``run.json`` as a dict; RunError naming the file when it is missing, not JSON, or of a
    format this version cannot read."""
    path = Path(run) / layout.RUN_JSON
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise RunError(f"{run}: not a painxai run (no run.json)") from error
    except (OSError, ValueError) as error:
        raise RunError(
            f"{path}: unreadable ({error}); restore it from a backup, or train the run again into a new --out"
        ) from error
    if not isinstance(document, dict):
        raise RunError(f"{path}: not a run description (a JSON object was expected); train the run again")
    if document.get("format", 1) not in layout.READABLE_FORMATS:
        raise RunError(
            f"{path}: run format {document.get('format')!r} is newer than this painxai reads "
            f"({', '.join(map(str, layout.READABLE_FORMATS))}); update painxai"
        )
    return document


class Run:
    """One run folder. ``config`` is its run.json (read when the run is opened: RunError if it is bad)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.config: dict[str, Any] = read_run_json(self.path)
        # (model, fold) -> (stamp of the fold's files, its problems): a fold is checked again only when
        # one of its files changes (a run still training is opened and read many times).
        self._checked: dict[tuple[str, int | None], tuple[tuple, list[FoldProblem]]] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The run folder's name."""
        return self.path.name

    # -- folds and health -------------------------------------------------------------------------

    def models(self, include_unfinished: bool = False) -> list[str]:
        """Models with at least one healthy finished fold (or, with ``include_unfinished``, with any fold
        folder), in the run's model order."""
        listed = [m for m in self.config.get("models", []) if isinstance(m, str)]
        found = {p.name for p in self.path.iterdir() if p.is_dir() and layout.fold_folders(self.path, p.name)}
        names = layout.model_order(found, listed)
        return names if include_unfinished else [m for m in names if self.finished_folds(m)]

    def _problems(self, model: str, fold: int | None, folder: Path) -> list[FoldProblem]:
        files = [folder / name for name in (*layout.FOLD_FILES, layout.DONE)] if fold is not None else [folder]
        stamp = tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.is_file() else None for f in files)
        cached = self._checked.get((model, fold))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if fold is None:
            problem = check_initial(self.path, model)
            problems = [problem] if problem else []
        else:
            info = model_info(self.config, model)
            problems = check_fold(folder, model, fold, info.fold_layers if info else ())
        self._checked[(model, fold)] = (stamp, problems)
        return problems

    def _fold_state(self, model: str) -> tuple[list[int], list[int], list[FoldProblem]]:
        """(healthy finished folds, unfinished folds, problems) of ``model``."""
        folders = layout.fold_folders(self.path, model)
        done = {k: f for k, f in folders.items() if (f / layout.DONE).is_file()}
        unfinished = [k for k in folders if k not in done]
        if not done:
            return [], unfinished, []
        problems = list(self._problems(model, None, layout.initial_weights(self.path, model)))
        shared_broken = bool(problems)
        healthy = []
        for fold, folder in done.items():
            fold_problems = self._problems(model, fold, folder)
            problems += fold_problems
            if not fold_problems and not shared_broken:
                healthy.append(fold)
        return healthy, unfinished, problems

    def finished_folds(self, model: str) -> list[int]:
        """Folds of ``model`` that are finished (``DONE``) and healthy (see :meth:`health`), ascending."""
        return self._fold_state(model)[0]

    def health(self) -> RunHealth:
        """Every damaged file of the run's finished folds, the unfinished folds, and the healthy folds."""
        health = RunHealth(run=self.path)
        for model in self.models(include_unfinished=True):
            healthy, unfinished, problems = self._fold_state(model)
            health.problems += problems
            health.unfinished += [(model, k) for k in unfinished]
            if healthy:
                health.healthy[model] = healthy
        return health

    # -- settings and provenance ------------------------------------------------------------------

    def model_info(self, model: str) -> ModelInfo:
        """What inference needs for ``model`` (input size, preprocessing, crop margin) and where its
        weights came from; old runs' missing fields are inferred (:func:`painxai.runs.provenance.model_info`)."""
        info = model_info(self.config, model)
        if info is None:
            raise RunError(f"{self.path / layout.RUN_JSON}: no settings for {model!r}; was it trained in this run?")
        return info

    def input_size(self, model: str) -> int:
        """Input side in pixels that ``model`` was trained at in this run."""
        return self.model_info(model).input_size

    def provenance(self) -> Provenance:
        """Which data (twin or real), weights and profile produced this run's numbers."""
        try:
            manifest = self.manifest()
        except (PainxaiError, OSError, ValueError):  # a damaged manifest copy: "real" is the safe label
            manifest = None
        weights, details = {}, {}
        for model in self.models(include_unfinished=True):
            info = model_info(self.config, model)
            if info is not None:
                weights[model] = info.weights
            settings = (self.config.get("model_settings") or {}).get(model)
            if isinstance(settings, dict) and "weights" in settings:
                details[model] = str(settings["weights"])
        return Provenance(
            data_source=infer_data_source(self.config, manifest),
            profile=str(self.config.get("profile", "unknown")),
            weights=weights,
            weights_detail=details,
            created=str(self.config.get("created", "?")),
            versions={name: str(version) for name, version in (self.config.get("versions") or {}).items()},
        )

    # -- data of finished folds -------------------------------------------------------------------

    def manifest(self) -> pd.DataFrame:
        """The run's copy of the manifest (:func:`painxai.data.manifest.read_manifest`, files not checked)."""
        from painxai.data.manifest import read_manifest

        return read_manifest(self.path / layout.MANIFEST, check_files=False)

    def folds(self) -> dict:
        """The run's folds document (:func:`painxai.data.folds.read_folds`)."""
        from painxai.data.folds import read_folds

        return read_folds(self.path / layout.FOLDS)

    def _fold_file(self, model: str, fold: int, name: str) -> Path:
        if fold not in self.finished_folds(model):
            done = layout.is_fold_done(self.path, model, fold)
            state = "damaged (see `painxai check --run`)" if done else "not finished"
            raise RunError(f"{self.path}: {model} fold {fold} is {state}")
        return layout.fold_dir(self.path, model, fold) / name

    def fold_predictions(self, model: str, fold: int) -> pd.DataFrame:
        """One healthy fold's test predictions: columns path, subject, dataset, label, prob_pain."""
        return pd.read_csv(self._fold_file(model, fold, layout.PREDICTIONS), dtype={"subject": str})

    def fold_metrics_json(self, model: str, fold: int) -> dict[str, Any]:
        """One healthy fold's metrics.json (``epochs`` an integer, the rest as the trainer wrote it)."""
        return json.loads(self._fold_file(model, fold, layout.METRICS).read_text())

    def predictions(self) -> pd.DataFrame:
        """Test predictions of every healthy finished fold: columns model, fold, path, subject, dataset,
        label, prob_pain."""
        frames = []
        for model in self.models():
            for fold in self.finished_folds(model):
                frame = self.fold_predictions(model, fold)
                frame.insert(0, "fold", fold)
                frame.insert(0, "model", model)
                frames.append(frame)
        columns = ["model", "fold", *layout.PREDICTION_COLUMNS]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    def fold_metrics(self) -> pd.DataFrame:
        """One row per healthy finished fold: model, fold and the scalar entries of its metrics.json."""
        rows = []
        for model in self.models():
            for fold in self.finished_folds(model):
                metrics = self.fold_metrics_json(model, fold)
                scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
                rows.append({"model": model, "fold": fold, **scalars})
        return pd.DataFrame(rows)

    def history(self, model: str, fold: int) -> pd.DataFrame:
        """The fold's epochs: epoch, phase ("head", "finetune" or "end_to_end"), loss, val_loss, accuracy,
        val_accuracy, lr."""
        return pd.read_csv(self._fold_file(model, fold, layout.HISTORY))

    # -- models -----------------------------------------------------------------------------------

    def initial_model(self, model: str) -> Any:
        """``model`` rebuilt at the run's input size with the weights every fold started from."""
        from painxai.models import build

        initial = layout.initial_weights(self.path, model)
        problem = check_initial(self.path, model)
        if problem is not None:
            raise RunError(problem.describe())
        size = self.input_size(model)
        network = build(model, input_shape=(size, size, 3), weights=None, seed=int(self.config.get("seed", 0)))
        _load_fold_weights(network, initial)
        return network

    def load_fold_model(self, model: str, fold: int) -> Any:
        """The full keras model of one healthy finished fold (shared initial layers + the fold's trained ones)."""
        from painxai.models import SPECS, split_model

        trained = self._fold_file(model, fold, layout.TRAINED_WEIGHTS)
        network = self.initial_model(model)
        cut = SPECS[model].phase2_cut_layer
        # Format 1 files hold the whole tail (ncnn: the whole model) as Keras weights; the tail shares
        # its layer objects with ``network``. Format 2 files name their layers, found in ``network``.
        target = network if cut is None or is_layer_file(trained) else split_model(network, cut)[1]
        _load_fold_weights(target, trained)
        return network

    def ensemble(self, model: str, folds: list[int] | None = None) -> FoldEnsemble:
        """The healthy finished folds of ``model`` (all, or ``folds``) as a :class:`FoldEnsemble` whose
        trunk is built once and shared. RunError when the model has none (the message lists the damage)."""
        import keras

        from painxai.models import SPECS, split_model

        healthy, _unfinished, problems = self._fold_state(model)
        chosen = healthy if folds is None else sorted(folds)
        missing = sorted(set(chosen) - set(healthy))
        if missing or not chosen:
            damage = "".join(f"; {p.describe()}" for p in problems)
            which = f"{missing} " if missing else ""
            raise RunError(
                f"{self.path}: {model} has no finished fold(s) {which}(unfinished or damaged ones are left out){damage}"
            )
        network = self.initial_model(model)
        cut = SPECS[model].phase2_cut_layer
        trunk, template = (None, network) if cut is None else split_model(network, cut)
        tails = []
        shared = None
        for fold in chosen:
            path = self._fold_file(model, fold, layout.TRAINED_WEIGHTS)
            if is_layer_file(path):
                # A format-2 file holds the layers the fold trained: only those are the fold's own; every
                # other layer object is the template's, identical in all folds, so ten folds cost about
                # one tail (seconds less to load, and memory).
                layers = read_layer_weights(path)
                tail = keras.models.clone_model(template, clone_function=_own_copy_of(set(layers)))
                set_layer_weights(tail, layers, path)
            else:  # format 1: the whole tail's Keras weights, so every layer is the fold's own
                tail = keras.models.clone_model(template, clone_function=_uninitialised_copy)
                shared = template.get_weights() if shared is None else shared
                tail.set_weights(shared)
                _load_fold_weights(tail, path)
            tails.append(tail)
        info = self.model_info(model)
        return FoldEnsemble(
            name=model, folds=chosen, trunk=trunk, tails=tails, size=info.input_size, crop_margin=info.crop_margin,
            preprocessing=info.preprocessing,
        )


def _own_copy_of(names: set[str]) -> Any:
    """A ``clone_model`` function that copies the layers ``names`` (weights at zero until set) and reuses
    every other layer object as it is (its weights then shared with the model cloned)."""

    def copy_or_share(layer: Any) -> Any:
        return _uninitialised_copy(layer) if layer.name in names else layer

    return copy_or_share


def _uninitialised_copy(layer: Any) -> Any:
    """A new layer like ``layer`` whose weights start at zero: every fold tail's weights are overwritten
    right after cloning, and drawing random initial values for ten copies of a ResNet tail took seconds."""
    config = layer.get_config()
    for key in config:
        if key.endswith("_initializer"):
            config[key] = "zeros"
    return layer.__class__.from_config(config)


def _load_fold_weights(target: Any, path: Path) -> None:
    """Load a fold weights file of either format into ``target``; RunError naming the file on failure."""
    if is_layer_file(path):
        load_layer_weights(target, path)
        return
    try:
        target.load_weights(path)
    except Exception as error:  # Keras raises ValueError, OSError or its own errors for a damaged file
        raise RunError(
            f"{path}: cannot load these fold weights ({type(error).__name__}: {error}); delete the fold folder "
            "and run `painxai train ... --resume` to train that fold again"
        ) from error
