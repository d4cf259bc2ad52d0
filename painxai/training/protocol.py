"""The paper's training protocol over leave-subjects-out folds, with cached features, artifacts and resume.

Per model and fold (docs/PROTOCOL.md#training):

- **phase 1** ("head"): the base is frozen; only the new dense head trains, until
  ``patience_head`` epochs without a lower validation loss; the best weights are restored.
- **phase 2** ("finetune"): the Table-1 layers (``SPECS[name].finetune_layers``) are unfrozen, with
  the BatchNorm layers after them trained or kept in inference mode as the profile says
  (``Profile.finetune_batchnorm``), at a lower learning rate, until ``patience_finetune`` epochs
  without improvement; the best weights are restored.
- ``ncnn`` trains end to end ("end_to_end") with RMSprop, lr 1e-4, batch 16, patience 10.

Optimisers of the pretrained models (the paper does not give them): Adam, lr 1e-4 in phase 1 and
1e-5 in phase 2 (ten times lower, the usual fine-tuning ratio); the demo profile raises both (its
bases are random and its epochs capped; see :data:`PROFILES`). Loss: cross-entropy weighted by
balanced class weights (``n / (2 n_class)`` over the fold's training images, augmented included).

Speed: the frozen layers' outputs are cached once per image and model (:mod:`painxai.training.features`);
the fit loop is :mod:`painxai.training.fit`, the profiles :mod:`painxai.training.profiles`. Mixed
precision and XLA are switched on only when a GPU is present.

Run folder: written through :mod:`painxai.runs.writer` only (layout in :mod:`painxai.runs.layout`). Each
fold stores only the layers it trained (:func:`fold_trained_layers`); the rest of its model is the run's
``initial.weights.h5``. A fold folder without ``DONE`` is deleted and redone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from painxai.data.adapters import composition_notes
from painxai.data.folds import read_folds
from painxai.data.manifest import read_manifest
from painxai.hashing import file_digest
from painxai.runs import layout, writer
from painxai.runs.fold_weights import layer_weights
from painxai.runs.provenance import data_source
from painxai.training.choices import choices_record
from painxai.training.features import ModelData, prepare_model
from painxai.training.fit import Reporter, fit, gpu_present, reporting_callback
from painxai.training.pool import (
    FoldIndices,
    ImagePool,
    build_pool,
    fold_indices,
    training_subjects,
)
from painxai.training.profiles import (
    WEIGHT_CHOICES,
    Profile,
    TrainConfig,
    TrainError,
    input_size,
    max_epochs,
    protocol_text,
    resolve_profile,
    trains_batchnorm,
)


@dataclass
class RunSummary:
    """What one ``train`` call did: finished folds (model, fold) -> metrics, skipped folds, seconds."""

    out: Path
    trained: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    skipped: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers, and of Python."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    packages = ("painxai", "tensorflow", "tensorflow-cpu", "keras", "numpy", "scikit-learn", "opencv-contrib-python")
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def _check_resume(existing: dict, fresh: dict, out: Path) -> None:
    """Refuse to continue a run whose data or profile differ from what is asked now."""
    for key, what in (
        ("manifest_sha256", "manifest"),
        ("folds_sha256", "folds file"),
        ("profile", "profile"),
        ("profile_overrides", "--max-epochs-*/--augment-per-image options"),
        ("seed", "seed"),
    ):
        if existing.get(key) != fresh.get(key):
            raise TrainError(
                f"{out}: cannot resume: the {what} differs from the run's ({key} {existing.get(key)!r} in "
                f"run.json, {fresh.get(key)!r} now). Use a new --out folder, or the run's own files."
            )


def check_input_sizes(existing: dict, profile: Profile, models: Sequence[str], out: Path) -> None:
    """Refuse to continue ``models`` in a run whose run.json recorded another input size for one of them
    (a run made by an older version, e.g. N-CNN at 80 px before the demo moved it to 64): its
    ``initial.weights.h5`` would not fit the model built now."""
    for name in models:
        recorded = existing.get("model_settings", {}).get(name, {}).get("input_size")
        kept = layout.initial_weights(out, name).is_file()
        if kept and recorded is not None and int(recorded) != input_size(profile, name):
            raise TrainError(
                f"{out}: cannot resume: {name} was trained at {recorded} px in this run, and this version trains "
                f"it at {input_size(profile, name)} px under the {profile.name} profile. Use a new --out folder, "
                f"or delete {out / name} to retrain that model."
            )


def check_protocols(existing: dict, profile: Profile, jobs: Sequence[tuple[str, int]], out: Path) -> None:
    """Refuse to add folds to a model whose finished folds were trained under another protocol (a run made
    by an older version, e.g. N-CNN in batches of 8 for 20 epochs before the demo moved to 4 and 12): its
    folds would mix two trainings under one row of metrics. ``jobs``: the (model, fold) pairs left to train."""
    from painxai.models import model_names

    order = model_names()
    for name in sorted({model for model, _fold in jobs}, key=order.index):
        recorded = existing.get("model_settings", {}).get(name, {}).get("protocol")
        finished = any(layout.is_fold_done(out, name, fold) for fold in range(int(existing.get("k", 0))))
        if finished and recorded is not None and recorded != protocol_text(name, profile):
            raise TrainError(
                f"{out}: cannot resume: {name}'s finished folds were trained with \"{recorded}\", and this version "
                f"trains it with \"{protocol_text(name, profile)}\" under the {profile.name} profile. Use a new "
                f"--out folder, or delete {out / name} to retrain that model."
            )


def _prepare_run(config: TrainConfig, profile: Profile) -> tuple[pd.DataFrame, dict, dict]:
    """Validate inputs, create or check the run folder, and return (manifest, folds, run.json)."""
    manifest = read_manifest(config.manifest)
    folds = read_folds(config.folds, manifest)
    if config.fold is not None and not 0 <= config.fold < int(folds["k"]):
        raise TrainError(f"--fold {config.fold} is out of range: the folds file has k = {folds['k']}")
    out = Path(config.out)
    fresh = {
        "format": layout.RUN_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "profile": profile.name,
        "profile_settings": dataclasses.asdict(profile),
        "seed": config.seed,
        "models": list(config.models),
        "weights_option": config.weights,
        "manifest_source": str(Path(config.manifest).resolve()),
        "manifest_sha256": file_digest(config.manifest),
        "folds_source": str(Path(config.folds).resolve()),
        "folds_sha256": file_digest(config.folds),
        "k": int(folds["k"]),
        "class_weighting": "balanced: weight n / (2 n_class) per training image, from the fold's training "
        "labels (augmented samples included); validation loss unweighted",
        "validation": f"about {profile.validation_fraction:.0%} of each dataset's training subjects, by subject "
        "(painxai.data.folds.validation_subjects, seed + fold)",
        "versions": package_versions(),
        "model_settings": {},
        "timings": {},
    }
    if config.overrides():  # absent when none, as in runs made before the options existed
        fresh["profile_overrides"] = config.overrides()
    fresh["choices"] = choices_record(profile)
    fresh["data_composition_notes"] = composition_notes(manifest)  # where the data differ from the paper's
    fresh["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu_present()}
    fresh["data_source"] = data_source(Path(config.manifest), manifest)
    if (out / layout.RUN_JSON).is_file() and not config.resume:
        raise TrainError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")
    if writer.create_run(out, fresh, manifest, Path(config.folds).read_bytes()):
        return manifest, folds, fresh
    if not config.resume:  # a parallel job created it a moment ago
        raise TrainError(f"{out} already holds a run: pass --resume to continue it, or choose another --out")

    def merge(existing: dict) -> None:
        _check_resume(existing, fresh, out)
        check_input_sizes(existing, profile, config.models, out)
        existing["models"] = layout.model_order(set(existing.get("models", [])) | set(config.models))

    return manifest, folds, writer.update_run_json(out, merge)


def train_fold(
    data: ModelData,
    profile: Profile,
    pool: ImagePool,
    indices: FoldIndices,
    fold: int,
    seed: int,
    reporter: Reporter,
    extra_callbacks: Sequence[Any] = (),
) -> tuple[list[dict], np.ndarray, dict[str, int]]:
    """Run the protocol for one fold; returns (history rows, test prob_pain (T,), epochs per phase).

    The model and its optimizers are reset to the run's starting state first, so a fold gives the
    same result whether or not other folds trained before it in this process. A phase whose epoch
    cap is 0 in the profile is skipped.
    """
    import keras

    from painxai.models import prob_pain

    keras.utils.set_random_seed(seed + fold)
    data.reset()
    labels = pool.labels
    rows: list[dict] = []
    epochs = {"head": 0, "finetune": 0, "end_to_end": 0}

    def run_phase(
        phase: str, view: Any, features: np.ndarray, batch: int, patience: int, cap: int | None,
        rows_used: FoldIndices = indices,
    ) -> None:
        if cap != 0:
            callbacks = [reporting_callback(reporter, data.name, fold, phase, rows), *extra_callbacks]
            epochs[phase] = fit(view, features, labels, rows_used, batch, patience, cap, seed + fold, callbacks)

    if data.head is None:
        run_phase(
            "end_to_end", data.tail, data.cut_features, profile.ncnn_batch_size, profile.ncnn_patience,
            profile.ncnn_max_epochs, trained_rows(data.name, profile, pool, indices),
        )
    else:
        features = data.head_features
        assert features is not None  # a model with a head has the head's inputs
        if profile.standardize_head_inputs and profile.max_epochs_head != 0:
            mean, scale = feature_standardization(features[indices.train])
            features = (features.astype(np.float32) - mean) / scale
        run_phase("head", data.head, features, profile.batch_size, profile.patience_head, profile.max_epochs_head)
        if features is not data.head_features:
            fold_standardization(data.head.get_layer(_first_dense(data.head)), mean, scale)
        run_phase(
            "finetune", data.tail, data.cut_features, profile.batch_size, profile.patience_finetune,
            profile.max_epochs_finetune,
        )
    test_inputs = data.cut_features[indices.test].astype(np.float32)
    outputs = np.concatenate([
        np.asarray(data.tail(test_inputs[start : start + 256], training=False))
        for start in range(0, len(test_inputs), 256)
    ])
    return rows, prob_pain(data.name, outputs), epochs


def trained_rows(name: str, profile: Profile, pool: ImagePool, indices: FoldIndices) -> FoldIndices:
    """The fold's pool rows that ``name`` trains on: all of ``indices``, except that N-CNN leaves out
    the augmented samples when the profile says so."""
    from painxai.models import SPECS

    if SPECS[name].trained_end_to_end and not profile.ncnn_augmented:
        # Pool rows are originals first, then augmented samples.
        return dataclasses.replace(indices, train=indices.train[indices.train < pool.n_original])
    return indices


def _first_dense(model: Any) -> str:
    import keras

    return next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense))


def feature_standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale (D,) float32 of training features (N, D); constant features get
    scale 1 (they carry no information, and dividing by ~0 would blow up)."""
    mean = features.mean(axis=0, dtype=np.float64)
    std = features.std(axis=0, dtype=np.float64)
    scale = np.where(std > 1e-6 * max(float(std.max()), 1e-12), std, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


def fold_standardization(dense: Any, mean: np.ndarray, scale: np.ndarray) -> None:
    """Rewrite a Dense layer trained on standardized inputs ``(x - mean) / scale`` so that it gives
    the same outputs on raw ``x``: kernel / scale (per input row), bias - (mean / scale) @ kernel.
    The model keeps its Table-1 architecture; only its training was preconditioned."""
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in dense.get_weights())
    dense.set_weights([
        (kernel / scale[:, None]).astype(np.float32),
        (bias - (mean / scale) @ kernel).astype(np.float32),
    ])


def _metrics(labels: np.ndarray, probabilities: np.ndarray, epochs: dict[str, int], **extra: Any) -> dict[str, Any]:
    """The fold's metrics via :func:`painxai.evaluation.metrics.fold_metrics` (JSON-safe)."""
    from painxai.evaluation.metrics import fold_metrics, json_safe

    total = sum(epochs.values())
    return json_safe(
        fold_metrics(
            labels,
            probabilities,
            int(total),
            epochs_phase1=int(epochs["head"]),
            epochs_phase2=int(epochs["finetune"] + epochs["end_to_end"]),
            **extra,
        )
    )


def _write_fold(
    out: Path,
    data: ModelData,
    fold: int,
    trained_layers: Sequence[str],
    manifest: pd.DataFrame,
    pool: ImagePool,
    indices: FoldIndices,
    rows: list[dict],
    probabilities: np.ndarray,
    metrics: dict[str, Any],
) -> Path:
    """Write the fold's artifacts through :func:`painxai.runs.writer.write_fold` (``DONE`` last): only
    the ``trained_layers`` of the model (the rest is the run's ``initial.weights.h5``)."""
    test_rows = manifest.iloc[pool.source_row[indices.test]]
    predictions = pd.DataFrame(
        {
            "path": test_rows["path"].to_numpy(),
            "subject": test_rows["subject"].to_numpy(),
            "dataset": test_rows["dataset"].to_numpy(),
            "label": test_rows["label"].to_numpy(),
            "prob_pain": np.round(probabilities.astype(float), 6),
        }
    )
    history = pd.DataFrame(rows, columns=list(layout.HISTORY_COLUMNS))
    layers = layer_weights(data.model, trained_layers)
    return writer.write_fold(out, data.name, fold, layers, history, predictions, metrics)


def fold_trained_layers(name: str, profile: Profile) -> tuple[str, ...]:
    """The layers whose weights a fold of ``name`` can change under ``profile`` (the only ones its
    weights file stores): the head when fine-tuning is skipped, head + Table-1 layers otherwise (with the
    BatchNorm layers after them, gamma, beta and moving statistics, when the profile trains them), every
    weighted layer for ncnn."""
    from painxai.models import SPECS, trainable_layer_names

    spec = SPECS[name]
    head_only = not spec.trained_end_to_end and profile.max_epochs_finetune == 0
    return trainable_layer_names(spec, phase=1 if head_only else 2, batchnorm=trains_batchnorm(profile))


@contextlib.contextmanager
def _precision(mixed: bool | None) -> Iterator[str]:
    """Set Keras's global dtype policy for a run and restore the previous one afterwards; yields its name.

    ``mixed``: None = ``mixed_float16`` exactly when a GPU is present (on CPU float16 is slower), True
    or False to force it. Model outputs and the loss stay float32 either way (see ``models.networks``).
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    policy = "mixed_float16" if (gpu_present() if mixed is None else mixed) else "float32"
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _require_pretrained(models: Sequence[str]) -> None:
    """Raise ``WeightsMissingError`` (with how to get them) before anything is written, when a model's
    pretrained base weights are not on this machine."""
    from painxai.models import SPECS
    from painxai.models.base_weights import pretrained_file

    for name in models:
        if SPECS[name].weights_file is not None:
            pretrained_file(SPECS[name])


def train(
    config: TrainConfig, reporter: Reporter | None = None, extra_callbacks: Sequence[Any] = ()
) -> RunSummary:
    """Train ``config.models`` on the folds (all, or ``config.fold``) and write the run folder.

    With ``config.resume``, finished folds (``DONE`` present) are skipped and unfinished ones are
    deleted and redone; the manifest, folds file, profile and seed must match the run's run.json.
    ``extra_callbacks`` are keras callbacks added to every phase (tests use one to simulate a kill).
    """
    reporter = reporter or Reporter()
    profile = resolve_profile(config)
    config = dataclasses.replace(config, weights=config.weights or profile.default_weights)
    if config.weights not in WEIGHT_CHOICES:
        raise TrainError(f"unknown --weights {config.weights!r}; choose from {', '.join(WEIGHT_CHOICES)}")
    if config.weights == "pretrained":
        _require_pretrained(config.models)
    started = time.perf_counter()
    manifest, folds_doc, document = _prepare_run(config, profile)
    out = Path(config.out)
    folds = [config.fold] if config.fold is not None else list(range(int(folds_doc["k"])))
    jobs = [(m, f) for m in config.models for f in folds if not layout.is_fold_done(out, m, f)]
    skipped = [(m, f) for m in config.models for f in folds if layout.is_fold_done(out, m, f)]
    check_protocols(document, profile, jobs, out)
    summary = RunSummary(out=out, skipped=skipped)
    reporter.run_started(len(jobs), len(summary.skipped))
    if not jobs:
        summary.seconds = time.perf_counter() - started
        return summary
    with _precision(config.mixed_precision) as policy:
        _train_jobs(config, profile, manifest, folds_doc, jobs, summary, reporter, extra_callbacks, policy, started)
    summary.seconds = time.perf_counter() - started
    return summary


def _train_jobs(
    config: TrainConfig,
    profile: Profile,
    manifest: pd.DataFrame,
    folds_doc: dict,
    jobs: list[tuple[str, int]],
    summary: RunSummary,
    reporter: Reporter,
    extra_callbacks: Sequence[Any],
    policy: str,
    started: float,
) -> None:
    """Train ``jobs`` (model, fold) under the Keras dtype ``policy``, filling ``summary`` and run.json
    (``started``: ``time.perf_counter()`` when the call began, for its timing record)."""
    out = Path(config.out)
    weights = config.weights
    assert weights is not None  # train() put the profile's default in
    from painxai.paths import home

    cache_dir = Path(config.cache_dir) if config.cache_dir is not None else home() / "cache"
    # One pool size per profile, whichever models this call trains: augmented samples are resized from
    # the pool, so a model's training data (and accuracy) must not depend on the other models in the call.
    from painxai.models import model_names

    pool_size = max(input_size(profile, m) for m in model_names())
    pool_started = time.perf_counter()
    pool = build_pool(
        manifest,
        pool_size,
        training_subjects(folds_doc, sorted({f for _, f in jobs})),
        profile.augment_per_image,
        config.seed,
        cache_dir,
        margin=profile.crop_margin,
    )
    pool_seconds = time.perf_counter() - pool_started
    reporter.message(
        f"{pool.n_original} images ({_crop_text(pool.crop_sources)}) + {len(pool.images) - pool.n_original} "
        f"augmented samples at {pool_size} px in {pool_seconds:.1f} s"
    )
    model_records: dict[str, dict] = {}
    for name in config.models:
        model_jobs = [f for m, f in jobs if m == name]
        if not model_jobs:
            continue
        data, described = prepare_model(
            name, profile, pool, manifest, out, weights, config.seed, reporter, cache_dir
        )
        model_records[name] = _model_record(name, profile, data, described)

        def add_settings(doc: dict, n: str = name) -> None:
            doc["model_settings"][n] = model_records[n]

        writer.update_run_json(out, add_settings)
        for fold in model_jobs:
            writer.discard_unfinished_fold(out, name, fold)  # an unfinished fold is redone from scratch
            reporter.fold_started(name, fold, max_epochs(name, profile))
            fold_started = time.perf_counter()
            indices = fold_indices(pool, folds_doc, fold, profile.validation_fraction, config.seed, manifest)
            rows, probabilities, epochs = train_fold(
                data, profile, pool, indices, fold, config.seed, reporter, extra_callbacks
            )
            metrics = _metrics(
                pool.labels[indices.test],
                probabilities,
                epochs,
                seconds=round(time.perf_counter() - fold_started, 3),
                n_train=len(trained_rows(name, profile, pool, indices).train),
                n_validation=len(indices.validation),
                n_test=len(indices.test),
                validation_subjects=indices.validation_subjects,
                test_subjects=indices.test_subjects,
            )
            _write_fold(
                out, data, fold, fold_trained_layers(name, profile), manifest, pool, indices, rows, probabilities,
                metrics,
            )
            summary.trained[(name, fold)] = metrics
            reporter.fold_done(name, fold, metrics)
        del data
    seconds = time.perf_counter() - started

    def record_timings(doc: dict) -> None:
        doc["timings"]["last_invocation"] = {
            "seconds": round(seconds, 3),
            "pool_seconds": round(pool_seconds, 3),
            "folds_trained": len(summary.trained),
            "precision": policy,
        }
        doc["data"] = {
            "pool_size_px": pool_size,
            "crop_sources": pool.crop_sources,
            "augmented_samples": len(pool.images) - pool.n_original,
            "augment_report": pool.augment_report,
            "face_detector": face_detector_record(pool),
        }

    writer.update_run_json(out, record_timings)


def face_detector_record(pool: ImagePool) -> dict[str, Any]:
    """run.json's ``data.face_detector``: which detector (``"mediapipe"``, MediaPipe's BlazeFace, or
    ``"haar"``, OpenCV's fallback; None when neither works) found the faces the manifest gave no box for and
    checked that each augmented sample still shows the face, and how much of the pool it decided."""
    from painxai.training.augment_cache import detector_name

    report = pool.augment_report
    detected = int(pool.crop_sources.get("detected", 0))
    checked = report.get("detector") == "used"
    # Probing the detector loads it (seconds): only when it decided something.
    name = detector_name() if detected or checked or report.get("crop_boxes", {}).get("detected") else None
    return {
        "name": name,
        "crops_detected": detected,
        "crops_total": pool.n_original,
        "augmentation_checked": checked,
        "augmentation_missed_in_crop": int(report.get("missed_in_crop", 0)),
        "note": "the detector of this invocation; crops and samples read from the cache were made by the detector "
        "in use when they were cached (the same one unless the face model files or MediaPipe changed since)",
    }


def _model_record(name: str, profile: Profile, data: ModelData, described: str) -> dict[str, Any]:
    """run.json's ``model_settings[name]``: what inference needs to rebuild and feed the fold models
    (input size, preprocessing, crop margin, the fold files' layers) and where the weights came from."""
    from painxai.models import SPECS

    pretrained = described.startswith("pretrained")
    record: dict[str, Any] = {
        "weights": described,
        "weights_kind": "pretrained" if pretrained else "random",
        "weights_sha256": None,
        "profile": profile.name,
        "input_size": data.size,
        "preprocessing": SPECS[name].preprocessing,
        "crop_margin": profile.crop_margin,
        "fold_weights_layers": list(fold_trained_layers(name, profile)),
        "feature_seconds": round(data.feature_seconds, 3),
        "protocol": protocol_text(name, profile),
        "cached_feature_dtype": profile.feature_dtype,
    }
    if pretrained:
        from painxai.models.base_weights import pretrained_file

        record["weights_file"] = SPECS[name].weights_file
        record["weights_sha256"] = file_digest(pretrained_file(SPECS[name]))
    return record


def _crop_text(sources: dict[str, int]) -> str:
    return ", ".join(f"{count} faces from {source}" for source, count in sources.items() if count)
