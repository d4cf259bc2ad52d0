"""Metrics of one cross-validation fold: discrimination, calibration and the confusion counts.

``fold_metrics`` is what the training code writes into each fold's ``metrics.json`` and what
``painxai report`` recomputes from ``predictions.csv``. Pain is the positive class throughout, except in
the two metrics under the paper's definitions (``f1_nopain``, ``auc_hard``; docs/PROTOCOL.md#metrics):
the paper's Table 2 reads as F1 with no pain as the positive class and an AUC computed from the 0/1
predictions, which equals the balanced accuracy.
Every metric comes from scikit-learn; the only arithmetic done here is the expected calibration
error, which scikit-learn does not offer, computed on the same bins as
``sklearn.calibration.calibration_curve``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from painxai.errors import PainxaiError
from painxai.labels import CLASSES, NOPAIN, PAIN, PAIN_THRESHOLD, POSITIVE

ECE_BINS = 10


class MetricsError(PainxaiError):
    """Labels or probabilities that cannot be scored."""


def binary_labels(labels: ArrayLike) -> np.ndarray:
    """Turn labels into ``(N,)`` int 0/1 with pain = 1.

    Accepts the strings ``"pain"``/``"nopain"`` or the numbers 0/1 (booleans too). Anything else
    raises :class:`MetricsError` naming the unexpected values.
    """
    values = np.asarray(labels)
    if values.ndim != 1:
        raise MetricsError(f"labels must be one-dimensional, got shape {values.shape}")
    if values.dtype.kind in "USO":
        strings = values.astype(str)
        unknown = sorted(set(strings.tolist()) - set(CLASSES))
        if unknown:
            raise MetricsError(f"labels must be {PAIN!r} or {NOPAIN!r}, found {unknown[:5]}")
        return (strings == POSITIVE).astype(int)
    if values.dtype.kind not in "biuf":
        raise MetricsError(f"labels must be strings or 0/1 numbers, got dtype {values.dtype}")
    unknown = sorted(set(np.unique(values).tolist()) - {0, 1})
    if unknown:
        raise MetricsError(f"numeric labels must be 0 (no pain) or 1 (pain), found {unknown[:5]}")
    return values.astype(int)


def _checked(labels: ArrayLike, prob_pain: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate a fold's labels and probabilities together; return them as (int 0/1, float) arrays."""
    y = binary_labels(labels)
    p = np.asarray(prob_pain, dtype=float)
    if p.shape != y.shape:
        raise MetricsError(f"prob_pain has shape {p.shape} but labels have shape {y.shape}")
    if y.size == 0:
        raise MetricsError("no predictions to score")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise MetricsError("prob_pain must be finite probabilities in [0, 1]")
    return y, p


def one_class_reason(labels: ArrayLike) -> str | None:
    """Why threshold-free metrics (AUC, ROC) are undefined for these labels, or None when both classes occur."""
    y = binary_labels(labels)
    present = set(np.unique(y).tolist())
    if present == {0, 1}:
        return None
    only = PAIN if present == {1} else NOPAIN
    return f"only '{only}' images in this fold: AUC and the ROC curve need both classes"


def roc_points(labels: ArrayLike, prob_pain: ArrayLike) -> dict[str, list[float | None]] | None:
    """The ROC curve, pain positive: ``{"fpr": [...], "tpr": [...], "thresholds": [...]}`` (equal lengths).

    ``thresholds[i]`` is the lowest ``prob_pain`` called pain at point ``i``; the first point
    (nothing called pain) has threshold ``None`` where scikit-learn says infinity, so the dict
    stays valid JSON. Returns None when only one class is present (see ``one_class_reason``).
    """
    from sklearn.metrics import roc_curve

    y, p = _checked(labels, prob_pain)
    if one_class_reason(y) is not None:
        return None
    fpr, tpr, thresholds = roc_curve(y, p, pos_label=1)
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [float(t) if math.isfinite(t) else None for t in thresholds],
    }


def _bin_ids(prob_pain: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each probability on ``n_bins`` equal-width bins over [0, 1].

    Same rule as ``sklearn.calibration.calibration_curve(strategy="uniform")``: the first bin is
    [0, 1/n], the others (i/n, (i+1)/n], so curve and ECE agree with scikit-learn's curve.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], prob_pain)


def calibration_curve(labels: ArrayLike, prob_pain: ArrayLike, n_bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Reliability diagram data on ``n_bins`` equal-width bins of ``prob_pain``; empty bins are left out.

    Returns ``{"bin_lower", "bin_upper", "count", "mean_prob", "fraction_pain"}``, lists of equal
    length: per non-empty bin its edges, its number of images, the mean predicted pain probability
    and the observed fraction of pain images. ``mean_prob`` and ``fraction_pain`` equal
    ``sklearn.calibration.calibration_curve``'s ``prob_pred`` and ``prob_true``.
    """
    if n_bins < 1:
        raise MetricsError(f"n_bins must be at least 1, got {n_bins}")
    y, p = _checked(labels, prob_pain)
    ids = _bin_ids(p, n_bins)
    count = np.bincount(ids, minlength=n_bins)
    sum_prob = np.bincount(ids, weights=p, minlength=n_bins)
    sum_pain = np.bincount(ids, weights=y, minlength=n_bins)
    used = count > 0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "bin_lower": edges[:-1][used].tolist(),
        "bin_upper": edges[1:][used].tolist(),
        "count": count[used].astype(int).tolist(),
        "mean_prob": (sum_prob[used] / count[used]).tolist(),
        "fraction_pain": (sum_pain[used] / count[used]).tolist(),
    }


def expected_calibration_error(labels: ArrayLike, prob_pain: ArrayLike, n_bins: int = ECE_BINS) -> float:
    """ECE of the pain probability on ``n_bins`` equal-width bins (default 10).

    ECE = sum over bins b of (n_b / N) * |fraction of pain in b - mean prob_pain in b|, with the
    bins of ``calibration_curve``. It is computed on ``prob_pain`` itself (a reliability
    measure of the pain score), not on the winning class's confidence. 0 = perfectly calibrated.
    """
    curve = calibration_curve(labels, prob_pain, n_bins)
    count = np.asarray(curve["count"], dtype=float)
    gap = np.abs(np.asarray(curve["fraction_pain"]) - np.asarray(curve["mean_prob"]))
    return float(np.sum(count * gap) / np.sum(count))


def confusion(labels: ArrayLike, prob_pain: ArrayLike, threshold: float = PAIN_THRESHOLD) -> dict[str, int]:
    """Confusion counts ``{"tp", "fp", "tn", "fn"}`` (pain positive) when prob_pain >= threshold is called pain."""
    from sklearn.metrics import confusion_matrix

    y, p = _checked(labels, prob_pain)
    predicted = (p >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}


def fold_metrics(
    labels: ArrayLike, prob_pain: ArrayLike, epochs: int, threshold: float = PAIN_THRESHOLD, **extra: Any
) -> dict[str, Any]:
    """All metrics of one fold, ready for ``metrics.json``.

    ``labels`` (N,) are "pain"/"nopain" or 1/0; ``prob_pain`` (N,) in [0, 1]; an image is called
    pain when ``prob_pain >= threshold``. ``epochs`` is every epoch run (all phases). Returns
    ``accuracy``, ``f1``, ``precision``, ``recall`` (sensitivity), ``specificity`` (fractions in
    [0, 1], pain positive), ``auc`` (from prob_pain), the paper's definitions ``f1_nopain`` (F1 with no
    pain as the positive class) and ``auc_hard`` (ROC AUC of the 0/1 predictions, which is the balanced
    accuracy (recall + specificity) / 2), ``brier`` (mean squared error of prob_pain), ``ece`` (see
    ``expected_calibration_error``), ``n``, ``epochs``, ``threshold``, ``confusion``,
    ``roc_points``, ``calibration_curve`` and the ``extra`` keys unchanged. A metric that is
    undefined on this fold (AUC with one class; precision when nothing is called pain) is NaN and
    ``notes`` says why.
    """
    from sklearn.metrics import accuracy_score, brier_score_loss, precision_recall_fscore_support, roc_auc_score

    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
        raise MetricsError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not 0.0 <= threshold <= 1.0:
        raise MetricsError(f"threshold must lie in [0, 1], got {threshold}")
    clash = sorted(set(extra) & _METRIC_KEYS)
    if clash:
        raise MetricsError(f"extra keys would overwrite computed metrics: {clash}")
    y, p = _checked(labels, prob_pain)
    predicted = (p >= threshold).astype(int)
    notes: list[str] = []
    reason = one_class_reason(y)
    if reason is None:
        auc = float(roc_auc_score(y, p))
        # The paper's AUC (docs/PROTOCOL.md#metrics): the ROC of hard predictions has one corner, so its area
        # is (recall + specificity) / 2.
        auc_hard = float(roc_auc_score(y, predicted))
    else:
        auc = auc_hard = math.nan
        notes.append(reason)
    if predicted.sum() == 0:
        notes.append("no image was called pain: precision is undefined")
    # One call for both classes: the recall of "no pain" is the specificity.
    precision, recall, f1, _support = precision_recall_fscore_support(
        y, predicted, labels=[1, 0], average=None, zero_division=np.nan
    )
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1[0]),
        "auc": auc,
        "f1_nopain": float(f1[1]),
        "auc_hard": auc_hard,
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "specificity": float(recall[1]),
        "brier": float(brier_score_loss(y, p, pos_label=1)),
        "ece": expected_calibration_error(y, p),
        "n": int(y.size),
        "epochs": int(epochs),
        "threshold": float(threshold),
        "confusion": confusion(y, p, threshold),
        "roc_points": roc_points(y, p),
        "calibration_curve": calibration_curve(y, p),
        "notes": notes,
    }
    metrics.update(extra)
    return metrics


_METRIC_KEYS = frozenset(
    {
        "accuracy",
        "f1",
        "auc",
        "f1_nopain",
        "auc_hard",
        "precision",
        "recall",
        "specificity",
        "brier",
        "ece",
        "n",
        "epochs",
        "threshold",
        "confusion",
        "roc_points",
        "calibration_curve",
        "notes",
    }
)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (also inside dicts, lists, numpy) replaced by None.

    ``json.dumps`` writes NaN as a bare ``NaN`` token that strict JSON readers (browsers, jq)
    reject; null is what they expect for "undefined".
    """
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
