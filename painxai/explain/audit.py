"""The trust audit of a run: per model, can its maps be believed? Written to ``<run>/audit.json``.

Each model is audited on the same out-of-fold test images: every image is explained by the one fold model
whose test fold held its subject (it never saw that face). The figures, per model:

- **randomisation** (:mod:`painxai.explain.sanity`): Spearman and SSIM between the trained model's pain
  map and the map after each step of a cascading randomisation, output layer first;
- **localisation**, on pain images with the twin's region masks (:mod:`painxai.data.regions`): the
  strict pointing game (the map's maximum on a cue region) and the share of positive map mass on the
  cue regions, beside the same figures for three
  maps that ignore the model, made at the model's own map resolution and upsampled like its maps: a
  uniform map, random maps (``RANDOM_DRAWS`` per image) and a centred Gaussian (a centre prior). A map
  whose maximum is tied over several pixels scores the share of those pixels that hit (the expected hit
  under a random tie-break). Without masks: the mean NFCS region shares from FaceMesh landmarks only;
- **faithfulness** (:mod:`painxai.explain.faithfulness`): deletion and insertion AUCs of the map of the
  image's true class, following that class's probability, against random maps;
- **class sensitivity**: the mean Spearman correlation of the pain and the no-pain map (1 = the map does
  not depend on the class asked);
- **fold agreement**: the mean pairwise Spearman correlation of the fold models' pain maps of one image;
- **reference_scale**: the ``REFERENCE_PERCENTILE``-th percentile of the positive values of the model's
  out-of-fold pain maps (raw units), the colour scale the dashboard draws this model's maps on;
- the **verdict** and its reasons (:mod:`painxai.explain.verdict`, where the thresholds are documented).

The file is written atomically after each model, so an interrupted audit resumes: a model already audited
with the same settings and the same finished folds is skipped. The dashboard only reads the file.

Cost: one fold model is cloned per model and loaded with each fold's weights in turn, so every map of a
model comes from one compiled function (a clone per fold would compile ten).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from painxai.errors import PainxaiError
from painxai.explain.sanity import nan_mean, spearman_per_image
from painxai.labels import PAIN

if TYPE_CHECKING:
    from painxai.runs.reader import Run

AUDIT_FILE = "audit.json"
AUDIT_FORMAT = 1
DEFAULT_IMAGES = 20
DEFAULT_STEPS = 10
RANDOM_DRAWS = 20
REFERENCE_PERCENTILE = 99.0


class AuditError(PainxaiError):
    """An audit that cannot run (no test image, unknown model) or an unreadable audit.json."""


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


def audit_path(run_path: str | os.PathLike[str]) -> Path:
    """``<run>/audit.json``."""
    return Path(run_path) / AUDIT_FILE


def read_audit(run_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run's audit document, or None when the run has not been audited."""
    path = audit_path(run_path)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        document["models"]  # the one key every reader needs
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AuditError(f"{path}: unreadable ({error}); run `painxai audit --run {Path(run_path)}` again") from error
    return document


def choose_images(manifest: pd.DataFrame, folds_document: dict, count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` manifest rows spread over the test folds and both classes, with a ``fold`` column (the fold
    whose test set holds the row's subject). Reproducible for a given ``seed``."""
    from painxai.inference.out_of_fold import fold_of_subjects

    if count < 1:
        raise AuditError(f"--images must be at least 1, got {count}")
    fold_of = fold_of_subjects(folds_document)
    rows = manifest.assign(fold=[fold_of.get(str(s), -1) for s in manifest["subject"]])
    rows = rows[rows["fold"] >= 0].sample(frac=1.0, random_state=seed)
    # Deal in turns: in each turn every fold gives one image, neighbouring folds the other class.
    turn = rows.groupby(["fold", "label"]).cumcount()
    alternate = (rows["fold"] + (rows["label"] == PAIN) + turn) % 2
    rows = rows.assign(_turn=turn, _class=alternate)
    rows = rows.sort_values(["_turn", "_class", "fold"], kind="stable").drop(columns=["_turn", "_class"]).head(count)
    return rows.reset_index(drop=True)


@dataclass
class _Photos:
    """The chosen images, loaded once for every model: photos, face boxes, faces, region label maps."""

    rows: pd.DataFrame
    photos: list[np.ndarray]
    boxes: list[Any]
    label_maps: list[np.ndarray | None]
    source: str | None  # "masks", "landmarks" or None (no regions)


def _load_photos(rows: pd.DataFrame) -> _Photos:

    from painxai.data.images import load_image
    from painxai.data.regions import read_label_map
    from painxai.inference.assess import locate_face, photo_regions

    photos, boxes, label_maps, kinds = [], [], [], set()
    for row in rows.itertuples(index=False):
        photo = load_image(row.path)
        box, _search, face = locate_face(photo, row.face_box)
        truth = read_label_map(row.path, photo.shape)
        if truth is not None:
            kinds.add("masks")
        else:
            truth = photo_regions(photo, face)[1]
            kinds.add("landmarks" if truth is not None else "none")
        photos.append(photo)
        boxes.append(box)
        label_maps.append(truth)
    source = "masks" if kinds == {"masks"} else ("landmarks" if "landmarks" in kinds and "masks" not in kinds else None)
    return _Photos(rows, photos, boxes, label_maps, source)


def pointing_score(heatmap: np.ndarray, hits: np.ndarray) -> float:
    """The pointing game of one map (H, W) against a boolean hit area (H, W): 1 if its maximum lies in it,
    the share of tied maxima that do when several pixels tie, 0 for a map without a positive value, NaN
    for a map that is not finite (left out of the means by ``nan_mean``)."""
    top = float(heatmap.max())
    if not np.isfinite(top):
        return float("nan")
    if top <= 0:
        return 0.0
    return float(hits[np.isclose(heatmap, top, rtol=1e-5, atol=0.0)].mean())


def _hit_area(label_crop: np.ndarray) -> np.ndarray:
    """The cue-region pixels of a label map (strict pointing game, no tolerance: with the usual 15 px at
    224 px the centre of a face crop, beside the nasolabial folds, would hit on every image)."""
    from painxai.data.regions import CUE_REGIONS, REGIONS

    return np.isin(label_crop, [REGIONS.index(name) + 1 for name in CUE_REGIONS])


def centre_prior(shape: tuple[int, int]) -> np.ndarray:
    """A centred Gaussian (h, w) float32, sigma a quarter of the longer side (in cells)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    sigma = max(shape) / 4.0
    centre = ((shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0)
    return np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def localisation(
    maps: np.ndarray, low_shape: tuple[int, int], label_crops: Sequence[np.ndarray], seed: int = 0
) -> dict[str, Any]:
    """Pointing game and cue-region share of maps (N, S, S) against label maps (N, S, S), and the same for
    a uniform, a random (``RANDOM_DRAWS`` draws) and a centred map made at ``low_shape`` (the model's map
    resolution) and upsampled to S like the model's maps."""
    from painxai.explain.attribution import cue_share, region_shares
    from painxai.explain.cam import upsample

    rng = np.random.default_rng(seed)
    size = maps.shape[1:]
    centre = upsample(centre_prior(low_shape)[None], size)[0]
    uniform = np.ones(size, dtype=np.float32)
    scores: dict[str, list[float]] = {k: [] for k in ("model", "uniform", "random", "centre")}
    shares: dict[str, list[float]] = {k: [] for k in scores}
    for heatmap, labels in zip(maps, label_crops, strict=True):
        hits = _hit_area(labels)
        randoms = upsample(rng.random((RANDOM_DRAWS, *low_shape), dtype=np.float32), size)
        for name, candidates in (("model", [heatmap]), ("uniform", [uniform]), ("centre", [centre]),
                                 ("random", list(randoms))):
            scores[name].append(float(np.mean([pointing_score(c, hits) for c in candidates])))
            share = np.array([cue_share(region_shares(c, labels)) for c in candidates])  # NaN: empty map
            shares[name].append(float(share[np.isfinite(share)].mean()) if np.isfinite(share).any() else np.nan)
    baselines = ("uniform", "random", "centre")
    return {
        "source": "masks",
        "images": len(maps),
        "pointing_game": nan_mean(scores["model"]),
        "baseline_pointing_game": {k: nan_mean(scores[k]) for k in baselines},
        "cue_share": nan_mean(shares["model"]),
        "baseline_cue_share": {k: nan_mean(shares[k]) for k in baselines},
    }


def fold_agreement(fold_maps: np.ndarray) -> float | None:
    """Mean over images of the mean pairwise Spearman correlation of F fold maps (F, N, H, W)."""
    pairs = [
        spearman_per_image(fold_maps[a], fold_maps[b])
        for a in range(len(fold_maps)) for b in range(a + 1, len(fold_maps))
    ]
    return nan_mean(np.array(pairs)) if pairs else None


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


def audit_model(run: Run, model: str, photos: _Photos, settings: AuditSettings) -> dict[str, Any]:
    """Every figure of one model on the chosen images (see the module doc); JSON-ready."""
    from painxai.explain.attribution import aggregate_shares, region_shares
    from painxai.explain.sanity import cascade_layers, randomisation_test
    from painxai.explain.verdict import verdict
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


def audit_run(
    run_path: str | os.PathLike[str],
    models: Sequence[str] | None = None,
    settings: AuditSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Audit ``models`` (default: every model with a finished fold) of the run and write ``audit.json``
    after each model; models already audited with the same settings and folds are skipped. Returns the
    document."""
    from painxai.runs.reader import Run

    settings = settings or AuditSettings()
    log = log or (lambda _message: None)
    run = Run(run_path)
    available = run.models()
    names = list(available if models is None else models)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise AuditError(f"model(s) {unknown or names} not in run {run.name}; it has {', '.join(available) or 'none'}")
    try:
        document = read_audit(run.path) or {}
    except AuditError:
        document = {}  # an unreadable file is replaced
    document = {"format": AUDIT_FORMAT, **document, "run": run.name}
    document.setdefault("models", {})
    rows = choose_images(run.manifest(), run.folds(), settings.images, settings.seed)
    photos = None
    for name in names:
        previous = document["models"].get(name)
        same = previous and previous.get("settings") == asdict(settings)
        if same and previous.get("folds") == run.finished_folds(name):
            log(f"{name}: already audited with these settings, skipped")
            continue
        if photos is None:
            photos = _load_photos(rows)
        log(f"{name}: auditing {settings.images} out-of-fold test images…")
        document["models"][name] = audit_model(run, name, photos, settings)
        document["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        from painxai import atomic

        atomic.write_json(audit_path(run.path), document)
        entry = document["models"][name]
        log(f"{name}: {entry['verdict']} ({entry['seconds']} s)")
    return document
