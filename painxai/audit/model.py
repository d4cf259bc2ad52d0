"""One model's audit figures on the chosen images (the figures are listed in :mod:`painxai.audit`).

Cost: one fold model is cloned per model and loaded with each fold's weights in turn, so every map of a
model comes from one compiled function (a clone per fold would compile ten).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from painxai.audit.images import AuditPhotos
from painxai.audit.store import AuditError
from painxai.explain.localisation import empty_maps, fold_agreement
from painxai.explain.sanity import nan_mean, spearman_per_image
from painxai.labels import NOPAIN, PAIN, PAIN_THRESHOLD

if TYPE_CHECKING:
    from painxai.explain.base import ExplanationMethod, MapResult
    from painxai.runs.reader import FoldEnsemble, Run

DEFAULT_IMAGES = 20
DEFAULT_STEPS = 10
REFERENCE_PERCENTILE = 99.0
PRIOR_IMAGES = 16  # training images per fold model for the model's own mean map
# An input method costs a pass of the whole network per interpolant or mask (about 1 s a map on the demo
# models, 2 cores, against about 10 ms for a Grad-CAM map): its audit uses fewer images (docs/TRUST.md).
INPUT_METHOD_BUDGET = {"images": 8, "located_images": 40, "prior_images": 2, "agreement_images": 2}


@dataclass(frozen=True)
class AuditSettings:
    """What an audit computed; a model audited with other settings is audited again.

    images: test images per model (spread over folds and classes). seed: image choice, randomisation and
    random maps. faithfulness_steps: deletion/insertion steps per curve. conv_steps: conv layers at or
    below the explained layer in the randomisation cascade. agreement_images: images whose maps every
    fold model computes for the fold agreement. localisation: which images the localisation uses (recorded so
    that entries of an audit that used fewer are audited again). method: a
    :data:`painxai.explain.methods.METHODS` name; method_options: its options as (name, value) pairs.
    located_images: at most this many of the out-of-fold pain images for localisation (0: every one).
    prior_images: training images per fold model for the model's own mean map.
    """

    images: int = DEFAULT_IMAGES
    seed: int = 0
    method: str = "gradcam"
    faithfulness_steps: int = DEFAULT_STEPS
    conv_steps: int = 3
    agreement_images: int = 4
    localisation: str = "every out-of-fold pain image"
    method_options: tuple[tuple[str, int], ...] = ()
    located_images: int = 0
    prior_images: int = PRIOR_IMAGES

    def as_json(self) -> dict[str, Any]:
        """The settings as audit.json stores them (tuples as lists), for comparing with a stored entry."""
        return json.loads(json.dumps(asdict(self)))


def settings_for(method: str, base: AuditSettings | None = None) -> AuditSettings:
    """The audit settings of ``method``: ``base`` (default :class:`AuditSettings`) with the method's
    ``audit_options``; an input method's image counts are also capped by ``INPUT_METHOD_BUDGET``."""
    from painxai.explain.methods import method_class

    kind = method_class(method)
    settings = replace(base or AuditSettings(), method=kind.name,
                       method_options=tuple(sorted(kind.audit_options.items())))
    if kind.level == "input":  # the budget caps each count (0 located images: every one, so the cap)
        located = min(settings.located_images or INPUT_METHOD_BUDGET["located_images"],
                      INPUT_METHOD_BUDGET["located_images"])
        settings = replace(
            settings, images=min(settings.images, INPUT_METHOD_BUDGET["images"]), located_images=located,
            prior_images=min(settings.prior_images, INPUT_METHOD_BUDGET["prior_images"]),
            agreement_images=min(settings.agreement_images, INPUT_METHOD_BUDGET["agreement_images"]),
            localisation=f"at most {located} out-of-fold pain images",
        )
    return settings


class _Worker:
    """One clone of a model's fold tail that takes each fold's weights in turn, so every map and every
    probability of the model goes through one compiled function. crops: (N, S, S, 3) uint8."""

    def __init__(self, ensemble: FoldEnsemble, crops: np.ndarray, settings: AuditSettings) -> None:
        import keras

        from painxai.explain.cam import cam_graph, forward, layer_output
        from painxai.explain.methods import method_class
        from painxai.models import SPECS

        self.ensemble, self.crops = ensemble, crops
        self.layer = SPECS[ensemble.name].explained_layer
        self.model = keras.models.clone_model(ensemble.tails[0])
        self.weights = [tail.get_weights() for tail in ensemble.tails]
        kind = method_class(settings.method)
        options = dict(settings.method_options)
        # A layer method takes the trunk's features (computed once here); an input method the pixels.
        self.cam: ExplanationMethod = (kind(self.model, self.layer, **options) if kind.level == "layer"
                                       else kind(self.model, self.layer, trunk=ensemble.trunk, **options))
        self.graph = cam_graph(self.model, self.layer)  # the probabilities, whatever the method
        grid_h, grid_w = layer_output(self.model, self.layer).shape[1:3]
        self.grid = (int(grid_h), int(grid_w))  # the baselines' grid: the explained layer's
        self.inputs = ensemble.preprocess(crops)
        trunk = ensemble.trunk if kind.level == "layer" else None
        self.features = self.inputs if trunk is None else forward(trunk, self.inputs)

    def use(self, position: int) -> None:
        """Load the weights of ``ensemble.folds[position]``."""
        self.model.set_weights(self.weights[position])

    def explain(self, where: np.ndarray, target: str) -> MapResult:
        """The maps of images ``where`` under the current weights."""
        return self.cam.compute(self.inputs[where], target, self.features[where])

    def prob_pain(self, batch: np.ndarray) -> np.ndarray:
        """Pain probabilities (M,) of uint8 crops (M, S, S, 3) under the current weights."""
        from painxai.explain.cam import forward, prob_pain_from_logits

        shared = self.ensemble.preprocess(batch)
        shared = shared if self.ensemble.trunk is None else forward(self.ensemble.trunk, shared)
        return prob_pain_from_logits(self.graph.activations_and_logits(shared)[1].numpy())


def _faithfulness(worker: _Worker, members: np.ndarray, maps: np.ndarray, is_pain: bool,
                  settings: AuditSettings) -> tuple[np.ndarray, ...]:
    """Deletion, insertion, random deletion and random insertion AUCs (each (M,)) of images ``members``
    under their maps (M, S, S), following the probability of pain (``is_pain``) or of no pain."""
    from painxai.explain.faithfulness import faithfulness_aucs

    scores = faithfulness_aucs(worker.crops[members], maps, worker.prob_pain, PAIN if is_pain else NOPAIN,
                               settings.faithfulness_steps, settings.seed)
    return scores.deletion_auc, scores.insertion_auc, scores.random_deletion_auc, scores.random_insertion_auc


def _crops(photos: AuditPhotos, index: np.ndarray, ensemble: FoldEnsemble) -> tuple[list[np.ndarray], list[Any]]:
    """The model's input crops of images ``index`` and their region label maps cropped alike (or None)."""
    from painxai.faces.crop import crop_face

    crops, label_crops = [], []
    for i in index:
        crop, transform = crop_face(photos.photos[i], photos.boxes[i], ensemble.size, ensemble.crop_margin)
        crops.append(crop)
        labels = photos.label_maps[i]
        label_crops.append(None if labels is None else transform.crop_label_map(labels))
    return crops, label_crops


def audit_model(
    run: Run, model: str, photos: AuditPhotos, settings: AuditSettings, located: AuditPhotos | None = None
) -> dict[str, Any]:
    """Every figure of one model (see the module doc); JSON-ready. ``photos``: the images of the randomisation,
    faithfulness and the other figures (``settings.images`` of them); ``located``: every out-of-fold pain
    image, for localisation against the twin's masks and cue intensities (None: data without them)."""
    from painxai.audit.verdict import verdict
    from painxai.evaluation.bootstrap import subject_bootstrap
    from painxai.explain.attribution import aggregate_shares, region_shares
    from painxai.explain.sanity import cascade_layers, randomisation_test

    started = time.perf_counter()
    ensemble = run.ensemble(model)
    index = np.flatnonzero(photos.rows["fold"].isin(ensemble.folds).to_numpy())
    if not index.size:
        raise AuditError(f"{model}: no chosen test image belongs to a finished fold {ensemble.folds}")
    crops, label_crops = _crops(photos, index, ensemble)
    rows = photos.rows.iloc[index].reset_index(drop=True)
    located_index = np.array([], dtype=int)
    truth = located if located is not None and located.source == "masks" else None
    cues = None if truth is None else truth.cues
    if truth is not None and cues is not None:
        located_index = np.flatnonzero(truth.rows["fold"].isin(ensemble.folds).to_numpy())
        if 0 < settings.located_images < located_index.size:  # a seeded sample, kept in the images' order
            chosen = np.random.default_rng(settings.seed).choice(located_index.size, settings.located_images,
                                                                 replace=False)
            located_index = located_index[np.sort(chosen)]
    located_crops, located_labels = (
        _crops(truth, located_index, ensemble) if truth is not None and located_index.size else ([], [])
    )
    pain = (rows["label"] == PAIN).to_numpy()
    # One worker over both sets, so every map comes from one compiled function; located images follow.
    worker = _Worker(ensemble, np.stack([*crops, *located_crops]), settings)
    count, folds, size = len(crops), list(ensemble.folds), ensemble.size
    own = np.array([folds.index(int(f)) for f in rows["fold"]])
    maps = np.empty((count, size, size), dtype=np.float32)  # out-of-fold pain maps
    nopain = np.empty_like(maps)
    prob = np.empty(count, dtype=np.float32)
    steps = cascade_layers(worker.model, worker.layer, settings.conv_steps)
    spearman, ssim = np.full((len(steps), count), np.nan), np.full((len(steps), count), np.nan)
    faith = np.empty((4, count))  # deletion, insertion, random deletion, random insertion AUCs
    for k, fold in enumerate(folds):
        where = np.flatnonzero(own == k)
        if not where.size:
            continue
        worker.use(k)
        trained = worker.explain(where, "pain")
        maps[where], prob[where], low_shape = trained.maps, trained.prob_pain, trained.low_res.shape[1:]
        nopain[where] = worker.explain(where, "nopain").maps
        def pain_maps(where: np.ndarray = where) -> np.ndarray:
            return worker.explain(where, "pain").maps

        result = randomisation_test(worker.model, steps, pain_maps, settings.seed + fold, maps[where])
        spearman[:, where], ssim[:, where] = result.spearman, result.ssim
        for is_pain, members in ((True, where[pain[where]]), (False, where[~pain[where]])):
            if members.size:
                explained = maps[members] if is_pain else nopain[members]
                faith[:, members] = _faithfulness(worker, members, explained, is_pain, settings)
    # Fold agreement on the first few images only: it costs one pass of every fold model per image.
    agreement = np.arange(min(settings.agreement_images, count))
    fold_maps = np.empty((len(folds), len(agreement), size, size), dtype=np.float32)
    for k in range(len(folds)):
        worker.use(k)
        fold_maps[k] = worker.explain(agreement, "pain").maps
    subjects = rows["subject"].astype(str).to_numpy()

    def interval(values: np.ndarray) -> dict[str, Any]:
        return subject_bootstrap(values, subjects, seed=settings.seed).as_dict()

    empty = empty_maps(maps)
    figures: dict[str, Any] = {
        "n_images": int(count),
        "n_pain_images": int(pain.sum()),
        "n_subjects": len(set(subjects)),
        "folds": folds,
        "explained_layer": worker.layer,
        "method": settings.method,
        "map_resolution": [int(v) for v in low_shape],
        "baseline_grid": list(worker.grid),
        "input_size": int(size),
        "out_of_fold_accuracy": float(np.mean((prob >= PAIN_THRESHOLD) == pain)),
        "empty_share": float(np.mean(empty)),
        "empty_maps": int(empty.sum()),
        "randomisation": {
            "steps": steps,
            "spearman": [nan_mean(row) for row in spearman],
            "ssim": [nan_mean(row) for row in ssim],
        },
        "faithfulness": {
            "steps": settings.faithfulness_steps,
            "explained_class": "each image's true class",
            "deletion_auc": float(faith[0].mean()),
            "insertion_auc": float(faith[1].mean()),
            "random_deletion_auc": float(faith[2].mean()),
            "random_insertion_auc": float(faith[3].mean()),
        },
        "intervals": {
            "empty_share": interval(empty.astype(np.float64)),
            "randomised_spearman": interval(spearman[-1]) if len(steps) else None,
            "deletion_minus_random": interval(faith[0] - faith[2]),
            "insertion_minus_random": interval(faith[1] - faith[3]),
        },
        "class_sensitivity": {"spearman_pain_vs_nopain": nan_mean(spearman_per_image(maps, nopain))},
        "fold_agreement": {"spearman": fold_agreement(fold_maps), "folds": len(folds), "images": len(agreement)},
        "reference_scale": _reference_scale(maps),
        "reference_scale_nopain": _reference_scale(nopain),
        "reference_rule": f"{REFERENCE_PERCENTILE:g}th percentile of the positive values of the out-of-fold maps",
    }
    if truth is not None and cues is not None and located_index.size:
        located_rows = truth.rows.iloc[located_index].reset_index(drop=True)
        figures["localisation"] = _localisation(
            worker, count, located_rows, located_labels, cues[located_index], folds, low_shape, settings
        )
    elif photos.source == "landmarks":
        shares = [region_shares(maps[i], label_crops[i]) for i in range(count) if label_crops[i] is not None]
        figures["localisation"] = {
            "source": "landmarks", "images": len(shares), "region_shares": aggregate_shares(shares)
        }
    figures["verdict"], figures["reasons"] = verdict(figures)
    figures["settings"] = settings.as_json()
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _localisation(
    worker: _Worker, offset: int, rows: Any, labels: list[np.ndarray], cues: np.ndarray, folds: list[int],
    low_shape: tuple[int, int], settings: AuditSettings,
) -> dict[str, Any]:
    """Localisation of the out-of-fold pain maps of the located images (the worker's crops from ``offset``
    on), each score against the best of three baselines that ignore the image, with intervals by subject.

    The baselines: the best single cell of the explained layer's grid (``worker.grid``, the map's own for a
    layer method; the same fixed maps for an input method), chosen with hindsight on these images; the data
    prior (the mean ground truth of the images each fold model trained on, through that grid); the model's
    own mean map (each fold model's mean map over ``settings.prior_images`` of its training images). What
    the best map could score is taken at the map's resolution ``low_shape``."""
    from painxai.explain.localisation import through_grid, truth_maps

    count, size = len(labels), labels[0].shape
    own = np.array([folds.index(int(f)) for f in rows["fold"]])
    maps = np.empty((count, *size), np.float32)
    data_prior, model_prior = np.empty_like(maps), np.empty_like(maps)
    truth = truth_maps(labels, cues)
    rng = np.random.default_rng(settings.seed)
    for k in range(len(folds)):
        mine, others = np.flatnonzero(own == k), np.flatnonzero(own != k)  # its test images; what it trained on
        if not mine.size:
            continue
        worker.use(k)
        maps[mine] = worker.explain(offset + mine, "pain").maps
        if others.size:
            data_prior[mine] = through_grid(truth[others].mean(axis=0, keepdims=True), worker.grid)[0]
            sample = rng.choice(others, size=min(settings.prior_images, others.size), replace=False)
            model_prior[mine] = worker.explain(offset + sample, "pain").maps.mean(axis=0)
        else:  # a single fold: nothing it trained on is among these images
            data_prior[mine] = model_prior[mine] = 0.0
    subjects = rows["subject"].astype(str).to_numpy()
    priors = {"data prior": data_prior, "model's mean map": model_prior}
    return localisation_figures(maps, priors, labels, cues, subjects, worker.grid, settings.seed, low_shape)


def localisation_figures(
    maps: np.ndarray, priors: dict[str, np.ndarray], labels: list[np.ndarray], cues: np.ndarray,
    subjects: np.ndarray, low_shape: tuple[int, int], seed: int = 0, map_shape: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The localisation entry of audit.json from maps (N, S, S), prior maps by name (each (N, S, S): the map
    each image is compared with), label maps (N, S, S), cue intensities (N, R) and subjects (N,): each score's
    mean and interval, beside the best single cell of the ``low_shape`` grid and the priors, with the best map
    possible at ``map_shape`` (the maps' own resolution; default ``low_shape``; see
    :mod:`painxai.explain.localisation`)."""
    from painxai.evaluation.bootstrap import subject_bootstrap
    from painxai.explain.localisation import SCORE_NAMES, best_cell_scores, best_possible, score_maps

    scores = score_maps(maps, labels, cues)
    cells, chosen = best_cell_scores(low_shape, labels, cues)
    prior_scores = {name: score_maps(prior, labels, cues) for name, prior in priors.items()}
    figures: dict[str, Any] = {
        "source": "masks",
        "images": len(maps),
        "subjects": len(set(subjects)),
        "empty_maps": int(scores.empty.sum()),
        "unrankable_images": int(np.isnan(scores.correlation).sum()),
        "best_possible": best_possible(map_shape or low_shape, labels, cues),
        "best_cell": {name: [index // low_shape[1], index % low_shape[1]] for name, index in chosen.items()},
        "intervals": {},
    }
    for key, name in zip(("pointing_game", "cue_share", "cue_correlation"), SCORE_NAMES, strict=True):
        baselines = {"best cell": cells[name], **{label: prior[name] for label, prior in prior_scores.items()}}
        means = {label: nan_mean(values) for label, values in baselines.items()}
        best = max(means, key=lambda label: _or_lowest(means[label]))
        figures[key] = nan_mean(scores[name])
        figures[f"baseline_{key}"] = means
        figures["intervals"][key] = subject_bootstrap(scores[name], subjects, seed=seed).as_dict()
        difference = subject_bootstrap(scores[name] - baselines[best], subjects, seed=seed).as_dict()
        figures["intervals"][f"{key}_minus_best_baseline"] = {**difference, "baseline": best}
    return figures


def _or_lowest(value: float | None) -> float:
    """``value``, or minus infinity for a figure that could not be computed (it never wins a comparison)."""
    return -np.inf if value is None else value


def _reference_scale(maps: np.ndarray) -> float:
    from painxai.explain.display import shared_scale

    return shared_scale([maps], REFERENCE_PERCENTILE)
