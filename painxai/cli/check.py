"""``painxai check``: the health of a run folder (damaged files with what to do, unfinished folds), and
the in-place upgrade of a format-1 run's fold files."""

from __future__ import annotations

from pathlib import Path

import typer

from painxai.cli.common import console, user_errors


def check(
    run: Path = typer.Option(..., help="Run folder written by `painxai train` (e.g. artifacts/RUN)."),
    upgrade: bool = typer.Option(
        False, help="Rewrite format-1 fold files to keep only the layers each fold trained (checked, atomic)."
    ),
) -> None:
    """Check a run's files: exit 0 when no finished fold is damaged, 2 with one line per damaged file."""
    from painxai.runs.reader import Run

    with user_errors():
        if upgrade:
            from painxai.runs.upgrade import upgrade_run

            summary = upgrade_run(run)
            console.print(
                f"{summary.folds} fold file(s) upgraded: fold files {summary.bytes_before / 1e6:.1f} MB -> "
                f"{summary.bytes_after / 1e6:.1f} MB",
                highlight=False,
            )
        opened = Run(run)
        health = opened.health()
        provenance = opened.provenance().describe()
    typer.echo(f"{health.describe()}\n{provenance}")
    if not health.ok:
        console.print(f"[bold red]error:[/] {len(health.problems)} damaged file(s) in {run}", highlight=False)
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``painxai check`` to the main app."""
    app.command()(check)
