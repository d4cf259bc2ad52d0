"""The grids of maps: Assess's one photo x models, Compare's images x models (like the paper's Figure 1), each
map as a :class:`MapCell` ready to show; and the agreement between models' maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from painxai.faces.crop import Box
from painxai.inference.out_of_fold import DataMatch, choose_folds, fold_subset
from painxai.labels import PAIN, PAIN_THRESHOLD

if TYPE_CHECKING:
    from painxai.inference.assess import ModelAssessment
    from painxai.runs.reader import FoldEnsemble


def map_agreement(maps: Mapping[str, np.ndarray], top_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much the models' explanation maps of one image agree.

    ``maps`` holds one raw map (H, W) per model, all on the same grid (the photo or a common crop).
    Returns two symmetric model x model tables: the Spearman rank correlation of the pixel values, and the
    intersection over union of each map's top ``top_fraction`` pixels (its most important region).
    A constant map (no evidence at all) has no ranking: its correlations are NaN and its top region empty.
    """
    from scipy.stats import spearmanr

    if not 0 < top_fraction < 1:
        raise ValueError(f"top_fraction must be in (0, 1), got {top_fraction}")
    names = list(maps)
    shapes = {np.shape(maps[n]) for n in names}
    if len(shapes) > 1:
        raise ValueError(f"maps must share one shape to be compared, got {sorted(shapes)}")
    flat = {n: np.asarray(maps[n], dtype=np.float64).ravel() for n in names}
    tops = {n: _top_mask(flat[n], top_fraction) for n in names}
    rank = pd.DataFrame(np.nan, index=names, columns=names)
    iou = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i:]:
            constant = np.ptp(flat[a]) == 0 or np.ptp(flat[b]) == 0
            rho = np.nan if constant else float(spearmanr(flat[a], flat[b]).statistic)
            # A map without a top region (constant) has nothing to overlap with: NaN, not 0.
            empty = not tops[a].any() or not tops[b].any()
            union = np.logical_or(tops[a], tops[b]).sum()
            overlap = np.nan if empty else float(np.logical_and(tops[a], tops[b]).sum() / union)
            rank.loc[a, b] = rank.loc[b, a] = rho
            iou.loc[a, b] = iou.loc[b, a] = overlap
    return rank, iou


def _top_mask(values: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the ``fraction`` largest positive values (empty for a constant map)."""
    if np.ptp(values) == 0:
        return np.zeros(values.shape, dtype=bool)
    count = max(1, round(fraction * values.size))
    threshold = np.partition(values, values.size - count)[values.size - count]
    return (values >= threshold) & (values > values.min())


def mean_agreement(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Element-wise mean of several model x model agreement tables (one per image), ignoring NaN."""
    if not tables:
        raise ValueError("no agreement tables to average")
    stacked = np.stack([t.to_numpy(dtype=np.float64) for t in tables])
    counted = np.isfinite(stacked).sum(axis=0)
    total = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    mean = np.divide(total, counted, out=np.full(total.shape, np.nan), where=counted > 0)
    return pd.DataFrame(mean, index=tables[0].index, columns=tables[0].columns)


def map_layers(ensemble: FoldEnsemble) -> list[str]:
    """Layers of a fold ensemble that a CAM can explain at: those after the shared trunk (they differ per
    fold) whose output is a spatial (N, h, w, C) feature map, in network order."""
    model = ensemble.tails[0]
    names = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and layer.__class__.__name__ != "InputLayer":
            names.append(layer.name)
    return names


@dataclass(frozen=True)
class GridResult:
    """The Compare grid for N images and the chosen models.

    ``faces`` (N, D, D, 3) uint8 face crops for display; per model ``maps[m]`` (N, D, D) raw fold-mean maps
    on those crops (every model's crop covers the same window, so they align), ``prob_pain[m]`` (N,)
    fold-mean probabilities, ``targets[m]`` the class each map explains ("pain" | "nopain") per image,
    ``folds[m]`` the folds used per image, ``shares[m]`` one region -> share dict per image that has a
    region label map (images without one are left out of the shares), and ``regions`` per image its region
    label map (D, D) uint8 on the display crop, or None.
    """

    faces: np.ndarray
    maps: dict[str, np.ndarray]
    prob_pain: dict[str, np.ndarray]
    shares: dict[str, list[dict[str, float]]]
    targets: dict[str, list[str]] = field(default_factory=dict)
    folds: dict[str, list[list[int]]] = field(default_factory=dict)
    regions: list[np.ndarray | None] = field(default_factory=list)


def explain_grid(
    images: Sequence[np.ndarray],
    boxes: Sequence[Box | None],
    label_maps: Sequence[np.ndarray | None],
    ensembles: Mapping[str, FoldEnsemble],
    method: str = "gradcam",
    layers: Mapping[str, str | None] | None = None,
    display_size: int = 160,
    folds: Sequence[Mapping[str, Sequence[int]] | None] | None = None,
    targets: Sequence[str] | None = None,
) -> GridResult:
    """Explain several photos with several fold ensembles, one batch per model, folds and class.

    ``images`` (H, W, 3) uint8 each, with their face ``boxes`` (None: centred square) and region
    ``label_maps`` (H, W) uint8 or None; ``layers`` per model (None or missing: its last conv layer).
    ``folds``: per image, model -> the folds to use (e.g. the out-of-fold one,
    :mod:`painxai.inference.out_of_fold`); None: every loaded fold. ``targets``: per image the class to
    explain, "pain" (default), "nopain" or "predicted" (each model's own fold-mean prediction).
    """
    from painxai.explain.attribution import region_shares
    from painxai.explain.display import resize_map
    from painxai.faces.crop import crop_face

    count = len(images)
    if not (count == len(boxes) == len(label_maps)) or not images:
        raise ValueError("give one box and one label map (or None) per image, and at least one image")
    folds = list(folds) if folds is not None else [None] * count
    targets = list(targets) if targets is not None else [PAIN] * count
    if len(folds) != count or len(targets) != count:
        raise ValueError("give one fold choice and one target (or none at all) per image")
    layers = layers or {}
    faces, crop_labels = [], []
    for image, box, labels in zip(images, boxes, label_maps, strict=True):
        face, transform = crop_face(image, box, display_size)
        faces.append(face)
        crop_labels.append(None if labels is None else transform.crop_label_map(labels))
    result = GridResult(faces=np.stack(faces), maps={}, prob_pain={}, shares={}, regions=crop_labels)
    for name, ensemble in ensembles.items():
        margin = ensemble.crop_margin  # the run's recorded margin: the folds saw faces cropped with it
        pairs = zip(images, boxes, strict=True)
        crops = np.stack([crop_face(image, box, ensemble.size, margin)[0] for image, box in pairs])
        chosen = [list(ensemble.folds) if f is None else list(f[name]) for f in folds]
        maps, probs, used = _explain_groups(ensemble, crops, chosen, targets, method, layers.get(name))
        maps = np.stack([resize_map(m, (display_size, display_size)) for m in maps])
        result.maps[name], result.prob_pain[name], result.targets[name] = maps, probs, used
        result.folds[name] = chosen
        result.shares[name] = [
            region_shares(m, labels) for m, labels in zip(maps, crop_labels, strict=True) if labels is not None
        ]
    return result


@dataclass(frozen=True)
class GridPhoto:
    """One Compare image, ready to explain: its ``caption``, the photo (H, W, 3) uint8, its face ``box`` and
    region ``label_map`` (H, W) uint8 or None, per model the ``folds`` that explain it, the ``target`` class
    ("pain", "nopain" or "predicted") and the fold ``note`` (out-of-fold or in-sample)."""

    caption: str
    image: np.ndarray
    box: Box | None
    label_map: np.ndarray | None
    folds: dict[str, list[int]]
    target: str
    note: str


def grid_photo(
    caption: str, image: np.ndarray, box: Box | None, path: str | None, match: DataMatch | None,
    ensembles: Mapping[str, FoldEnsemble], fold_request: str | Sequence[int], target_choice: str,
) -> GridPhoto:
    """A Compare image: its face and regions (:func:`painxai.dashboard.face_box.face_and_regions`; ``path``:
    its file, None for an upload), each model's folds for ``fold_request`` (``match``: its row in the run's
    data; RequestError when the folds are not usable), and the class to explain: ``target_choice``, or for
    "truth" the image's label (an upload outside the run's data: each model's prediction)."""
    from painxai.dashboard.face_box import face_and_regions

    choices = {name: choose_folds(ensemble.folds, match, fold_request) for name, ensemble in ensembles.items()}
    used_box, regions = face_and_regions(image, box, path)
    truth = match.label if match is not None else "predicted"
    target = truth if target_choice == "truth" else target_choice
    note = next(iter(choices.values())).note
    return GridPhoto(caption, image, used_box, regions, {m: c.folds for m, c in choices.items()}, target, note)


def explain_photos(photos: Sequence[GridPhoto], ensembles: Mapping[str, FoldEnsemble], method: str = "gradcam",
                   layers: Mapping[str, str | None] | None = None, display_size: int = 160) -> GridResult:
    """:func:`explain_grid` of Compare images, each with its own folds and target."""
    return explain_grid([p.image for p in photos], [p.box for p in photos], [p.label_map for p in photos],
                        ensembles, method, layers, display_size, [p.folds for p in photos], [p.target for p in photos])


@dataclass(frozen=True)
class MapCell:
    """One map as a page shows it: the ``model``, its ``picture`` (D, D, 3) uint8 (the overlay on the face crop,
    the NFCS regions outlined when asked) and its ``caption``."""

    model: str
    picture: np.ndarray
    caption: str


@dataclass(frozen=True)
class CompareRow:
    """One Compare image as shown: the ``face`` crop (D, D, 3) (regions outlined when asked), one cell per model,
    and ``no_regions``: outlines were asked for but the image has no regions."""

    face: np.ndarray
    cells: list[MapCell]
    no_regions: bool


def compare_row(result: GridResult, index: int, vmaxes: Mapping[str, Mapping[str, float | None]], cmap: str,
                outlines: bool, class_names: Mapping[str, str]) -> CompareRow:
    """Image ``index`` of a Compare grid: per model its map over the face, on the colour scale of the class it
    explains (``vmaxes``: class -> model -> vmax, None: the map's own maximum), captioned with the model's
    P(pain), the explained class (``class_names``) and the scale."""
    from painxai.explain.display import outline_regions, overlay, scale_label

    regions = result.regions[index] if outlines else None
    face = result.faces[index]
    cells = []
    for model, maps in result.maps.items():
        target = result.targets[model][index]
        vmax = vmaxes[target][model]
        picture = overlay(face, maps[index], vmax, cmap)
        if regions is not None:
            picture = outline_regions(picture, regions)
        cells.append(MapCell(model, picture, f"{model} · P(pain) {result.prob_pain[model][index]:.0%} · explains "
                                             f"{class_names[target]} · scale {scale_label(vmax, maps[index])}"))
    shown_face = face if regions is None else outline_regions(face, regions)
    return CompareRow(shown_face, cells, no_regions=outlines and regions is None)


@dataclass(frozen=True)
class AssessMaps:
    """Assess's maps of one photo on the display crop of its face box: ``face`` (D, D, 3) uint8, per model the
    raw fold-mean map (D, D), its ``vmaxes`` (None: its own maximum) and ``overlays`` (D, D, 3) (as the report
    shows them), the ``scale_note``, the ``regions`` label map on the crop (None: none), and the ``cells``
    as the page shows them."""

    face: np.ndarray
    maps: dict[str, np.ndarray]
    vmaxes: dict[str, float | None]
    scale_note: str
    overlays: dict[str, np.ndarray]
    regions: np.ndarray | None
    cells: list[MapCell]


def assess_maps(image: np.ndarray, box: Box | None, label_map: np.ndarray | None,
                verdicts: Sequence[ModelAssessment], scale: str, reference: Mapping[str, float | None], cmap: str,
                outlines: bool, display_size: int) -> AssessMaps:
    """The maps of ``verdicts`` (one photo, RGB uint8 (H, W, 3), face ``box``, regions ``label_map`` (H, W) or
    None) on one ``display_size`` crop: every model's crop covers the same window of the photo, so each map
    fits it as it is. ``scale``: a key of :data:`painxai.explain.display.SCALES`; ``reference``: model -> the
    audit's reference scale."""
    from painxai.explain.display import model_scales, outline_regions, overlay, resize_map, scale_label
    from painxai.faces.crop import crop_face

    face, transform = crop_face(image, box, display_size)
    maps = {v.name: resize_map(v.mean_map, (display_size, display_size)) for v in verdicts}
    vmaxes, scale_note = model_scales(maps, scale, reference)
    overlays = {m: overlay(face, heatmap, vmaxes[m], cmap) for m, heatmap in maps.items()}
    regions = None if label_map is None else transform.crop_label_map(label_map)
    cells = [
        MapCell(m, outline_regions(picture, regions) if outlines and regions is not None else picture,
                f"{m} · scale {scale_label(vmaxes[m], maps[m])}")
        for m, picture in overlays.items()
    ]
    return AssessMaps(face, maps, vmaxes, scale_note, overlays, regions, cells)


def _explain_groups(
    ensemble: FoldEnsemble, crops: np.ndarray, folds: Sequence[list[int]], targets: Sequence[str], method: str,
    layer: str | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fold-mean maps (N, S, S), fold-mean pain probabilities (N,) and the explained classes of crops
    (N, S, S, 3), each image with its own folds and target; images sharing both go in one batch."""
    from painxai.explain.ensemble import ensemble_explain

    maps = np.empty(crops.shape[:3], dtype=np.float32)
    probs = np.empty(len(crops), dtype=np.float32)
    used = [PAIN] * len(crops)
    groups: dict[tuple[tuple[int, ...], str], list[int]] = {}
    for index, (chosen, target) in enumerate(zip(folds, targets, strict=True)):
        groups.setdefault((tuple(chosen), "pain" if target == "predicted" else target), []).append(index)
    for (fold_ids, target), members in groups.items():
        subset = fold_subset(ensemble, list(fold_ids))
        explanation = ensemble_explain(subset, crops[members], method=method, target=target, layer=layer)
        maps[members], probs[members] = explanation.mean(), explanation.prob_pain.mean(axis=0)
        for index in members:
            used[index] = target
        # "predicted": the images the model calls no pain are explained again for that class.
        against = [i for i in members if targets[i] == "predicted" and probs[i] < PAIN_THRESHOLD]
        if against:
            again = ensemble_explain(subset, crops[against], method=method, target="nopain", layer=layer)
            maps[against] = again.mean()
            for index in against:
                used[index] = "nopain"
    return maps, probs, used


def grid_agreement(result: GridResult, top_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model x model agreement of a grid's maps, averaged over its images (see :func:`map_agreement`)."""
    ranks, overlaps = [], []
    for index in range(len(result.faces)):
        rank, iou = map_agreement({m: maps[index] for m, maps in result.maps.items()}, top_fraction)
        ranks.append(rank)
        overlaps.append(iou)
    return mean_agreement(ranks), mean_agreement(overlaps)

