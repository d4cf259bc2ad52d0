"""Comparing models over cross-validation folds (docs/PROTOCOL.md#statistical-tests).

Input is one score table: rows are folds, columns are models, each cell one fold's score (for
example accuracy). ``compare_models`` runs the Friedman test, the Nemenyi post-hoc with its
critical difference and the cliques a critical-difference diagram draws (Demšar 2006), pairwise
Wilcoxon signed-rank tests with Holm's correction, and the Nadeau–Bengio corrected resampled
t-test. The folds of one cross-validation share most of their training data, so the fold scores
are not independent and every p-value here is optimistic (``CAVEAT``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from painxai.errors import PainxaiError
from painxai.models import SPECS

CAVEAT = (
    "The folds of one cross-validation share most of their training images, so fold scores are not "
    "independent: Friedman, Nemenyi and Wilcoxon p-values are optimistic (differences look more significant "
    "than they are). The corrected resampled t-test (Nadeau & Bengio 2003) inflates the variance by "
    "(1/n + n_test/n_train) to account for this, but it is a heuristic too. With 10 folds, treat small "
    "differences between models as unresolved rather than as evidence."
)


#: The four models of the paper with pretrained bases (registry order). The paper's claim is about them alone:
#: "no significant difference among the four pretrained models" at p = 0.05 (N-CNN, trained from scratch,
#: was worse).
PRETRAINED_MODELS = tuple(
    name for name, spec in SPECS.items() if spec.base_weights is not None and spec.paper_table2 is not None
)


class StatisticsError(PainxaiError):
    """A score table the tests cannot be run on."""


def _checked_scores(scores: pd.DataFrame, min_models: int) -> pd.DataFrame:
    """Check a (folds x models) table: enough models and folds, numbers only, no missing cells."""
    if not isinstance(scores, pd.DataFrame):
        raise StatisticsError("scores must be a pandas DataFrame with folds as rows and models as columns")
    if scores.shape[1] < min_models:
        raise StatisticsError(f"need at least {min_models} models (columns), got {scores.shape[1]}")
    if scores.shape[0] < 2:
        raise StatisticsError(f"need at least 2 folds (rows), got {scores.shape[0]}")
    values = scores.astype(float)
    if values.isna().any().any():
        raise StatisticsError("scores contain missing values: keep only the folds every model has a score for")
    return values


def average_ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Mean rank of each model over folds; rank 1 is the best model of a fold, ties share the mean rank.

    ``scores``: (folds x models). Returns a Series indexed by model, sorted best first.
    """
    from scipy.stats import rankdata

    values = _checked_scores(scores, 2).to_numpy()
    ranks = rankdata(-values if higher_is_better else values, axis=1, method="average")
    return pd.Series(ranks.mean(axis=0), index=scores.columns, name="average_rank").sort_values()


def critical_difference(n_models: int, n_folds: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference in average ranks (Demšar 2006).

    CD = q_alpha * sqrt(k (k + 1) / (6 N)) for k models and N folds, where q_alpha is the
    upper-alpha quantile of the studentized range for k groups and infinite degrees of freedom,
    divided by sqrt(2). Two models whose average ranks differ by more than CD differ significantly.
    For k = 5, N = 10, alpha = 0.05: q_alpha = 2.728, CD = 1.93 ranks.
    """
    from scipy.stats import studentized_range

    if n_models < 2 or n_folds < 1:
        raise StatisticsError(f"need at least 2 models and 1 fold, got {n_models} models and {n_folds} folds")
    if not 0.0 < alpha < 1.0:
        raise StatisticsError(f"alpha must lie in (0, 1), got {alpha}")
    q_alpha = studentized_range.ppf(1.0 - alpha, n_models, np.inf) / math.sqrt(2.0)
    return float(q_alpha * math.sqrt(n_models * (n_models + 1) / (6.0 * n_folds)))


def cliques(ranks: pd.Series, cd: float) -> list[list[str]]:
    """Groups of models that a critical-difference diagram joins with a bar.

    ``ranks``: average rank per model. A clique is a maximal run of models, in rank order, whose
    first and last ranks differ by no more than ``cd``; runs contained in another run and single
    models are left out. Returns lists of model names, best ranked first.
    """
    ordered = ranks.sort_values()
    names, values = list(ordered.index), ordered.to_numpy()
    runs: list[tuple[int, int]] = []
    for start in range(len(names)):
        end = start
        while end + 1 < len(names) and values[end + 1] - values[start] <= cd:
            end += 1
        if end > start and not any(s <= start and end <= e for s, e in runs):
            runs.append((start, end))
    return [[str(n) for n in names[s : e + 1]] for s, e in runs]


def friedman(scores: pd.DataFrame) -> tuple[float, float]:
    """Friedman chi-square statistic and p-value over (folds x models) scores; needs >= 3 models.

    When every fold scores all models equally the statistic is 0/0 in scipy; it is reported as
    0 with p = 1 (no evidence of any difference).
    """
    from scipy.stats import friedmanchisquare

    values = _checked_scores(scores, 3)
    if (values.nunique(axis=1) == 1).all():
        return 0.0, 1.0
    result = friedmanchisquare(*(values[column].to_numpy() for column in values.columns))
    return float(result.statistic), float(result.pvalue)


def nemenyi(scores: pd.DataFrame) -> pd.DataFrame:
    """Nemenyi post-hoc p-values (models x models, symmetric, 1 on the diagonal) via scikit-posthocs."""
    import scikit_posthocs

    values = _checked_scores(scores, 2)
    table = scikit_posthocs.posthoc_nemenyi_friedman(values.to_numpy())
    table.index = table.columns = list(values.columns)
    return table


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (same order as given), via statsmodels."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return multipletests(p, method="holm")[1]


def corrected_resampled_ttest(
    scores_a: np.ndarray, scores_b: np.ndarray, test_train_ratio: float
) -> tuple[float, float, int]:
    """Nadeau–Bengio corrected resampled t-test of paired fold scores; returns (t, two-sided p, df).

    With d_j = a_j - b_j over n folds: t = mean(d) / sqrt((1/n + n_test/n_train) * var(d)), var
    with ddof 1, df = n - 1. ``test_train_ratio`` is n_test / n_train (about 1/9 for 10-fold CV).
    When every difference is the same, var is 0: t is 0 with p = 1 if the mean is 0, else infinite
    with p = 0.
    """
    from scipy.stats import t as student_t

    a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise StatisticsError("need two equally long 1-D score vectors with at least 2 folds")
    if not test_train_ratio > 0.0:
        raise StatisticsError(f"test_train_ratio (n_test / n_train) must be positive, got {test_train_ratio}")
    diff = a - b
    n = diff.size
    mean, variance = diff.mean(), diff.var(ddof=1)
    df = n - 1
    if variance == 0.0:
        return (0.0, 1.0, df) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0, df)
    t = mean / math.sqrt((1.0 / n + test_train_ratio) * variance)
    return float(t), float(2.0 * student_t.sf(abs(t), df)), df


def _pairs(columns: pd.Index) -> list[tuple[str, str]]:
    return [(str(a), str(b)) for a, b in itertools.combinations(columns, 2)]


def wilcoxon_holm(scores: pd.DataFrame) -> pd.DataFrame:
    """Pairwise two-sided Wilcoxon signed-rank tests over folds, Holm-corrected over all pairs.

    Returns one row per pair: ``model_a, model_b, mean_difference`` (a - b), ``statistic, p,
    p_holm``. A pair whose fold scores are all equal has no signed ranks: p = 1 (no evidence of a
    difference) and statistic NaN. Zero differences are dropped (scipy's ``zero_method="wilcox"``);
    scipy's ``method="auto"`` gives the exact null distribution without ties, and with ties and at
    most 13 folds an exact enumeration of all sign flips (about 0.1 s per pair on 2 cores).
    """
    from scipy.stats import wilcoxon

    values = _checked_scores(scores, 2)
    rows = []
    for a, b in _pairs(values.columns):
        diff = values[a].to_numpy() - values[b].to_numpy()
        if np.all(diff == 0.0):
            statistic, p = math.nan, 1.0
        else:
            result = wilcoxon(values[a].to_numpy(), values[b].to_numpy(), zero_method="wilcox")
            statistic, p = float(result.statistic), float(result.pvalue)
        rows.append({"model_a": a, "model_b": b, "mean_difference": float(diff.mean()), "statistic": statistic, "p": p})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    return table


def corrected_ttests(scores: pd.DataFrame, test_train_ratio: float) -> pd.DataFrame:
    """Pairwise Nadeau–Bengio corrected t-tests (see ``corrected_resampled_ttest``), Holm-corrected.

    Returns one row per pair: ``model_a, model_b, mean_difference, t, df, p, p_holm``.
    """
    values = _checked_scores(scores, 2)
    rows = []
    for a, b in _pairs(values.columns):
        t, p, df = corrected_resampled_ttest(values[a].to_numpy(), values[b].to_numpy(), test_train_ratio)
        mean_difference = float((values[a] - values[b]).mean())
        rows.append({"model_a": a, "model_b": b, "mean_difference": mean_difference, "t": t, "df": df, "p": p})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    return table


@dataclass
class Comparison:
    """Everything ``compare_models`` found for one metric. p-values are optimistic: see ``caveat``.

    ``friedman_*``, ``nemenyi_p``, ``critical_difference`` and ``cliques`` are None when fewer
    than 3 models are compared, and ``corrected_t`` when n_test / n_train is unknown; ``skipped``
    says why.
    """

    models: list[str]
    folds: list[int | str]
    alpha: float
    higher_is_better: bool
    test_train_ratio: float | None
    average_ranks: pd.Series
    wilcoxon: pd.DataFrame
    corrected_t: pd.DataFrame | None
    friedman_statistic: float | None = None
    friedman_p: float | None = None
    nemenyi_p: pd.DataFrame | None = None
    critical_difference: float | None = None
    cliques: list[list[str]] | None = None
    skipped: list[str] = field(default_factory=list)
    caveat: str = CAVEAT

    def cd_diagram(self) -> dict:
        """Data for a critical-difference diagram: ``{"ranks": {model: rank}, "cd", "cliques", "alpha"}``."""
        return {
            "ranks": {str(k): float(v) for k, v in self.average_ranks.items()},
            "cd": self.critical_difference,
            "cliques": self.cliques,
            "alpha": self.alpha,
        }

    def to_dict(self) -> dict:
        """A JSON-ready dict (tables as lists of records, Nemenyi as nested dicts)."""
        return {
            "models": self.models,
            "folds": self.folds,
            "n_folds": len(self.folds),
            "alpha": self.alpha,
            "higher_is_better": self.higher_is_better,
            "test_train_ratio": self.test_train_ratio,
            "friedman": {"statistic": self.friedman_statistic, "p": self.friedman_p},
            "average_ranks": {str(k): float(v) for k, v in self.average_ranks.items()},
            "critical_difference": self.critical_difference,
            "cliques": self.cliques,
            "nemenyi_p": None if self.nemenyi_p is None else self.nemenyi_p.to_dict(),
            "wilcoxon_holm": self.wilcoxon.to_dict(orient="records"),
            "corrected_t": None if self.corrected_t is None else self.corrected_t.to_dict(orient="records"),
            "skipped": self.skipped,
            "caveat": self.caveat,
        }


def compare_models(
    scores: pd.DataFrame, test_train_ratio: float | None, alpha: float = 0.05, higher_is_better: bool = True
) -> Comparison:
    """Run every test of docs/PROTOCOL.md#statistical-tests on a (folds x models) score table.

    ``test_train_ratio`` = n_test / n_train of the folds (mean over folds) for the corrected
    t-test; None skips that test. ``higher_is_better`` only decides which end rank 1 is (False for
    epochs or Brier). Friedman and Nemenyi need >= 3 models; with 2 they are skipped. ``skipped``
    lists what was not run and why.
    """
    values = _checked_scores(scores, 2)
    comparison = Comparison(
        models=[str(c) for c in values.columns],
        folds=list(values.index),
        alpha=alpha,
        higher_is_better=higher_is_better,
        test_train_ratio=None if test_train_ratio is None else float(test_train_ratio),
        average_ranks=average_ranks(values, higher_is_better),
        wilcoxon=wilcoxon_holm(values),
        corrected_t=None if test_train_ratio is None else corrected_ttests(values, test_train_ratio),
    )
    if test_train_ratio is None:
        comparison.skipped.append("corrected t-test skipped: n_test / n_train unknown (no fold sizes)")
    if values.shape[1] < 3:
        comparison.skipped.append("Friedman and Nemenyi need at least 3 models; only the pairwise tests were run")
        return comparison
    comparison.friedman_statistic, comparison.friedman_p = friedman(values)
    comparison.nemenyi_p = nemenyi(values)
    comparison.critical_difference = critical_difference(values.shape[1], values.shape[0], alpha)
    comparison.cliques = cliques(comparison.average_ranks, comparison.critical_difference)
    return comparison


def paper_claim_verdict(comparison: Comparison) -> str:
    """One sentence setting ``comparison`` (the pretrained models on one metric) against the paper's
    claim of no significant difference among the four at p = 0.05, by the Friedman test."""
    missing = [m for m in PRETRAINED_MODELS if m not in comparison.models]
    among = f"these {len(comparison.models)} models" + (f" (without {', '.join(missing)})" if missing else "")
    if comparison.friedman_p is None:
        return (
            f"The paper found no significant difference among the four pretrained models; {among} are too "
            "few for the Friedman test."
        )
    significant = comparison.friedman_p < comparison.alpha
    p_text = f"{comparison.friedman_p:.3g}"
    return (
        f"The paper found no significant difference among the four pretrained models at p = 0.05. Here, among "
        f"{among}, Friedman p = {p_text} at α = {comparison.alpha}: "
        + ("a significant difference, unlike the paper." if significant else "no significant difference either.")
        + " (p-values are optimistic: see the caveat.)"
    )
