"""The one builder of fake runs for tests, written through :mod:`painxai.runs.writer` (so a fake run has
exactly the format ``painxai train`` writes) in a fraction of a second, or in seconds with random weights.

>>> run = build_run(tmp_path / "run", models=("vgg16", "ncnn"), k=3)              # doctest: +SKIP
>>> run = build_run(tmp_path / "run", models=("ncnn",), k=2, weights="random")    # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# The smallest input sizes the models take, so that random-weight runs build in seconds.
SMALL_SIZES = {"vgg16": 32, "resnet50": 32, "senet50": 32, "inception_v3": 75, "ncnn": 64}
#: Layers a fake fold "trained" (the only ones its weights file stores, as format 2 allows).
FAKE_FOLD_LAYERS = ("logits",)

ProbabilityFn = Callable[[str, int, np.ndarray, np.random.Generator], np.ndarray]
EpochsFn = Callable[[str, int, np.random.Generator], int]


def _default_probabilities(model: str, fold: int, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noisy but informative pain probabilities for string ``labels`` (N,)."""
    truth = (labels == "pain").astype(float)
    noise = rng.uniform(0.1, 0.9, len(labels))
    return np.clip(0.5 + (truth - 0.5) * noise + rng.normal(0, 0.2, len(labels)), 0, 1)


def _default_epochs(model: str, fold: int, rng: np.random.Generator) -> int:
    return 12 + fold


def fake_manifest(
    k: int, labels: Sequence[Sequence[str]] | None = None, images_per_subject: int = 4
) -> tuple[pd.DataFrame, list[list[str]]]:
    """A manifest (relative paths ``images/<subject>_<i>.png``) and its k folds.

    Without ``labels``: two subjects per fold (datasets twin-A / twin-B), ``images_per_subject`` images each,
    pain and no pain alternating. With ``labels``: fold f is one subject ``s<f>`` whose images have
    ``labels[f]`` (dataset twin-A).
    """
    rows, folds = [], []
    if labels is None:
        for fold in range(k):
            members = []
            for s in (2 * fold, 2 * fold + 1):
                subject = f"S{s:02d}"
                members.append(subject)
                for i in range(images_per_subject):
                    label = "pain" if (i + s) % 2 else "nopain"
                    rows.append((f"images/{subject}_{i}.png", subject, "twin-A" if s % 2 else "twin-B", label))
            folds.append(members)
    else:
        for fold, fold_labels in enumerate(labels):
            folds.append([f"s{fold}"])
            rows += [(f"images/s{fold}_{i}.png", f"s{fold}", "twin-A", str(lab)) for i, lab in enumerate(fold_labels)]
    manifest = pd.DataFrame(rows, columns=["path", "subject", "dataset", "label"])
    manifest["face_box"] = None
    return manifest, folds


def _run_document(models: Sequence[str], k: int, sizes: Mapping[str, int], weights: str, data_source: str) -> dict:
    from painxai.models import SPECS
    from painxai.runs.layout import RUN_FORMAT

    settings = {
        model: {
            "weights": "random initialisation (seed 0)",
            "weights_kind": "random",
            "weights_sha256": None,
            "profile": "smoke",
            "input_size": int(sizes[model]),
            "preprocessing": SPECS[model].preprocessing,
            "crop_margin": 0.25,
            "fold_weights_layers": list(FAKE_FOLD_LAYERS),
        }
        for model in models
    }
    return {
        "format": RUN_FORMAT, "profile": "smoke", "seed": 0, "models": list(models), "k": k,
        "weights_option": "none", "data_source": data_source, "model_settings": settings, "timings": {},
        "fake": f"tests/helpers/runs.py (weights: {weights})",
    }  # fmt: skip


def _placeholder_initial(path: Path) -> None:
    """An HDF5 file that passes the cheap health check but holds no layer (for runs nobody loads)."""
    import h5py

    from painxai import atomic

    with atomic.atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_group("layers")


def build_run(
    root: Path,
    models: Sequence[str] = ("vgg16", "ncnn"),
    *,
    k: int = 3,
    labels: Sequence[Sequence[str]] | None = None,
    unfinished: Iterable[tuple[str, int]] = (),
    probabilities: ProbabilityFn = _default_probabilities,
    epochs: EpochsFn = _default_epochs,
    weights: str = "placeholder",
    sizes: Mapping[str, int] | None = None,
    data_source: str = "twin",
    seed: int = 0,
    data: tuple[pd.DataFrame, list[list[str]]] | None = None,
) -> Path:
    """A run folder at ``root`` (which must not exist yet) as ``painxai train`` writes it.

    ``labels``: per fold the test images' labels (see :func:`fake_manifest`); ``unfinished``: (model, fold)
    pairs written without DONE, with an invalid predictions.csv (prob_pain 7) so that reading one fails;
    ``probabilities(model, fold, labels, rng)`` -> (N,) and ``epochs(model, fold, rng)`` give each fold's
    results; ``weights``: "placeholder" (HDF5 files that pass the cheap health check, for runs no test loads
    as models) or "random" (real models at ``sizes``, default :data:`SMALL_SIZES`, whose folds differ in
    their ``logits`` layer, the only layer their format-2 file stores). ``data``: (manifest, folds as subject
    lists) of real images to use instead of :func:`fake_manifest`'s small PNGs written inside the run
    folder. Returns ``root``.
    """
    from PIL import Image

    from painxai.data.folds import folds_document
    from painxai.evaluation.metrics import fold_metrics, json_safe
    from painxai.runs import layout, writer
    from painxai.runs.fold_weights import layer_weights

    sizes = {**SMALL_SIZES, **(sizes or {})}
    if data is None:
        manifest, folds = fake_manifest(k, labels)
        manifest["path"] = [str(Path(root).resolve() / p) for p in manifest["path"]]
    else:
        manifest, folds = data[0].copy(), [list(f) for f in data[1]]
        k = len(folds)
    document = _run_document(models, k, sizes, weights, data_source)
    folds_bytes = json.dumps(folds_document(manifest, folds, seed, "0" * 64)).encode()
    if not writer.create_run(root, document, manifest, folds_bytes):
        raise FileExistsError(f"{root} already holds a run")
    for index, path in enumerate(manifest["path"] if data is None else []):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 60 * (index % 4), np.uint8)).save(path)
    unfinished = set(unfinished)
    rng = np.random.default_rng(seed)
    for model in models:
        network = None
        if weights == "random":
            import keras

            from painxai.models import build

            keras.utils.set_random_seed(seed)
            network = build(model, input_shape=(sizes[model], sizes[model], 3), weights=None, seed=seed)
            writer.save_model_weights(network, layout.initial_weights(root, model))
            start = [w.copy() for w in network.get_layer("logits").get_weights()]
        else:
            _placeholder_initial(layout.initial_weights(root, model))
        for fold, members in enumerate(folds):
            test = manifest[manifest["subject"].isin(members)]
            prob = np.round(np.asarray(probabilities(model, fold, test["label"].to_numpy(), rng), dtype=float), 6)
            n_epochs = int(epochs(model, fold, rng))
            if network is not None:
                fold_rng = np.random.default_rng(fold)
                network.get_layer("logits").set_weights(
                    [w + fold_rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in start]
                )
                trained = layer_weights(network, FAKE_FOLD_LAYERS)
            else:
                trained = {name: [np.zeros((2, 2), np.float32)] for name in FAKE_FOLD_LAYERS}
            end_to_end = model == "ncnn"
            head = 0 if end_to_end else min(5, n_epochs)
            phases = ["end_to_end"] * n_epochs if end_to_end else ["head"] * head + ["finetune"] * (n_epochs - head)
            loss = np.linspace(1, 0.3, n_epochs)
            history = pd.DataFrame({
                "epoch": range(1, n_epochs + 1), "phase": phases, "loss": loss, "val_loss": loss + 0.1,
                "accuracy": 0.5 + loss / 4, "val_accuracy": 0.5 + loss / 5, "lr": 1e-3,
            })  # fmt: skip
            metrics = fold_metrics(test["label"].to_numpy(), prob, epochs=n_epochs)
            metrics.pop("notes", None)
            metrics.update(epochs_phase1=head, epochs_phase2=n_epochs - head)
            predictions = test[list(layout.PREDICTION_COLUMNS[:4])].assign(prob_pain=prob)
            folder = writer.write_fold(root, model, fold, trained, history, predictions, json_safe(metrics))
            if (model, fold) in unfinished:
                (folder / layout.DONE).unlink()
                predictions.iloc[:3].assign(prob_pain=7.0).to_csv(folder / layout.PREDICTIONS, index=False)
        if network is not None:
            import keras

            keras.backend.clear_session()
    return Path(root)


def overwrite_every_7th_byte(path: Path) -> None:
    """Damage a file in place the way a bad disk might: every 7th byte replaced by its complement."""
    data = bytearray(Path(path).read_bytes())
    data[::7] = bytes(255 - b for b in data[::7])
    Path(path).write_bytes(bytes(data))
