"""Tables of the Data, Models and Metrics pages as pandas frames (no plotting here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from painxai.data.folds import fold_of_subjects
from painxai.labels import PAIN


def subject_table(manifest: pd.DataFrame, folds_document: Mapping[str, Any]) -> pd.DataFrame:
    """One row per subject: ``subject``, ``dataset``, ``fold`` (the fold whose test set holds it),
    ``images``, ``pain``, ``nopain``; sorted by fold then subject."""
    fold_of = fold_of_subjects(folds_document)
    grouped = manifest.groupby("subject")
    table = pd.DataFrame(
        {
            "dataset": grouped["dataset"].first(),
            "images": grouped.size(),
            "pain": grouped["label"].apply(lambda s: int((s == PAIN).sum())),
        }
    )
    table["nopain"] = table["images"] - table["pain"]
    table.index = table.index.astype(str)
    table["fold"] = [fold_of.get(s, -1) for s in table.index]
    table = table.reset_index(names="subject")
    return table[["subject", "dataset", "fold", "images", "pain", "nopain"]].sort_values(["fold", "subject"])


def fold_table(manifest: pd.DataFrame, folds_document: Mapping[str, Any]) -> pd.DataFrame:
    """One row per fold with its test set: subjects, images, pain, nopain, and subjects per dataset
    (one column each, ``subjects <dataset>``), recounted from the manifest rather than trusted from the file."""
    subjects = subject_table(manifest, folds_document)
    per_fold = subjects.groupby("fold").agg(
        subjects=("subject", "size"), images=("images", "sum"), pain=("pain", "sum"), nopain=("nopain", "sum")
    )
    by_dataset = subjects.groupby(["fold", "dataset"]).size().unstack(fill_value=0)
    by_dataset.columns = [f"subjects {d}" for d in by_dataset.columns]
    return per_fold.join(by_dataset).reset_index()


def pick_images(
    manifest: pd.DataFrame,
    datasets: Sequence[str] = (),
    labels: Sequence[str] = (),
    subjects: Sequence[str] = (),
    limit: int = 4,
    seed: int = 0,
) -> pd.DataFrame:
    """Rows of ``manifest`` matching the chosen datasets, labels and subjects (an empty choice means all),
    at most ``limit`` of them, spread over subjects (one image per subject in turn) and reproducible for a
    given ``seed``."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    chosen = manifest
    if datasets:
        chosen = chosen[chosen["dataset"].isin(datasets)]
    if labels:
        chosen = chosen[chosen["label"].isin(labels)]
    if subjects:
        chosen = chosen[chosen["subject"].astype(str).isin([str(s) for s in subjects])]
    if chosen.empty:
        return chosen
    shuffled = chosen.sample(frac=1.0, random_state=seed)
    # Rank images within their subject, so that the first rows cover as many subjects as possible.
    turn = shuffled.groupby("subject").cumcount()
    return shuffled.assign(_turn=turn.to_numpy()).sort_values("_turn", kind="stable").drop(columns="_turn").head(limit)


def model_card(spec: Any, run_config: Mapping[str, Any] | None, input_size: int | None) -> dict[str, Any]:
    """The facts shown on a model's card: Table 1 (from ``painxai.models.SPECS[name]``) and, from the run,
    the weights its folds started from and the input size it was trained at.

    ``spec`` is a ``ModelSpec``; ``run_config`` is the run's ``run.json`` (or ``None`` with no run), where
    training records the weights under ``model_settings.<model>.weights``.
    """
    settings = ((run_config or {}).get("model_settings") or {}).get(spec.name) or {}
    weights_used = settings.get("weights")
    if spec.trained_end_to_end:
        finetune_text = "all layers (trained end to end)"
    else:
        finetune_text = f"{len(spec.finetune_layers)}: {', '.join(spec.finetune_layers)}"
    return {
        "model": spec.name,
        "title": spec.title,
        "paper base weights": spec.base_weights or "none (trained from scratch)",
        "weights this run started from": weights_used if weights_used is not None else "not recorded",
        "paper input size": f"{spec.paper_input_size} x {spec.paper_input_size}",
        "input size in this run": f"{input_size} x {input_size}" if input_size else "no finished fold",
        "head (dense units)": " -> ".join(str(u) for u in spec.head) or "none",
        "output": spec.output,
        "parameters (paper size)": f"{spec.total_params:,}",
        "last conv layer (the paper's Grad-CAM layer)": spec.last_conv_layer,
        "layer the maps explain by default": spec.explained_layer,
        "fine-tuned conv layers": finetune_text,
    }


def region_share_frame(shares: Mapping[str, Sequence[Mapping[str, float]]]) -> pd.DataFrame:
    """Long table of region attribution for a chart: one row per model and region with the mean share,
    its standard deviation and the number of images, from per-image share dicts (region -> share)."""
    rows = []
    for model, per_image in shares.items():
        frame = pd.DataFrame(list(per_image)).fillna(0.0)
        for region in frame.columns:
            rows.append(
                {
                    "model": model,
                    "region": region,
                    "share": float(frame[region].mean()),
                    "std": float(frame[region].std(ddof=0)),
                    "images": len(frame),
                }
            )
    return pd.DataFrame(rows, columns=["model", "region", "share", "std", "images"])


def mean_roc(curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int = 101) -> pd.DataFrame:
    """Vertical average of ROC curves (one per fold): ``fpr`` on a regular grid of ``points`` values in
    [0, 1], the mean ``tpr`` and its standard deviation ``tpr_std`` across the curves."""
    if not curves:
        raise ValueError("no ROC curves to average")
    grid = np.linspace(0.0, 1.0, points)
    rows = []
    for fpr, tpr in curves:
        fpr, tpr = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
        order = np.argsort(fpr, kind="stable")
        curve = np.interp(grid, fpr[order], tpr[order])
        curve[0] = 0.0 if fpr.min() > 0 else curve[0]
        rows.append(curve)
    stacked = np.stack(rows)
    return pd.DataFrame({"fpr": grid, "tpr": stacked.mean(axis=0), "tpr_std": stacked.std(axis=0)})


def table2_side_by_side(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our Table 2 beside the paper's: for each model column ``m`` of ``ours`` (rows = metrics, cells such
    as ``"86.2 ± 7"``), the columns ``m (ours)`` and ``m (paper)``; models the paper lacks get ``-``."""
    combined = {}
    for model in ours.columns:
        combined[f"{model} (ours)"] = ours[model]
        combined[f"{model} (paper)"] = paper[model].reindex(ours.index) if model in paper.columns else "-"
    return pd.DataFrame(combined, index=ours.index).fillna("-")


def table2_display(table2: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1", "auc", "epochs")) -> pd.DataFrame:
    """Table 2 laid out as in the paper: one row per metric, one column per model, cells ``mean ± std``.

    ``table2`` is ``painxai.evaluation.report.Report.table2`` (index model; ``<metric>_mean``/``_std`` columns, % for
    accuracy, F1 and AUC). Epochs are shown without decimals, like the paper; a missing std (one fold) is ``?``.
    """
    cells = {}
    for model, row in table2.iterrows():
        cells[model] = [
            _plus_minus(row[f"{metric}_mean"], row[f"{metric}_std"], 0 if metric == "epochs" else 1)
            for metric in metrics
        ]
    return pd.DataFrame(cells, index=list(metrics))


def paper_table2_display(paper: Mapping[str, Mapping[str, tuple[float, float]]]) -> pd.DataFrame:
    """The paper's Table 2 (``painxai.evaluation.report.PAPER_TABLE2``: model -> metric -> (mean, std)) in the layout of
    :func:`table2_display`, std printed as the paper prints it."""
    metrics = list(next(iter(paper.values())))
    return pd.DataFrame(
        {model: [f"{v[m][0]:g} ± {v[m][1]:g}" for m in metrics] for model, v in paper.items()}, index=metrics
    )


def _plus_minus(mean: float, std: float, digits: int) -> str:
    if not np.isfinite(mean):
        return "-"
    spread = f"{std:.{digits}f}" if np.isfinite(std) else "?"
    return f"{mean:.{digits}f} ± {spread}"


def fold_roc_curves(predictions: pd.DataFrame, model: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """ROC points (fpr, tpr) per fold of ``model`` from a run's predictions (columns ``model``, ``fold``,
    ``label``, ``prob_pain``); folds whose test set holds one class only have no curve and are left out."""
    from painxai.evaluation.metrics import roc_points

    curves = {}
    for fold, rows in predictions[predictions["model"] == model].groupby("fold"):
        points = roc_points(rows["label"].to_numpy(), rows["prob_pain"].to_numpy(dtype=float))
        if points is not None:
            curves[int(fold)] = (np.asarray(points["fpr"]), np.asarray(points["tpr"]))
    return curves

