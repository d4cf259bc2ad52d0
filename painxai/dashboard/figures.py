"""The dashboard's plotly figures. plotly is imported inside each function so that importing this
module stays cheap (the first page must appear within 3 s)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from painxai.dashboard.tables import mean_roc

if TYPE_CHECKING:  # plotly is imported lazily at run time
    import plotly.graph_objects as go



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


def confusion_figure(counts: Mapping[str, int], title: str) -> go.Figure:
    """A 2 x 2 confusion matrix heat map from ``painxai.evaluation.metrics.confusion`` counts (tp, fp, tn, fn)."""
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
    per bin (``painxai.evaluation.metrics.calibration_curve`` output), with the diagonal of perfect calibration."""
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



def randomisation_figure(frame: pd.DataFrame) -> go.Figure:
    """The randomisation test (``painxai.dashboard.trust.randomisation_frame``): per model the similarity of
    the map after each cascading randomisation step to the trained model's map; one panel per measure."""
    import plotly.express as px

    from painxai.audit.verdict import MAX_RANDOMISED_SPEARMAN

    figure = px.line(
        frame, x="step", y="similarity", color="model", facet_col="measure", markers=True, hover_data=["layer"],
        height=360, labels={"step": "layers randomised (output first)", "similarity": "similarity to trained map"},
    )
    figure.add_hline(y=MAX_RANDOMISED_SPEARMAN, line_dash="dot", annotation_text="verdict threshold (Spearman)",
                     row=1, col=1)
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def localisation_figure(frame: pd.DataFrame, measure: str = "cue correlation") -> go.Figure:
    """Per model one localisation score of its maps (cue correlation, pointing game or cue share) beside the
    baselines that ignore the image (``painxai.dashboard.trust.localisation_frame``)."""
    import plotly.express as px

    low = -1 if measure == "cue correlation" else 0  # a rank correlation runs from -1 to 1
    figure = px.bar(frame, x="model", y=measure, color="map", barmode="group", height=340, range_y=[low, 1])
    figure.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return figure


def faithfulness_figure(frame: pd.DataFrame) -> go.Figure:
    """Deletion and insertion AUCs of each model's maps beside random maps
    (``painxai.dashboard.trust.faithfulness_frame``): deletion lower is better, insertion higher."""
    import plotly.express as px

    figure = px.bar(frame, x="model", y="AUC", color="map", barmode="group", facet_col="curve", height=340,
                    range_y=[0, 1])
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure
