"""How long the paper profile would take on this machine's CPU: said before any work when no GPU is visible.

The paper profile (input sizes of Table 1, 20 augmented samples per training image, early stopping with
patience 5 then 10, no epoch cap) is meant for a GPU. ``painxai train --profile paper`` on a machine where
TensorFlow sees no GPU stops and prints :func:`cpu_projection`, and goes on only with ``--allow-cpu``.

The projection is arithmetic, not a run: each model's epochs are the paper's mean (Table 2, about ten of
them in phase 1, the head on cached features), and each epoch costs the measured seconds per training
sample that each model's spec declares (``ModelSpec.cpu_seconds_per_sample``). The costs were measured
with ``bench/bench_train.py`` on a 2-core AMD EPYC (Zen 4, AVX-512) at the paper's input sizes
(bench/README.md, "Projection of the paper profile"); a CPU without AVX-512 is slower, so the figure is a
lower bound there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from painxai.errors import RequestError

HEAD_EPOCHS = 10  # of the paper's epochs, about this many are phase 1 (its patience is 5, then 10)


@dataclass(frozen=True)
class Projection:
    """Projected CPU hours per model for ``folds`` folds of ``samples_per_fold`` training samples each."""

    hours: dict[str, float]
    folds: int
    samples_per_fold: int

    @property
    def total_hours(self) -> float:
        return sum(self.hours.values())

    def describe(self) -> str:
        """One paragraph: the total, each model's share, and what the figure rests on."""
        each = ", ".join(f"{model} {hours:.1f} h" for model, hours in self.hours.items())
        return (
            f"about {self.total_hours:.0f} hours on this machine's CPU ({each}; {self.folds} fold(s) of about "
            f"{self.samples_per_fold:,} training samples, the paper's epoch counts, per-sample costs measured on "
            "a 2-core AMD EPYC: slower CPUs take longer)"
        )


def cpu_projection(
    models: Sequence[str], n_images: int, k: int, folds: int, augment_per_image: int, validation_fraction: float
) -> Projection:
    """The projected CPU time of the paper profile.

    ``n_images``: images in the manifest; ``k``: folds in the folds file; ``folds``: how many of them this
    command trains (k, or 1 with ``--fold``). A fold trains on about (k - 1) / k of the images, less the
    validation subjects, each with ``augment_per_image`` augmented copies.
    """
    from painxai.evaluation.report import PAPER_TABLE2
    from painxai.models import get_spec

    training_images = n_images * (k - 1) / k * (1 - validation_fraction)
    samples = round(training_images * (1 + augment_per_image))
    hours = {}
    for model in models:
        # Seconds per training sample and epoch on 2 CPU cores: (phase 1, head on cached features; phase 2,
        # the Table-1 layers fine-tuned); a model trained end to end has its whole cost in the second figure.
        costs = get_spec(model).cpu_seconds_per_sample
        if costs is None or model not in PAPER_TABLE2:
            raise RequestError(f"{model}: no measured CPU cost or paper epoch count to project its time from")
        head, finetune = costs
        epochs = PAPER_TABLE2[model]["epochs"][0]
        head_epochs = 0 if head == 0 else min(HEAD_EPOCHS, epochs)
        seconds = samples * (head_epochs * head + (epochs - head_epochs) * finetune)
        hours[model] = seconds * folds / 3600
    return Projection(hours=hours, folds=folds, samples_per_fold=samples)
