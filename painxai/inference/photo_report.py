"""The downloadable report of one photo's assessment, built entirely in memory (PNG and PDF bytes).

Nothing is written to disk: the photo is sensitive, and the dashboard hands these bytes straight to the
user's browser. The PNG is one matplotlib figure (photo with its face box, one explanation overlay per
model, the shared colour scale, the probabilities table); the PDF (fpdf2) carries the same figure plus the
text in selectable form: probabilities, consensus, region shares, run and model versions and the time.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from fpdf import FPDF

NOTICE = (
    "Research software, not a medical device and not a diagnosis. The probabilities come from models trained "
    "on a small research data set; a clinician's assessment (e.g. NFCS, PIPP) decides."
)


@dataclass(frozen=True)
class ModelResult:
    """One model's verdict on the photo: fold-ensemble mean and std of the pain probability (0-1), how many
    of its folds say pain (probability >= ``painxai.labels.PAIN_THRESHOLD``) out of how many, and its
    explanation overlay on the photo ((H, W, 3) uint8)."""

    model: str
    mean: float
    std: float
    folds_pain: int
    folds: int
    overlay: np.ndarray


@dataclass(frozen=True)
class ReportContent:
    """Everything the report shows. ``photo`` is (H, W, 3) uint8 with the face box already drawn;
    ``region_shares`` has one row per model and one column per NFCS region (shares 0-1), or is ``None``
    when the regions could not be located; ``versions`` maps names (run, painxai, packages, per model the
    weights used) to version strings."""

    photo: np.ndarray
    results: Sequence[ModelResult]
    consensus: str
    method: str
    scale_note: str
    run_name: str
    versions: Mapping[str, str]
    region_shares: pd.DataFrame | None = None
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def results_table(content: ReportContent) -> pd.DataFrame:
    """The probabilities table: model, ``P(pain)`` as ``mean ± std`` in percent, folds saying pain."""
    return pd.DataFrame(
        {
            "model": [r.model for r in content.results],
            "P(pain)": [f"{100 * r.mean:.1f} ± {100 * r.std:.1f} %" for r in content.results],
            "folds saying pain": [f"{r.folds_pain} / {r.folds}" for r in content.results],
        }
    )


def report_png(content: ReportContent, dpi: int = 110) -> bytes:
    """The report as one PNG image (bytes): the photo and the models' overlays side by side, then the
    probabilities, consensus and notice. About 1500 px wide at the default ``dpi``."""
    _check(content)
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    panels = 1 + len(content.results)
    figure = Figure(figsize=(2.4 * panels, 4.6), dpi=dpi)
    grid = figure.add_gridspec(2, panels, height_ratios=[2.4, 1.0])
    axes = [figure.add_subplot(grid[0, i]) for i in range(panels)]
    axes[0].imshow(content.photo)
    axes[0].set_title("photo and face box", fontsize=9)
    for axis, result in zip(axes[1:], content.results, strict=True):
        axis.imshow(result.overlay)
        axis.set_title(f"{result.model}\nP(pain) {100 * result.mean:.0f} ± {100 * result.std:.0f} %", fontsize=9)
    for axis in axes:
        axis.set_axis_off()
    text_axis = figure.add_subplot(grid[1, :])
    text_axis.set_axis_off()
    lines = [
        content.consensus,
        f"Maps: {content.method}; {content.scale_note}.",
        f"Run {content.run_name}; {_time_text(content.created)}.",
        NOTICE,
    ]
    text_axis.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=8, wrap=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def report_pdf(content: ReportContent) -> bytes:
    """The report as a PDF (bytes): title, notice, the PNG figure, the probabilities table, the region
    shares, and the run and model versions with the time. Core PDF fonts only (latin-1 text)."""
    from fpdf import FPDF

    figure_png = report_png(content, dpi=150)
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, _latin1("painxai - neonatal pain assessment report (research use)"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(160, 0, 0)
    pdf.multi_cell(0, 5, _latin1(NOTICE), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.image(io.BytesIO(figure_png), w=pdf.epw)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 6, _latin1(content.consensus), new_x="LMARGIN", new_y="NEXT")
    _table(pdf, results_table(content))
    if content.region_shares is not None and not content.region_shares.empty:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 7, "Share of the map's positive mass per facial region (NFCS)", new_x="LMARGIN", new_y="NEXT")
        shares = content.region_shares.map(lambda v: f"{100 * v:.0f} %").reset_index(names="model")
        _table(pdf, shares)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, "Provenance", new_x="LMARGIN", new_y="NEXT")
    provenance = pd.DataFrame(
        [("created", _time_text(content.created)), ("run", content.run_name), ("explanation", content.method)]
        + [(k, str(v)) for k, v in content.versions.items()],
        columns=["item", "value"],
    )
    _table(pdf, provenance)
    return bytes(pdf.output())


def _check(content: ReportContent) -> None:
    """Refuse content the figure cannot show, with the reason."""
    if not content.results:
        raise ValueError("a report needs at least one model's result")
    for image, what in [(content.photo, "photo"), *[(r.overlay, f"{r.model} overlay") for r in content.results]]:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"the {what} must be (H, W, 3) uint8, got {image.shape} {image.dtype}")


def _time_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _latin1(text: str) -> str:
    """The core PDF fonts cover latin-1 only: replace the few other characters we print."""
    replaced = text.replace("→", "->").replace("≥", ">=").replace("≤", "<=").replace("–", "-").replace("—", "-")
    return replaced.encode("latin-1", "replace").decode("latin-1")


def _table(pdf: FPDF, frame: pd.DataFrame) -> None:
    """Write ``frame`` as a simple bordered table filling the page width."""
    pdf.set_font("Helvetica", "", 8)
    with pdf.table(text_align="LEFT", line_height=5) as table:
        header = table.row()
        for column in frame.columns:
            header.cell(_latin1(str(column)))
        for values in frame.itertuples(index=False):
            row = table.row()
            for value in values:
                row.cell(_latin1(str(value)))
    pdf.ln(2)
