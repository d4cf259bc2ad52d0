"""One photo end to end: face -> crop per input size -> fold-ensemble probabilities -> maps -> region shares.

Each step is its own small function so the dashboard can call them separately (e.g. re-crop with a
box the user adjusted, without detecting again); :func:`assess_photo` chains them. What to run is one
:class:`AssessRequest` (models, folds, what the maps explain, the face box), used alike by the dashboard, the
CLI and the monitor.

Maps are raw (see :mod:`painxai.explain.cam`): the fold mean and the pixel-wise std over folds,
on the crop and mapped back onto the photo through the crop transform.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from painxai.errors import RequestError
from painxai.explain.attribution import region_shares
from painxai.explain.methods import DEFAULT_METHOD
from painxai.faces.crop import Box, CropTransform, crop_face
from painxai.inference.out_of_fold import OUT_OF_FOLD, DataMatch, FoldChoice, choose_folds, fold_subset
from painxai.labels import PAIN, PAIN_THRESHOLD

if TYPE_CHECKING:
    from painxai.faces.detection import FaceSearch
    from painxai.faces.landmarks import Landmarks
    from painxai.inference.gate import Screening
    from painxai.runs.reader import FoldEnsemble, Run


@dataclass(frozen=True)
class ExplanationRequest:
    """What each map explains: ``method`` (a name of :data:`painxai.explain.methods.METHODS`), the ``target``
    class ("pain" | "nopain") and the ``layer`` (None: each model's explained layer; input methods ignore it)."""

    method: str = DEFAULT_METHOD
    target: str = PAIN
    layer: str | None = None


@dataclass(frozen=True)
class AssessRequest:
    """What to run on one photo.

    models: "all", "a,b" or the run's model names. folds: "out-of-fold" (a photo of the run's data: the fold
    that never saw its subject; any other photo: every finished fold), "all", or fold numbers
    (:func:`painxai.inference.out_of_fold.choose_folds`). explanation: what the maps explain. box: the face box
    (x0, y0, x1, y1) in photo pixels, drawn by hand; None = detect it. Lists are kept as tuples, so a request
    can key a cache.
    """

    models: str | Sequence[str] = "all"
    folds: str | Sequence[int] = OUT_OF_FOLD
    explanation: ExplanationRequest = field(default_factory=ExplanationRequest)
    box: Box | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.models, str):
            object.__setattr__(self, "models", tuple(self.models))
        if not isinstance(self.folds, str):
            object.__setattr__(self, "folds", tuple(int(fold) for fold in self.folds))
        if self.box is not None:
            object.__setattr__(self, "box", tuple(float(v) for v in self.box))


@dataclass
class ModelAssessment:
    """One model's verdict and maps on one photo.

    crop: (S, S, 3) uint8 and its ``transform``. fold_probs: (F,) pain probability per fold of
    ``folds``. mean_map, std_map: (S, S) float32 raw, fold mean and pixel-wise std. photo_map,
    photo_std_map: the same on the photo (H, W), 0 outside the crop window. shares: region -> share
    of the mean map's positive mass on the photo, or None without a region label map.
    """

    name: str
    method: str
    target: str
    folds: list[int]
    fold_probs: np.ndarray
    crop: np.ndarray
    transform: CropTransform
    mean_map: np.ndarray
    std_map: np.ndarray
    photo_map: np.ndarray
    photo_std_map: np.ndarray
    shares: dict[str, float] | None = None
    fold_choice: FoldChoice | None = None  # why these folds (out-of-fold or in-sample), when one was made

    @property
    def prob_mean(self) -> float:
        """Mean pain probability over folds."""
        return float(self.fold_probs.mean())

    @property
    def prob_std(self) -> float:
        """Standard deviation (ddof 0) of the pain probability over folds."""
        return float(self.fold_probs.std())

    @property
    def n_pain(self) -> int:
        """How many folds say pain (probability >= PAIN_THRESHOLD)."""
        return int((self.fold_probs >= PAIN_THRESHOLD).sum())

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers: folds, per-fold probabilities, mean, std, folds saying pain, shares."""
        return {
            "method": self.method,
            "target": self.target,
            "input_size": int(self.crop.shape[0]),
            "folds": list(self.folds),
            "prob_pain": [float(p) for p in self.fold_probs],
            "prob_pain_mean": self.prob_mean,
            "prob_pain_std": self.prob_std,
            "folds_saying_pain": self.n_pain,
            "map_max": float(self.mean_map.max()),
            "region_shares": self.shares,
            "out_of_fold": None if self.fold_choice is None else self.fold_choice.out_of_fold,
            "fold_note": None if self.fold_choice is None else self.fold_choice.note,
        }


@dataclass
class Assessment:
    """Everything about one photo. ``box`` is the face box used (None: a centred square crop);
    ``face_search`` is None when the caller gave the box; ``label_map`` (H, W) uint8 regions or None, and
    ``regions_source``: where they came from ("masks", "landmarks" or None)."""

    image: np.ndarray
    box: Box | None
    face_search: FaceSearch | None
    landmarks: Landmarks | None
    label_map: np.ndarray | None
    regions_source: str | None = None
    models: dict[str, ModelAssessment] = field(default_factory=dict)

    @property
    def consensus(self) -> str:
        """One line a clinician can read: how many models and folds say pain."""
        return consensus_line(self.models)


@contextlib.contextmanager
def op_by_op() -> Iterator[None]:
    """Run TensorFlow's compiled functions op by op inside the block (the same results), for a process that
    assesses one photo: tracing and optimising each model's compiled function costs more than it saves on
    one call (the measured times are in bench/README.md, ``painxai explain``).
    """
    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(before)


def model_names(run: Run, models: str | Sequence[str] = "all") -> list[str]:
    """The model names ``models`` ("all", "a,b" or a list) asks for, checked against ``run`` (RequestError)."""
    available = run.models()
    if isinstance(models, str):
        names = available if models == "all" else [name.strip() for name in models.split(",") if name.strip()]
    else:
        names = list(models)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise RequestError(f"model(s) {unknown or names} not in run {run.name}; "
                           f"it has {', '.join(available) or 'none'}")
    return names


def load_ensembles(
    run: Run, models: str | Sequence[str] = "all", background: bool = False
) -> Mapping[str, FoldEnsemble]:
    """The fold ensembles (every finished fold) of ``models`` ("all", "a,b" or a list).

    ``background``: return at once and load them one after another in a background thread, in order
    (:class:`EnsemblesLoading`); reading one waits for it.
    """
    names = model_names(run, models)
    if background:
        return EnsemblesLoading(run, names)
    return {name: run.ensemble(name) for name in names}


class EnsemblesLoading(Mapping):
    """Fold ensembles loaded one after another by a background thread; ``loading[name]`` waits for that one
    (and raises what loading it raised). Iterating yields the names in loading order.

    Why: building a model is Python (it holds the interpreter), explaining one is mostly TensorFlow kernels
    (they release it), so a one-photo process explains each model while the next one is built. The thread is
    a daemon: a process that stops early does not wait for models it no longer needs.
    """

    def __init__(self, run: Run, names: Sequence[str]) -> None:
        import threading
        from concurrent.futures import Future

        self._futures: dict[str, Future] = {name: Future() for name in names}

        def load_in_order() -> None:
            for name, future in self._futures.items():
                try:
                    future.set_result(run.ensemble(name))
                except BaseException as error:  # handed to the reader, raised there
                    future.set_exception(error)

        threading.Thread(target=load_in_order, name="painxai-load-ensembles", daemon=True).start()

    def __getitem__(self, name: str) -> FoldEnsemble:
        return self._futures[name].result()

    def __iter__(self) -> Iterator[str]:
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)


def assess_model(
    image: np.ndarray,
    box: Box | None,
    ensemble: FoldEnsemble,
    explanation: ExplanationRequest | None = None,
    label_map: np.ndarray | None = None,
) -> ModelAssessment:
    """One model on one photo: crop at its input size, every fold's probability and map, region shares.

    image: RGB uint8 (H, W, 3). explanation: what the maps explain (default: Grad-CAM of pain at each model's
    explained layer). label_map: (H, W) uint8 regions on the photo, or None.
    """
    from painxai.explain.ensemble import ensemble_explain

    asked = explanation or ExplanationRequest()
    crop, transform = crop_face(image, box, ensemble.size, ensemble.crop_margin)
    explained = ensemble_explain(ensemble, crop[None], method=asked.method, target=asked.target, layer=asked.layer)
    mean_map, std_map = explained.mean()[0], explained.std()[0]
    photo_map = transform.map_to_original(mean_map, image.shape)
    return ModelAssessment(
        name=ensemble.name,
        method=asked.method,
        target=asked.target,
        folds=explained.folds,
        fold_probs=explained.prob_pain[:, 0],
        crop=crop,
        transform=transform,
        mean_map=mean_map,
        std_map=std_map,
        photo_map=photo_map,
        photo_std_map=transform.map_to_original(std_map, image.shape),
        shares=None if label_map is None else region_shares(photo_map, label_map),
    )


def consensus_line(models: Mapping[str, ModelAssessment]) -> str:
    """E.g. "4 of 5 models say pain (mean p = 0.71); 38 of 50 fold models agree"."""
    if not models:
        return "no model was run"
    saying_pain = sum(m.prob_mean >= PAIN_THRESHOLD for m in models.values())
    folds_pain = sum(m.n_pain for m in models.values())
    folds_total = sum(len(m.folds) for m in models.values())
    mean = float(np.mean([m.prob_mean for m in models.values()]))
    return (
        f"{saying_pain} of {len(models)} model(s) say pain (mean p = {mean:.2f}); "
        f"{folds_pain} of {folds_total} fold model(s) say pain"
    )


def assess_photo(
    image: np.ndarray,
    run: Run,
    request: AssessRequest | None = None,
    ensembles: Mapping[str, FoldEnsemble] | None = None,
    screening: Screening | None = None,
    source: str | os.PathLike[str] | None = None,
) -> Assessment:
    """Assess one RGB uint8 photo (H, W, 3) as ``request`` asks (default: every model, out-of-fold, Grad-CAM of
    pain, the face detected): :func:`begin_assessment`, then :func:`add_model` for each model.

    ensembles: fold ensembles already loaded (the dashboard's shared store), taken instead of loading the
    request's models from ``run``. screening: the input gate's verdict when the caller has it. source: the
    photo's file, when it has one: its region masks are used, and it is looked up in the run's data
    (:func:`painxai.inference.out_of_fold.find_in_run`: the out-of-fold fold).
    """
    from painxai.inference.out_of_fold import find_in_run

    request = request or AssessRequest()
    names = model_names(run, request.models)
    loaded = ensembles if ensembles is not None else load_ensembles(run, names)
    assessment = begin_assessment(image, request.box, screening, source)
    match = None if source is None else find_in_run(run, path=source)
    for name in names:
        add_model(assessment, loaded[name], request, match)
    return assessment


def begin_assessment(
    image: np.ndarray,
    box: Box | None = None,
    screening: Screening | None = None,
    masks_of: str | os.PathLike[str] | None = None,
) -> Assessment:
    """The assessment of one RGB uint8 photo (H, W, 3) before any model: its face box and region label map.

    box: the face box (x0, y0, x1, y1) in photo pixels, drawn by hand; None = detect it. Either way
    the photo passes the input gate first (:mod:`painxai.inference.gate`; ``screening``: its verdict
    when the caller already has it): a photo without a usable face raises PhotoRefusedError and
    nothing is scored. Regions (:func:`painxai.faces.landmarks.region_map`): the region masks stored beside
    the image file ``masks_of`` (e.g. the twin's ground truth; a damaged one raises RegionMaskError), else
    those the gate's FaceMesh landmarks draw when they are trustworthy.
    """
    from painxai.faces.landmarks import region_map
    from painxai.inference.gate import screen_photo

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 photo (H, W, 3); got {image.dtype} {image.shape}")
    screening = (screening or screen_photo(image, box)).require()
    regions = region_map(image, masks_of, landmarks=screening.landmarks)
    return Assessment(
        image=image, box=screening.box, face_search=screening.search, landmarks=screening.landmarks,
        label_map=regions.label_map, regions_source=regions.source,
    )


def add_model(
    assessment: Assessment,
    ensemble: FoldEnsemble,
    request: AssessRequest | None = None,
    match: DataMatch | None = None,
) -> ModelAssessment:
    """Assess the photo of ``assessment`` with one fold ensemble, restricted to the folds ``request`` asks for
    (``match``: the photo's row in the run's data, or None), its maps explaining what ``request`` asks for
    (default :class:`AssessRequest`), and store the result under the model's name; returns it. Raises
    RequestError when the requested folds are not usable."""
    request = request or AssessRequest()
    choice = choose_folds(ensemble.folds, match, request.folds)
    chosen = fold_subset(ensemble, choice.folds)
    result = assess_model(assessment.image, assessment.box, chosen, request.explanation, assessment.label_map)
    result.fold_choice = choice
    assessment.models[ensemble.name] = result
    return result


def faithfulness_scores(ensemble: FoldEnsemble, model: ModelAssessment, steps: int = 20) -> dict[str, float]:
    """Deletion / insertion AUCs of a model's fold-mean map on its crop, and of a random map
    (:func:`painxai.explain.faithfulness.faithfulness_aucs`).

    The probability followed is the fold-mean probability of the explained class over the folds that made
    the map (``ensemble`` is restricted to them). Costs 4 (steps + 1) images through every one of those folds.
    """
    from painxai.explain.ensemble import fused_ensemble
    from painxai.explain.faithfulness import faithfulness_aucs

    ensemble = fold_subset(ensemble, model.folds)
    fused = fused_ensemble(ensemble)  # all folds in one compiled call, traced once with the maps

    def prob_pain(images: np.ndarray) -> np.ndarray:
        return fused.predict(ensemble.preprocess(images)).mean(axis=0)

    scores = faithfulness_aucs(model.crop[None], model.mean_map[None], prob_pain, model.target, steps)
    return {"steps": steps, **{name: float(values[0]) for name, values in scores.as_dict().items()}}
