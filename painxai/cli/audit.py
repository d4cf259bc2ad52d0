"""``painxai audit``: can each model's maps be believed? Writes ``<run>/audit.json`` (see painxai.audit)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from painxai.audit.model import DEFAULT_IMAGES, DEFAULT_STEPS
from painxai.cli.common import console, user_errors
from painxai.explain.methods import DEFAULT_METHOD, help_text


def audit_command(
    run: Path = typer.Option(..., help="Run folder (artifacts/<run>)."),
    models: str = typer.Option("all", help="'all' or comma-separated model names of the run."),
    methods: str = typer.Option(
        DEFAULT_METHOD, help=f"'all' or comma-separated explanation methods to audit: {help_text()}. Input "
        "methods cost a pass of the whole network per interpolant or mask, so their audit uses fewer images "
        "(docs/TRUST.md)."),
    images: int = typer.Option(DEFAULT_IMAGES, help="Out-of-fold test images per model (spread over folds, classes)."),
    seed: int = typer.Option(0, help="Seed of the image choice, the randomisation and the random maps."),
    faithfulness_steps: int = typer.Option(DEFAULT_STEPS, help="Deletion/insertion steps per curve."),
) -> None:
    """Audit every model's maps (Grad-CAM by default; --methods for others): randomisation test, localisation
    against model-free baselines, deletion/insertion, class sensitivity, fold agreement, a reference colour
    scale and a verdict."""
    run_audit(run, models, images, seed, faithfulness_steps, methods)


def run_audit(run: Path, models: str = "all", images: int = DEFAULT_IMAGES, seed: int = 0,
              faithfulness_steps: int = DEFAULT_STEPS, methods: str = DEFAULT_METHOD) -> None:
    """The audit as ``painxai audit`` runs it (``painxai demo`` calls it after training), with a table."""
    from painxai.audit.model import AuditSettings
    from painxai.audit.run import audit_run
    from painxai.explain.methods import labels, parse_methods

    started = time.perf_counter()
    chosen = None if models == "all" else [name.strip() for name in models.split(",") if name.strip()]
    with user_errors():
        if faithfulness_steps < 1:
            raise typer.BadParameter("--faithfulness-steps must be at least 1")
        method_names = parse_methods(methods)
        settings = AuditSettings(images=images, seed=seed, faithfulness_steps=faithfulness_steps)
        document = audit_run(run, chosen, settings, log=console.print, methods=method_names)
    table = Table(title=f"audit of {run} ({time.perf_counter() - started:.0f} s)")
    for column in ("model", "method", "verdict", "randomised ρ (last step)", "cue correlation − best baseline [95% CI]",
                   "deletion AUC (random)", "reference scale"):
        table.add_column(column)
    for method in method_names:
        for name, entry in document["methods"].get(method, {}).items():
            table.add_row(name, labels()[method], entry["verdict"], *_figures(entry))
    console.print(table)
    console.print(f"wrote {Path(run) / 'audit.json'}")


def _figures(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    """The table's figures of one audit entry: randomised ρ, the deciding localisation gap, deletion, scale."""
    spearman = entry["randomisation"]["spearman"]
    last = spearman[-1] if spearman else None
    local = entry.get("localisation") or {}
    correlation = "–"
    if local.get("source") == "masks":
        gap = local["intervals"]["cue_correlation_minus_best_baseline"]
        if gap["mean"] is not None:
            correlation = f"{gap['mean']:.2f} [{gap['low']:.2f}, {gap['high']:.2f}] ({gap['images']} images)"
    faith = entry["faithfulness"]
    return ("–" if last is None else f"{last:.2f}", correlation,
            f"{faith['deletion_auc']:.3f} ({faith['random_deletion_auc']:.3f})", f"{entry['reference_scale']:.3g}")


def register(app: typer.Typer) -> None:
    """Add ``painxai audit`` to the app."""
    app.command("audit")(audit_command)
