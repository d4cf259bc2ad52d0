"""The dashboard's logic that is not already a library call, kept free of Streamlit so it can be tested.

The Streamlit scripts (``app.py``, ``pages/*``) only lay out widgets and call into ``painxai``; whatever they
would otherwise compute themselves lives here: which run to open, the fallback face box, the tables of the
Data and Models pages, picking images for the Compare grid, agreement between models' maps, the mean ROC
curve, and the plotly figures. plotly is imported inside the figure functions so that importing this
module stays cheap (the first page must appear within 3 s).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # plotly is imported lazily at run time
    import plotly.graph_objects as go

Box = tuple[float, float, float, float]

NO_RUN_HELP = (
    "No trained run was found. Make one with `make run` (it generates the synthetic twin and trains the "
    "demo profile, about 10 minutes on 2 cores) or `painxai demo --data data/twin --out artifacts/demo`, "
    "then reload this page. Runs live in `artifacts/<run>/` (or in the folder named by `PAINXAI_ARTIFACTS`)."
)


def parse_run_argument(argv: Sequence[str]) -> Path | None:
    """The run folder asked for on the command line (``streamlit run app.py -- --run artifacts/demo``).

    ``argv`` is the script's argument list without the program name. Arguments the dashboard does not know
    are ignored (Streamlit's test harness passes its own). Falls back to the ``PAINXAI_RUN`` environment
    variable; returns ``None`` when neither names a run.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run", type=Path, default=None)
    known, _unknown = parser.parse_known_args(list(argv))
    if known.run is not None:
        return known.run
    from_env = os.environ.get("PAINXAI_RUN")
    return Path(from_env) if from_env else None


def initial_run_index(requested: Path | None, available: Sequence[Path]) -> int | None:
    """Which of the ``available`` run folders to open first: the requested one when it is listed, else the
    most recently modified one; ``None`` when there is no run at all."""
    if not available:
        return None
    if requested is not None:
        wanted = Path(requested).resolve()
        for index, path in enumerate(available):
            if Path(path).resolve() == wanted:
                return index
    newest = max(range(len(available)), key=lambda i: Path(available[i]).stat().st_mtime)
    return newest


def run_signature(run_dir: str | os.PathLike[str]) -> tuple[str, ...]:
    """What changes when a run gains a finished fold: the sorted ``<model>/fold_<k>`` folders holding a
    ``DONE`` marker. The dashboard keys its caches on it, so a run still training shows new folds as they
    finish, without re-reading anything for an unchanged run."""
    root = Path(run_dir)
    return tuple(sorted(str(done.parent.relative_to(root)) for done in root.glob("*/fold_*/DONE")))


def centred_square_box(shape: Sequence[int], fraction: float = 0.9) -> Box:
    """A centred square box covering ``fraction`` of the photo's shorter side, for photos where no face was
    found; the user then moves and resizes it. ``shape`` is the photo's (H, W[, C]); the box is
    ``(x0, y0, x1, y1)`` in pixels."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"a photo needs a positive size, got {height}x{width}")
    side = fraction * min(height, width)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return (x0, y0, x0 + side, y0 + side)


def box_from_centre(centre_x: float, centre_y: float, side: float, shape: Sequence[int]) -> Box:
    """A square box of ``side`` pixels centred on (``centre_x``, ``centre_y``), moved (not shrunk) to stay
    inside a photo of ``shape`` (H, W[, C]) when possible; the form in which the Assess page lets users adjust
    the face box."""
    height, width = int(shape[0]), int(shape[1])
    side = float(min(max(side, 8.0), min(height, width)))
    x0 = float(np.clip(centre_x - side / 2, 0, width - side))
    y0 = float(np.clip(centre_y - side / 2, 0, height - side))
    return (x0, y0, x0 + side, y0 + side)


def box_centre_and_side(box: Box) -> tuple[float, float, float]:
    """Centre x, centre y and side (the longer side of the box) in pixels; the inverse of
    :func:`box_from_centre` for square boxes."""
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)


def draw_box(image: np.ndarray, box: Box, colour: tuple[int, int, int] = (0, 200, 255)) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) uint8 with ``box`` (pixels) outlined; the line is about 0.5 % of the
    photo's longer side thick so it shows on phone snapshots and multi-megapixel photos alike."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    out = image.copy()
    height, width = image.shape[:2]
    thickness = max(2, round(0.005 * max(height, width)))
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = int(np.clip(x0, 0, width - 1)), int(np.clip(x1, 0, width - 1))
    y0, y1 = int(np.clip(y0, 0, height - 1)), int(np.clip(y1, 0, height - 1))
    out[y0 : min(y0 + thickness, height), x0 : x1 + 1] = colour
    out[max(y1 - thickness + 1, 0) : y1 + 1, x0 : x1 + 1] = colour
    out[y0 : y1 + 1, x0 : min(x0 + thickness, width)] = colour
    out[y0 : y1 + 1, max(x1 - thickness + 1, 0) : x1 + 1] = colour
    return out


# --- Data page -------------------------------------------------------------------------------------------


def subject_table(manifest: pd.DataFrame, folds_document: Mapping[str, Any]) -> pd.DataFrame:
    """One row per subject: ``subject``, ``dataset``, ``fold`` (the fold whose test set holds it),
    ``images``, ``pain``, ``nopain``; sorted by fold then subject."""
    fold_of = {str(s): int(f["fold"]) for f in folds_document["folds"] for s in f["test_subjects"]}
    grouped = manifest.groupby("subject")
    table = pd.DataFrame(
        {
            "dataset": grouped["dataset"].first(),
            "images": grouped.size(),
            "pain": grouped["label"].apply(lambda s: int((s == "pain").sum())),
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


# --- Models page -----------------------------------------------------------------------------------------


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
        "last conv layer (Grad-CAM)": spec.last_conv_layer,
        "fine-tuned conv layers": finetune_text,
    }


# --- Compare page ----------------------------------------------------------------------------------------


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


# --- Metrics page ----------------------------------------------------------------------------------------


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


def roc_figure(curves: Mapping[int, tuple[np.ndarray, np.ndarray]], title: str) -> go.Figure:
    """ROC curves of one model: a thin line per fold (keyed by fold number) and their vertical mean ± std."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for fold, (fpr, tpr) in sorted(curves.items()):
        figure.add_trace(
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"fold {fold}", line={"width": 1}, opacity=0.45)
        )
    mean = mean_roc(list(curves.values()))
    upper, lower = np.minimum(mean.tpr + mean.tpr_std, 1), np.maximum(mean.tpr - mean.tpr_std, 0)
    figure.add_trace(go.Scatter(x=mean.fpr, y=upper, mode="lines", line={"width": 0}, showlegend=False))
    figure.add_trace(
        go.Scatter(x=mean.fpr, y=lower, mode="lines", line={"width": 0}, fill="tonexty", name="± 1 std")
    )
    figure.add_trace(go.Scatter(x=mean.fpr, y=mean.tpr, mode="lines", name="mean", line={"width": 3}))
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"})
    )
    figure.update_layout(
        title=title, xaxis_title="false positive rate", yaxis_title="true positive rate", height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def critical_difference_figure(average_ranks: Mapping[str, float], critical_difference: float,
                               cliques: Sequence[Sequence[str]]) -> go.Figure:
    """A critical-difference diagram (Demšar 2006): models on a rank axis (1 = best), a bar the length of
    the critical difference, and a thick line joining each group of models not significantly different."""
    import plotly.graph_objects as go

    ordered = sorted(average_ranks.items(), key=lambda item: item[1])
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[r for _, r in ordered], y=[0] * len(ordered), mode="markers+text", text=[m for m, _ in ordered],
            textposition="top center", marker={"size": 12}, name="average rank",
        )
    )
    for level, clique in enumerate(cliques, start=1):
        ranks = [average_ranks[m] for m in clique if m in average_ranks]
        if len(ranks) >= 2:
            figure.add_trace(
                go.Scatter(
                    x=[min(ranks), max(ranks)], y=[-0.15 * level] * 2, mode="lines",
                    line={"width": 6, "color": "black"}, name="not significantly different", showlegend=level == 1,
                )
            )
    start = min(r for _, r in ordered)
    figure.add_trace(
        go.Scatter(
            x=[start, start + critical_difference], y=[0.5, 0.5], mode="lines+text", line={"width": 3, "color": "red"},
            text=[f"CD = {critical_difference:.2f}", ""], textposition="top right", name="critical difference",
        )
    )
    figure.update_layout(
        xaxis_title="average rank (1 = best)", yaxis={"visible": False, "range": [-0.2 - 0.15 * len(cliques), 0.8]},
        height=260 + 20 * len(cliques), margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure


def region_share_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Grouped bar chart of :func:`region_share_frame` output: share of positive map mass per region, one
    bar per model, error bars = standard deviation over images."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for model, rows in frame.groupby("model", sort=False):
        figure.add_trace(go.Bar(x=rows["region"], y=rows["share"], error_y={"array": rows["std"]}, name=str(model)))
    figure.update_layout(
        barmode="group", title=title, yaxis_title="share of map mass", yaxis_range=[0, 1], height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return figure


def table2_display(table2: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "f1", "auc", "epochs")) -> pd.DataFrame:
    """Table 2 laid out as in the paper: one row per metric, one column per model, cells ``mean ± std``.

    ``table2`` is ``painxai.report.Report.table2`` (index model; ``<metric>_mean``/``_std`` columns, % for
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
    """The paper's Table 2 (``painxai.report.PAPER_TABLE2``: model -> metric -> (mean, std)) in the layout of
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
    from painxai.evaluation import roc_points

    curves = {}
    for fold, rows in predictions[predictions["model"] == model].groupby("fold"):
        points = roc_points(rows["label"].to_numpy(), rows["prob_pain"].to_numpy(dtype=float))
        if points is not None:
            curves[int(fold)] = (np.asarray(points["fpr"]), np.asarray(points["tpr"]))
    return curves


def confusion_figure(counts: Mapping[str, int], title: str) -> go.Figure:
    """A 2 x 2 confusion matrix heat map from ``painxai.evaluation.confusion`` counts (tp, fp, tn, fn)."""
    import plotly.graph_objects as go

    matrix = [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    figure = go.Figure(
        go.Heatmap(
            z=matrix, x=["said no pain", "said pain"], y=["no pain", "pain"], text=matrix, texttemplate="%{text}",
            colorscale="Blues", showscale=False,
        )
    )
    figure.update_layout(title=title, yaxis_title="truth", height=260, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def calibration_figure(curves: Mapping[str, Mapping[str, Sequence[float]]]) -> go.Figure:
    """Reliability diagram: per model the observed fraction of pain against the mean predicted probability
    per bin (``painxai.evaluation.calibration_curve`` output), with the diagonal of perfect calibration."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for model, curve in curves.items():
        figure.add_trace(
            go.Scatter(x=curve["mean_prob"], y=curve["fraction_pain"], mode="lines+markers", name=model,
                       text=[f"{n} images" for n in curve["count"]])
        )
    diagonal = {"dash": "dot", "color": "grey"}
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=diagonal))
    figure.update_layout(
        xaxis_title="mean predicted P(pain)", yaxis_title="observed fraction of pain", height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return figure


def history_figure(history: pd.DataFrame, title: str) -> go.Figure:
    """Training curves of one fold: loss and validation loss (and accuracies when recorded) per epoch, the
    epochs numbered across both phases and the phase change marked."""
    import plotly.graph_objects as go

    frame = history.reset_index(drop=True)
    epoch = np.arange(1, len(frame) + 1)
    figure = go.Figure()
    for column, dash in [("loss", None), ("val_loss", "dash"), ("accuracy", None), ("val_accuracy", "dash")]:
        if column in frame:
            figure.add_trace(go.Scatter(x=epoch, y=frame[column], mode="lines", name=column, line={"dash": dash}))
    if "phase" in frame and frame["phase"].nunique() > 1:
        change = int(np.argmax(frame["phase"].to_numpy() != frame["phase"].iloc[0])) + 0.5
        figure.add_vline(x=change, line_dash="dot", annotation_text="fine-tuning starts")
    figure.update_layout(title=title, xaxis_title="epoch", height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


# --- Assess and Compare pages: one image through the fold ensembles ------------------------------------


def fold_subset(ensemble: Any, folds: Sequence[int]) -> Any:
    """The same ensemble restricted to ``folds`` (sharing the trunk and the chosen tails, nothing copied)."""
    from painxai.runs import FoldEnsemble

    missing = sorted(set(folds) - set(ensemble.folds))
    if missing or not folds:
        raise ValueError(f"{ensemble.name} has no finished fold(s) {missing or list(folds)}")
    tails = [ensemble.tails[ensemble.folds.index(f)] for f in folds]
    return FoldEnsemble(name=ensemble.name, folds=list(folds), trunk=ensemble.trunk, tails=tails, size=ensemble.size)


def map_layers(ensemble: Any) -> list[str]:
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
    fold-mean probabilities, and ``shares[m]`` one region -> share dict per image that has a region label
    map (images without one are left out of the shares).
    """

    faces: np.ndarray
    maps: dict[str, np.ndarray]
    prob_pain: dict[str, np.ndarray]
    shares: dict[str, list[dict[str, float]]]


def explain_grid(
    images: Sequence[np.ndarray],
    boxes: Sequence[Box | None],
    label_maps: Sequence[np.ndarray | None],
    ensembles: Mapping[str, Any],
    method: str = "gradcam",
    layers: Mapping[str, str | None] | None = None,
    display_size: int = 160,
) -> GridResult:
    """Explain several photos with several fold ensembles, one batch per model.

    ``images`` (H, W, 3) uint8 each, with their face ``boxes`` (None: centred square) and region
    ``label_maps`` (H, W) uint8 or None; ``layers`` per model (None or missing: its last conv layer).
    """
    from painxai.crop import crop_face
    from painxai.explain.attribution import region_shares
    from painxai.explain.display import resize_map
    from painxai.explain.ensemble import ensemble_explain

    if not (len(images) == len(boxes) == len(label_maps)) or not images:
        raise ValueError("give one box and one label map (or None) per image, and at least one image")
    layers = layers or {}
    faces, crop_labels = [], []
    for image, box, labels in zip(images, boxes, label_maps, strict=True):
        face, transform = crop_face(image, box, display_size)
        faces.append(face)
        crop_labels.append(None if labels is None else transform.crop_label_map(labels))
    result = GridResult(faces=np.stack(faces), maps={}, prob_pain={}, shares={})
    for name, ensemble in ensembles.items():
        crops = np.stack([crop_face(image, box, ensemble.size)[0] for image, box in zip(images, boxes, strict=True)])
        explanation = ensemble_explain(ensemble, crops, method=method, layer=layers.get(name))
        maps = np.stack([resize_map(m, (display_size, display_size)) for m in explanation.mean()])
        result.maps[name] = maps
        result.prob_pain[name] = explanation.prob_pain.mean(axis=0)
        result.shares[name] = [
            region_shares(m, labels) for m, labels in zip(maps, crop_labels, strict=True) if labels is not None
        ]
    return result


def grid_agreement(result: GridResult, top_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model x model agreement of a grid's maps, averaged over its images (see :func:`map_agreement`)."""
    ranks, overlaps = [], []
    for index in range(len(result.faces)):
        rank, iou = map_agreement({m: maps[index] for m, maps in result.maps.items()}, top_fraction)
        ranks.append(rank)
        overlaps.append(iou)
    return mean_agreement(ranks), mean_agreement(overlaps)


def face_and_regions(image: np.ndarray, box: Box | None, image_path: str | None = None) -> tuple[Box | None, Any]:
    """The face box and region label map (H, W) uint8 (or None) of one photo for the Compare grid.

    ``box`` from the manifest wins, else the detector's face (None: centred square). Regions come from the
    ground-truth label map stored beside a twin image (``painxai.regions.mask_path``) when there is one,
    else from FaceMesh landmarks when they pass their quality checks.
    """
    from PIL import Image

    from painxai.assess import locate_face, photo_regions
    from painxai.regions import mask_path

    used_box, _search, face = locate_face(image, box)
    if image_path is not None and mask_path(image_path).is_file():
        with Image.open(mask_path(image_path)) as stored:
            truth = np.asarray(stored)
        if truth.shape == image.shape[:2]:
            return used_box, truth
    return used_box, photo_regions(image, face)[1]
