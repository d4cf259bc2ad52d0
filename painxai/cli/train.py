"""Training commands: ``painxai train`` (the cross-validated protocol) and ``painxai demo``
(synthetic twin -> folds -> demo training, each step skipped when already done)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypedDict

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

from painxai.cli.common import console, progress_bar, user_errors
from painxai.models import model_names


def _rich_reporter(progress: Progress) -> Any:
    """A :class:`painxai.training.fit.Reporter` drawing one bar over all folds and one over the current
    fold's epochs (with ETAs), and printing one line per finished fold."""
    from painxai.training.fit import Reporter

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


class Overrides(TypedDict, total=False):
    """The ``TrainConfig`` fields the command line sets; None = the profile's value."""

    max_epochs_head: int | None
    max_epochs_finetune: int | None
    augment_per_image: int | None


def run_training(
    manifest: Path,
    folds: Path,
    models: str,
    profile: str,
    out: Path,
    fold: int | None,
    weights: str | None,
    resume: bool,
    seed: int,
    overrides: Overrides | None = None,
    allow_cpu: bool = True,
) -> None:
    """Run :func:`painxai.training.protocol.train` with progress bars and turn expected errors into messages.

    ``weights`` None = the profile's default; ``overrides``: ``TrainConfig`` fields
    (``max_epochs_head``, ``max_epochs_finetune``, ``augment_per_image``), None = the profile's value.
    ``allow_cpu`` False: the paper profile stops before any work when TensorFlow sees no GPU (:func:`check_gpu`).
    """
    from painxai.training.profiles import TrainConfig, parse_models
    from painxai.training.protocol import train

    with user_errors():
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
            **(overrides or Overrides()),
        )
        check_gpu(config, allow_cpu)
        with _progress() as progress:
            summary = train(config, reporter=_rich_reporter(progress))
    console.print(
        f"{len(summary.trained)} fold(s) trained, {len(summary.skipped)} already finished, "
        f"{summary.seconds:.1f} s; run folder {summary.out}"
    )


def check_gpu(config: Any, allow_cpu: bool) -> None:
    """For the paper profile on a machine where TensorFlow sees no GPU: say so with the projected CPU time, and
    stop (a TrainError) unless ``allow_cpu``. Other profiles are made for the CPU and are not checked."""
    from painxai.data.folds import read_folds
    from painxai.data.manifest import read_manifest
    from painxai.training.fit import gpu_present
    from painxai.training.profiles import TrainError, resolve_profile
    from painxai.training.projection import cpu_projection

    profile = resolve_profile(config)
    if profile.name != "paper" or gpu_present():
        return
    import tensorflow as tf

    manifest = read_manifest(config.manifest, check_files=False)
    k = int(read_folds(config.folds, manifest)["k"])
    projection = cpu_projection(
        config.models, len(manifest), k, 1 if config.fold is not None else k, profile.augment_per_image,
        profile.validation_fraction,
    )
    build = "a CUDA build" if tf.test.is_built_with_cuda() else "a CPU-only build (tensorflow-cpu)"
    situation = (f"TensorFlow {tf.__version__} ({build}) sees no GPU: the paper profile would take "
                 f"{projection.describe()}.")
    if not allow_cpu:
        raise TrainError(
            f"{situation} On a machine with an NVIDIA GPU, install the GPU build (`make setup GPU=1`, README) and "
            "check it with `painxai doctor`; to train on the CPU anyway, pass --allow-cpu."
        )
    console.print(f"[yellow]warning:[/] {situation} Training on the CPU as asked (--allow-cpu).", soft_wrap=True)


def train_command(
    manifest: Path = typer.Option(..., help="Manifest CSV."),
    folds: Path = typer.Option(..., help="folds.json (painxai folds)."),
    models: str = typer.Option("all", help=f"'all' or a comma list: {','.join(model_names())}."),
    profile: str = typer.Option("demo", help="paper | demo | smoke (see docs/TRAINING.md)."),
    out: Path = typer.Option(..., help="Run folder, e.g. artifacts/RUN."),
    fold: int | None = typer.Option(None, help="Train only this fold (for parallel jobs on a scheduler)."),
    weights: str | None = typer.Option(
        None,
        help="pretrained | none (seeded random) | auto (pretrained when present, else random with a warning). "
        "Default: pretrained for --profile paper (a missing file stops before any work, saying how to get "
        "it), auto otherwise.",
    ),
    resume: bool = typer.Option(False, help="Continue the run in --out: finished folds are skipped."),
    seed: int = typer.Option(0, help="Seed of the initial weights, augmentation and shuffling."),
    max_epochs_head: int | None = typer.Option(
        None, help="Cap phase 1 (head only) at N epochs; 0 skips it. Default: the profile's (paper: none)."
    ),
    max_epochs_finetune: int | None = typer.Option(
        None,
        help="Cap phase 2 (fine-tuning) and N-CNN's end-to-end training at N epochs; 0 skips them. "
        "Default: the profile's (paper: none).",
    ),
    augment_per_image: int | None = typer.Option(
        None, help="Augmented samples per training image. Default: the profile's (paper: 20)."
    ),
    allow_cpu: bool = typer.Option(
        False, help="Train the paper profile even when TensorFlow sees no GPU (it says how long that would take)."
    ),
) -> None:
    """Train models over the leave-subjects-out folds with the paper's two-phase protocol."""
    overrides = Overrides(
        max_epochs_head=max_epochs_head,
        max_epochs_finetune=max_epochs_finetune,
        augment_per_image=augment_per_image,
    )
    run_training(manifest, folds, models, profile, out, fold, weights, resume, seed, overrides, allow_cpu)


def demo_command(
    data: Path = typer.Option(Path("data/twin"), help="Folder of the synthetic twin (generated when absent)."),
    out: Path = typer.Option(Path("artifacts/demo"), help="Run folder of the demo training."),
    size_scale: float = typer.Option(1.0, help="Scale of the twin (1 = the paper's 56 subjects)."),
    profile: str = typer.Option("demo", help="Training profile (tests run the same steps with 'smoke')."),
) -> None:
    """The whole demo: synthetic twin -> 10 folds -> demo training of the 5 models; resumes, and
    returns in seconds when everything is done."""
    from painxai.data.folds import write_folds
    from painxai.data.manifest import read_manifest
    from painxai.synth.twin import generate_twin

    started = time.perf_counter()
    with user_errors():
        with progress_bar("drawing the synthetic twin") as progress:
            twin = generate_twin(data, seed=0, size_scale=size_scale, progress=progress)
        folds_path = Path(data) / "folds.json"
        if not _folds_match(folds_path, twin.manifest_path):
            subjects = read_manifest(twin.manifest_path, check_files=False)["subject"].nunique()
            write_folds(twin.manifest_path, folds_path, k=min(10, subjects), seed=0)
    console.print(f"twin {data} ({twin.n_images} images) and folds ready in {time.perf_counter() - started:.1f} s")
    # By design, not for want of files: the demo's numbers and maps must be the same on every machine.
    console.print("The demo's CNNs start from seeded random weights by design, pretrained files or not "
                  "(docs/TRAINING.md): its numbers say nothing about newborns.", highlight=False, soft_wrap=True)
    run_training(twin.manifest_path, folds_path, "all", profile, out, None, "none", True, 0)
    from painxai.audit.model import DEFAULT_IMAGES
    from painxai.cli.audit import run_audit

    # So that the first dashboard already says which maps to believe (skipped when done); the smoke profile
    # (tests) audits a handful of images, enough to write every figure.
    run_audit(out, images=4 if profile == "smoke" else DEFAULT_IMAGES)


def _folds_match(folds_path: Path, manifest_path: Path) -> bool:
    """True when ``folds_path`` exists and was made from the manifest as it is now."""
    import json

    from painxai.hashing import file_digest

    if not folds_path.is_file():
        return False
    try:
        return json.loads(folds_path.read_text()).get("manifest_sha256") == file_digest(manifest_path)
    except (UnicodeDecodeError, json.JSONDecodeError):  # a damaged folds file is made again
        return False


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``demo`` to the main app."""
    app.command("train")(train_command)
    app.command("demo")(demo_command)
