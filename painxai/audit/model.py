"""One model's audit figures on the chosen images (the figures are listed in :mod:`painxai.audit`).

Cost: one fold model is cloned per model and loaded with each fold's weights in turn, so every map of a
model comes from one compiled function (a clone per fold would compile ten).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from painxai.audit.images import AuditPhotos
from painxai.audit.store import AuditError
from painxai.explain.localisation import fold_agreement, localisation
from painxai.explain.sanity import nan_mean, spearman_per_image
from painxai.labels import PAIN

if TYPE_CHECKING:
    from painxai.runs.reader import Run

DEFAULT_IMAGES = 20
DEFAULT_STEPS = 10
REFERENCE_PERCENTILE = 99.0


@dataclass(frozen=True)
class AuditSettings:
    """What an audit computed; a model audited with other settings is audited again.

    images: test images per model (spread over folds and classes). seed: image choice, randomisation and
    random maps. faithfulness_steps: deletion/insertion steps per curve. conv_steps: conv layers at or
    below the explained layer in the randomisation cascade. agreement_images: images whose maps every
    fold model computes for the fold agreement.
    """

    images: int = DEFAULT_IMAGES
    seed: int = 0
    method: str = "gradcam"
    faithfulness_steps: int = DEFAULT_STEPS
    conv_steps: int = 3
    agreement_images: int = 4


class _Worker:
    """One clone of a model's fold tail that takes each fold's weights in turn, so every map and every
    probability of the model goes through one compiled function. crops: (N, S, S, 3) uint8."""

    def __init__(self, ensemble: Any, crops: np.ndarray, method: str) -> None:
        import keras

        from painxai.explain.cam import forward, method_class
        from painxai.models import SPECS, preprocess

        self.ensemble, self.crops = ensemble, crops
        self.layer = SPECS[ensemble.name].last_conv_layer
        self.model = keras.models.clone_model(ensemble.tails[0])
        self.weights = [tail.get_weights() for tail in ensemble.tails]
        self.cam = method_class(method)(self.model, self.layer)
        self.inputs = preprocess(ensemble.name, crops)
        self.features = self.inputs if ensemble.trunk is None else forward(ensemble.trunk, self.inputs)

    def use(self, position: int) -> None:
        """Load the weights of ``ensemble.folds[position]``."""
        self.model.set_weights(self.weights[position])

    def explain(self, where: np.ndarray, target: str) -> Any:
        """The CamResult of images ``where`` under the current weights."""
        return self.cam.compute(self.inputs[where], target, self.features[where])

    def prob_pain(self, batch: np.ndarray) -> np.ndarray:
        """Pain probabilities (M,) of uint8 crops (M, S, S, 3) under the current weights."""
        from painxai.explain.cam import forward, prob_pain_from_logits
        from painxai.models import preprocess

        shared = preprocess(self.ensemble.name, batch)
        shared = shared if self.ensemble.trunk is None else forward(self.ensemble.trunk, shared)
        return prob_pain_from_logits(self.cam.graph.activations_and_logits(shared)[1].numpy())


def _faithfulness(worker: _Worker, members: np.ndarray, maps: np.ndarray, is_pain: bool,
                  settings: AuditSettings) -> tuple[np.ndarray, ...]:
    """Deletion, insertion, random deletion and random insertion AUCs (each (M,)) of images ``members``
    under their maps (M, S, S), following the probability of pain (``is_pain``) or of no pain."""
    from painxai.explain.faithfulness import deletion_insertion, random_map_curves

    def class_prob(batch: np.ndarray) -> np.ndarray:
        value = worker.prob_pain(batch)
        return value if is_pain else 1.0 - value

    crops, steps, seed = worker.crops[members], settings.faithfulness_steps, settings.seed
    curves = deletion_insertion(crops, maps, class_prob, steps, seed)
    baseline = random_map_curves(crops, class_prob, steps, seed)
    return curves.deletion_auc, curves.insertion_auc, baseline.deletion_auc, baseline.insertion_auc


def audit_model(run: Run, model: str, photos: AuditPhotos, settings: AuditSettings) -> dict[str, Any]:
    """Every figure of one model on the chosen images (see the module doc); JSON-ready."""
    from painxai.audit.verdict import verdict
    from painxai.explain.attribution import aggregate_shares, region_shares
    from painxai.explain.sanity import cascade_layers, randomisation_test
    from painxai.faces.crop import crop_face

    started = time.perf_counter()
    ensemble = run.ensemble(model)
    index = np.flatnonzero(photos.rows["fold"].isin(ensemble.folds).to_numpy())
    if not index.size:
        raise AuditError(f"{model}: no chosen test image belongs to a finished fold {ensemble.folds}")
    crops, label_crops = [], []
    for i in index:
        crop, transform = crop_face(photos.photos[i], photos.boxes[i], ensemble.size, ensemble.crop_margin)
        crops.append(crop)
        labels = photos.label_maps[i]
        label_crops.append(None if labels is None else transform.crop_label_map(labels))
    rows = photos.rows.iloc[index].reset_index(drop=True)
    pain = (rows["label"] == PAIN).to_numpy()
    worker = _Worker(ensemble, np.stack(crops), settings.method)
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
        result = randomisation_test(
            worker.model, steps, lambda where=where: worker.explain(where, "pain").maps, settings.seed + fold,
            maps[where],
        )
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
    figures: dict[str, Any] = {
        "n_images": int(count),
        "n_pain_images": int(pain.sum()),
        "folds": folds,
        "explained_layer": worker.layer,
        "map_resolution": [int(v) for v in low_shape],
        "input_size": int(size),
        "out_of_fold_accuracy": float(np.mean((prob >= 0.5) == pain)),
        "empty_share": float(np.mean(maps.reshape(count, -1).max(axis=1) <= 0)),
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
        "class_sensitivity": {"spearman_pain_vs_nopain": nan_mean(spearman_per_image(maps, nopain))},
        "fold_agreement": {"spearman": fold_agreement(fold_maps), "folds": len(folds), "images": len(agreement)},
        "reference_scale": _reference_scale(maps),
        "reference_scale_nopain": _reference_scale(nopain),
        "reference_rule": f"{REFERENCE_PERCENTILE:g}th percentile of the positive values of the out-of-fold maps",
    }
    with_masks = [i for i in range(count) if pain[i] and label_crops[i] is not None]
    if photos.source == "masks" and with_masks:
        figures["localisation"] = localisation(
            maps[with_masks], figures["map_resolution"], [label_crops[i] for i in with_masks], settings.seed
        )
    elif photos.source == "landmarks":
        shares = [region_shares(maps[i], label_crops[i]) for i in range(count) if label_crops[i] is not None]
        figures["localisation"] = {
            "source": "landmarks", "images": len(shares), "region_shares": aggregate_shares(shares)
        }
    figures["verdict"], figures["reasons"] = verdict(figures)
    figures["settings"] = asdict(settings)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def _reference_scale(maps: np.ndarray) -> float:
    from painxai.explain.display import shared_scale

    return shared_scale([maps], REFERENCE_PERCENTILE)
