"""The downloadable summary of a monitoring session, built in memory: the timeline as CSV, and a PDF.

The PDF (fpdf2, the same notice and table style as the photo report of :mod:`painxai.inference.photo_report`)
holds a figure of the timeline (each model's smoothed probability, the combined one, the thresholds, the
frames without a usable face and the alerts), the alerts, the frame counts and the provenance: the run, its
data, weights and profile, the models, the settings, the source and the time. No frame is in it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from painxai.inference.photo_report import NOTICE, _latin1, _table
from painxai.monitor.session import COMBINED
from painxai.monitor.timeline import NO_PAIN, PAIN, UNKNOWN, Alert, Settings


@dataclass(frozen=True)
class SessionSummary:
    """What the summary shows: the ``timeline`` (session.timeline()), the ``alerts``, the ``settings``, the
    ``source`` (file name or "live camera"), the run's name and one-line ``provenance``, frames ``processed``
    and ``scored``, and ``versions`` (name -> version string)."""

    timeline: pd.DataFrame
    alerts: Sequence[Alert]
    settings: Settings
    source: str
    run_name: str
    provenance: str
    processed: int
    scored: int
    versions: Mapping[str, str] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def timeline_csv(timeline: pd.DataFrame) -> bytes:
    """The timeline as CSV bytes (UTF-8), probabilities to 4 decimals."""
    return timeline.to_csv(index=False, float_format="%.4f").encode()


def timeline_figure(timeline: pd.DataFrame, settings: Settings, alerts: Sequence[Alert]) -> Any:
    """A plotly figure of the timeline: each model's smoothed probability (thin lines), the models' mean smoothed
    (black, thick) with its state as a coloured band along the top (red pain, green no pain, grey unknown), the
    on/off thresholds, and the alerts as red areas. x: time (s), y: smoothed P(pain) in [0, 1]."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for model, rows in timeline.groupby("model", sort=False):
        combined = model == COMBINED
        figure.add_scatter(x=rows.time_s, y=rows.smoothed, name="all models (smoothed)" if combined else str(model),
                           mode="lines", line={"width": 3 if combined else 1.2, **({"color": "black"} if combined
                                                                                   else {})})
    combined_rows = timeline[timeline.model == COMBINED]
    colours = {PAIN: "#d62728", NO_PAIN: "#2ca02c", UNKNOWN: "#aaaaaa"}
    figure.add_scatter(x=combined_rows.time_s, y=[1.04] * len(combined_rows), mode="markers", name="state",
                       marker={"symbol": "square", "size": 7, "color": [colours[s] for s in combined_rows.state]},
                       text=list(combined_rows.state), hovertemplate="%{x:.1f} s: %{text}<extra></extra>")
    for alert in alerts:
        figure.add_vrect(x0=alert.raised_s, x1=alert.end_s, fillcolor="red", opacity=0.15, line_width=0,
                         annotation_text="alert", annotation_position="top left")
    figure.add_hline(y=settings.on, line_dash="dot", line_color="#d62728")
    figure.add_hline(y=settings.off, line_dash="dot", line_color="#2ca02c")
    figure.update_layout(height=360, margin={"l": 40, "r": 10, "t": 60, "b": 40}, xaxis_title="time (s)",
                         yaxis_title="smoothed P(pain)", yaxis_range=[0, 1.08],
                         legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})  # above: the axis title below
    return figure


def timeline_png(summary: SessionSummary, dpi: int = 110) -> bytes:
    """A figure of the timeline (PNG bytes): smoothed probability per model and combined over time (s), the
    on/off thresholds, grey ticks where no usable face was found, red bands for the alerts."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.2), dpi=dpi)
    axis = figure.add_subplot()
    for model, rows in summary.timeline.groupby("model", sort=False):
        combined = model == COMBINED
        axis.plot(rows.time_s, rows.smoothed, label=str(model), color="black" if combined else None,
                  linewidth=2.2 if combined else 1.0)
    lost = summary.timeline[~summary.timeline.face_found.astype(bool)].time_s.unique()
    axis.plot(lost, [0.02] * len(lost), "|", color="grey", label="no usable face")
    for alert in summary.alerts:
        axis.axvspan(alert.raised_s, alert.end_s, color="red", alpha=0.15)
    axis.axhline(summary.settings.on, color="red", linestyle=":", linewidth=0.8)
    axis.axhline(summary.settings.off, color="green", linestyle=":", linewidth=0.8)
    axis.set(xlabel="time (s)", ylabel="smoothed P(pain)", ylim=(0, 1))
    axis.legend(fontsize=7, loc="upper left", ncols=4)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def summary_pdf(summary: SessionSummary) -> bytes:
    """The session summary as a PDF (bytes): notice, timeline figure, alerts, counts and provenance."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, "painxai - monitoring session summary (research use)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(160, 0, 0)
    pdf.multi_cell(0, 5, _latin1(NOTICE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.image(io.BytesIO(timeline_png(summary, dpi=150)), w=pdf.epw)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, f"Alerts: {len(summary.alerts)}", new_x="LMARGIN", new_y="NEXT")
    if summary.alerts:
        _table(pdf, pd.DataFrame([alert.as_dict() for alert in summary.alerts]))
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, "Provenance", new_x="LMARGIN", new_y="NEXT")
    settings = summary.settings
    rows = [
        ("created", summary.created.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("source", summary.source),
        ("run", f"{summary.run_name}: {summary.provenance}"),
        ("models", ", ".join(m for m in summary.timeline.model.unique() if m != COMBINED)),
        ("frames", f"{summary.processed} processed, {summary.scored} with a usable face and scored"),
        ("smoothing", f"EMA with a time constant of {settings.tau_s:g} s; pain from {settings.on:g}, no pain from "
                      f"{settings.off:g}; alert after {settings.alert_after_s:g} s in pain"),
        *((name, str(version)) for name, version in summary.versions.items()),
    ]
    _table(pdf, pd.DataFrame(rows, columns=["item", "value"]))
    return bytes(pdf.output())
