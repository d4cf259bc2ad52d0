"""Training commands: ``painxai train`` (the cross-validated protocol) and ``painxai demo``
(synthetic twin -> folds -> demo training, each step skipped when already done)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from painxai.cli.common import console, user_errors


def _rich_reporter(progress: Progress) -> Any:
    """A :class:`painxai.training.protocol.Reporter` drawing one bar over all folds and one over the current
    fold's epochs (with ETAs), and printing one line per finished fold."""
    from painxai.training.protocol import Reporter

    class RichReporter(Reporter):
        def __init__(self) -> None:
            self.overall: TaskID | None = None
            self.current: TaskID | None = None

        def run_started(self, jobs: int, skipped: int) -> None:
            if skipped:
                progress.console.print(f"{skipped} fold(s) already finished: skipped")
            self.overall = progress.add_task("all folds", total=jobs)

        def message(self, text: str) -> None:
            progress.console.print(text)

        def fold_started(self, model: str, fold: int, max_epochs: int | None) -> None:
            self.current = progress.add_task(f"{model} fold {fold}", total=max_epochs)

        def epoch_done(self, model: str, fold: int, phase: str, epoch: int, logs: dict[str, float]) -> None:
            if self.current is not None:
                loss = logs.get("val_loss", float("nan"))
                progress.update(
                    self.current, advance=1, description=f"{model} fold {fold} {phase} val_loss {loss:.3f}"
                )

        def fold_done(self, model: str, fold: int, metrics: dict[str, Any]) -> None:
            if self.current is not None:
                progress.remove_task(self.current)
                self.current = None
            if self.overall is not None:
                progress.advance(self.overall)
            auc = metrics.get("auc")
            # soft_wrap: a log file (no terminal, 80 columns) keeps one line per fold.
            progress.console.print(
                f"{model:>12} fold {fold}: accuracy {metrics['accuracy']:.3f}, F1 {metrics['f1']:.3f}, "
                f"AUC {'n/a' if auc is None else f'{auc:.3f}'}, {metrics['epochs']} epochs "
                f"({metrics['epochs_phase1']}+{metrics['epochs_phase2']}), {metrics['seconds']:.1f} s",
                highlight=False,
                soft_wrap=True,
            )

    return RichReporter()


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def run_training(
    manifest: Path,
    folds: Path,
    models: str,
    profile: str,
    out: Path,
    fold: int | None,
    weights: str,
    resume: bool,
    seed: int,
) -> None:
    """Run :func:`painxai.training.protocol.train` with progress bars and turn expected errors into messages."""
    from painxai.data.folds import FoldError
    from painxai.data.manifest import ManifestError
    from painxai.models import WeightsFileError, WeightsMissingError
    from painxai.training.pool import DatasetError
    from painxai.training.protocol import TrainConfig, TrainError, parse_models, train

    with user_errors(TrainError, ManifestError, FoldError, DatasetError, WeightsMissingError, WeightsFileError):
        config = TrainConfig(
            manifest=manifest,
            folds=folds,
            out=out,
            models=parse_models(models),
            profile=profile,
            fold=fold,
            weights=weights,
            resume=resume,
            seed=seed,
        )
        with _progress() as progress:
            summary = train(config, reporter=_rich_reporter(progress))
    console.print(
        f"{len(summary.trained)} fold(s) trained, {len(summary.skipped)} already finished, "
        f"{summary.seconds:.1f} s; run folder {summary.out}"
    )


def train_command(
    manifest: Path = typer.Option(..., help="Manifest CSV."),
    folds: Path = typer.Option(..., help="folds.json (painxai folds)."),
    models: str = typer.Option("all", help="'all' or a comma list: vgg16,resnet50,senet50,inception_v3,ncnn."),
    profile: str = typer.Option("demo", help="paper | demo | smoke (see docs/TRAINING.md)."),
    out: Path = typer.Option(..., help="Run folder, e.g. artifacts/RUN."),
    fold: int | None = typer.Option(None, help="Train only this fold (for parallel jobs on a scheduler)."),
    weights: str = typer.Option(
        "auto", help="pretrained | none (seeded random) | auto (pretrained when present, else random with a warning)."
    ),
    resume: bool = typer.Option(False, help="Continue the run in --out: finished folds are skipped."),
    seed: int = typer.Option(0, help="Seed of the initial weights, augmentation and shuffling."),
) -> None:
    """Train models over the leave-subjects-out folds with the paper's two-phase protocol."""
    run_training(manifest, folds, models, profile, out, fold, weights, resume, seed)


def demo_command(
    data: Path = typer.Option(Path("data/twin"), help="Folder of the synthetic twin (generated when absent)."),
    out: Path = typer.Option(Path("artifacts/demo"), help="Run folder of the demo training."),
    size_scale: float = typer.Option(1.0, help="Scale of the twin (1 = the paper's 56 subjects)."),
    profile: str = typer.Option("demo", help="Training profile (tests run the same steps with 'smoke')."),
) -> None:
    """The whole demo: synthetic twin -> 10 folds -> demo training of the 5 models; resumes, and
    returns in seconds when everything is done."""
    from painxai.data.folds import FoldError, write_folds
    from painxai.data.manifest import ManifestError, read_manifest
    from painxai.synth.twin import generate_twin

    started = time.perf_counter()
    with user_errors(ManifestError, FoldError):
        twin = generate_twin(data, seed=0, size_scale=size_scale, progress=True)
        folds_path = Path(data) / "folds.json"
        if not _folds_match(folds_path, twin.manifest_path):
            subjects = read_manifest(twin.manifest_path, check_files=False)["subject"].nunique()
            write_folds(twin.manifest_path, folds_path, k=min(10, subjects), seed=0)
    console.print(f"twin {data} ({twin.n_images} images) and folds ready in {time.perf_counter() - started:.1f} s")
    run_training(twin.manifest_path, folds_path, "all", profile, out, None, "auto", True, 0)


def _folds_match(folds_path: Path, manifest_path: Path) -> bool:
    """True when ``folds_path`` exists and was made from the manifest as it is now."""
    import json

    from painxai.data.manifest import sha256_file

    if not folds_path.is_file():
        return False
    try:
        return json.loads(folds_path.read_text()).get("manifest_sha256") == sha256_file(manifest_path)
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``demo`` to the main app."""
    app.command("train")(train_command)
    app.command("demo")(demo_command)
