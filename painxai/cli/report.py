"""``painxai report``: Table 2, per-fold scores, calibration and statistics of a training run."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from painxai.cli.common import console, user_errors


class ReportFormat(StrEnum):
    """Output formats of ``painxai report``."""

    md = "md"
    csv = "csv"
    json = "json"


def report(
    run: Path = typer.Option(..., help="Run folder written by `painxai train` (e.g. artifacts/RUN)."),
    output_format: ReportFormat = typer.Option(
        ReportFormat.md, "--format", help="md: the full report; csv: the per-fold table; json: everything."
    ),
    out: Path | None = typer.Option(None, help="File to write (atomically); default: print to standard output."),
) -> None:
    """Report a run's finished folds: Table 2 (mean ± std), per-fold table, calibration and statistics."""
    from painxai import atomic
    from painxai.evaluation.report import build_report

    with user_errors():
        built = build_report(run)
    for line in built.skipped_folds:  # on standard error, so a redirected report stays clean
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    renderers = {ReportFormat.md: built.to_markdown, ReportFormat.csv: built.to_csv, ReportFormat.json: built.to_json}
    text = renderers[output_format]()
    if out is None:
        sys.stdout.write(text)
        return
    atomic.write_text(out, text)
    console.print(f"report written to {out} ({', '.join(f'{m} {p}' for m, p in built.progress().items())} folds)")


def register(app: typer.Typer) -> None:
    """Add ``painxai report`` to the main app."""
    app.command()(report)
