"""Upgrading a run of format 1 in place: each fold file keeps only the layers the fold changed.

Format 1 stored in every fold file the whole tail above ``phase2_cut_layer``; when fine-tuning was skipped
(the demo profile) most of it is the unchanged Table-1 convolutions, identical in every fold and in
``initial.weights.h5``. The layers a fold trained are found by comparing its weights with the initial
ones (exactly equal arrays were never updated), so no knowledge of the profile is needed. Each new file
is checked to rebuild the same model before it replaces the old one (atomically), and run.json records
the layers (``fold_weights_layers``) and format 2 last, so an interrupted upgrade can simply be rerun.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from painxai.runs import layout, writer
from painxai.runs.fold_weights import is_layer_file, layer_weights, load_layer_weights, write_layer_weights
from painxai.runs.layout import RunError
from painxai.runs.reader import Run


@dataclass
class UpgradeSummary:
    """Fold files rewritten, and the run's fold files' total size before and after, in bytes."""

    folds: int
    bytes_before: int
    bytes_after: int


def _fold_files(run: Run) -> list[Path]:
    return [
        layout.fold_dir(run.path, model, fold) / layout.TRAINED_WEIGHTS
        for model in run.models()
        for fold in run.finished_folds(model)
    ]


def upgrade_run(path: Path) -> UpgradeSummary:
    """Rewrite the format-1 fold files of the run at ``path`` as format 2 (healthy finished folds only)."""
    import keras

    run = Run(path)
    files = _fold_files(run)
    before = sum(f.stat().st_size for f in files)
    changed_layers: dict[str, set[str]] = {}
    upgraded = 0
    for model in run.models():
        initial = run.initial_model(model)
        start = {layer.name: layer.get_weights() for layer in initial.layers if layer.get_weights()}
        for fold in run.finished_folds(model):
            target = layout.fold_dir(run.path, model, fold) / layout.TRAINED_WEIGHTS
            if is_layer_file(target):
                continue
            network = run.load_fold_model(model, fold)
            trained = [
                name for name, weights in start.items()
                if any(not np.array_equal(a, b) for a, b in zip(weights, network.get_layer(name).get_weights(),
                                                               strict=True))
            ]  # fmt: skip
            # run.json lists the layers every fold file holds (the health check expects them in each).
            changed_layers[model] = changed_layers.get(model, set(trained)) & set(trained)
            staged = target.with_name(f".{target.name}.upgrade")
            write_layer_weights(staged, layer_weights(network, trained))
            rebuilt = keras.models.clone_model(initial)
            rebuilt.set_weights(initial.get_weights())
            load_layer_weights(rebuilt, staged)
            if not all(np.array_equal(a, b) for a, b in zip(rebuilt.get_weights(), network.get_weights(), strict=True)):
                staged.unlink()
                raise RunError(f"{target}: the upgraded file would not rebuild the same model; left unchanged")
            os.replace(staged, target)
            upgraded += 1
        keras.backend.clear_session()

    def record(document: dict) -> None:
        for model, names in changed_layers.items():
            settings = document.setdefault("model_settings", {}).setdefault(model, {})
            settings["fold_weights_layers"] = sorted(names)
        document["format"] = layout.RUN_FORMAT

    writer.update_run_json(run.path, record)
    after = sum(f.stat().st_size for f in _fold_files(Run(path)))
    return UpgradeSummary(folds=upgraded, bytes_before=before, bytes_after=after)
