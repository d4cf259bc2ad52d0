"""Confidence intervals of a mean over images, resampled by subject.

Images of one newborn are not independent: the same face, the same light, often the same minute. A
bootstrap that resampled images would treat 20 photos of one subject as 20 pieces of evidence, and give
intervals far too narrow. :func:`subject_bootstrap` resamples *subjects* with replacement (each drawn
subject brings all its images) and takes the percentile interval of the mean over the drawn images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over ``n_images`` images of ``n_subjects`` subjects and its percentile bootstrap interval."""

    mean: float | None
    low: float | None
    high: float | None
    n_images: int
    n_subjects: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "images": self.n_images,
                "subjects": self.n_subjects}


def resample_counts(n_subjects: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_subjects) int: how often each subject is drawn in each resample (n_subjects draws)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_subjects, size=(resamples, n_subjects))
    return np.stack([np.bincount(row, minlength=n_subjects) for row in draws])


def subject_bootstrap(
    values: Sequence[float] | np.ndarray,
    subjects: Sequence[str] | np.ndarray,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """The mean of ``values`` (N,) and its ``level`` interval, resampling the subjects (N,) they belong to.

    Non-finite values are left out (with their images). With one subject the interval is that subject's
    mean on both sides (nothing to resample); with no value everything is None.
    """
    all_values, all_subjects = np.asarray(values, dtype=np.float64), np.asarray(subjects)
    if all_values.shape != all_subjects.shape or all_values.ndim != 1:
        raise ValueError(
            f"values and subjects must be (N,) of one length; got {all_values.shape}, {all_subjects.shape}"
        )
    keep = np.isfinite(all_values)
    kept, kept_subjects = all_values[keep], all_subjects[keep]
    if not kept.size:
        return Interval(None, None, None, 0, 0)
    names, group = np.unique(kept_subjects, return_inverse=True)
    sums = np.bincount(group, weights=kept, minlength=len(names))
    counts = np.bincount(group, minlength=len(names)).astype(np.float64)
    drawn = resample_counts(len(names), resamples, seed)
    means = (drawn @ sums) / (drawn @ counts)  # every resample draws at least one subject with images
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return Interval(float(kept.mean()), float(low), float(high), int(kept.size), len(names))
