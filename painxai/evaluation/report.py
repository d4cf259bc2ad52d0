"""The report of a cross-validation run: Table 2, per-fold scores, calibration and statistics.

``build_report(run_dir)`` reads the run through :class:`painxai.runs.reader.Run`: for every healthy
finished fold (``DONE`` present, files intact; damaged ones are skipped and listed) it recomputes the
fold's metrics from ``predictions.csv`` with ``evaluation.fold_metrics`` (one source of truth, and a check on
``metrics.json``) and takes the epochs from ``metrics.json``. Folds without ``DONE`` are never
read, so a run still in progress gives a partial report that says how many folds each model has.

Table 2 comes twice: under the standard definitions (F1 with pain positive, AUC from the probabilities; the
statistics use these) and under the paper's, as inferred from its numbers (F1 with no pain positive, AUC from
the 0/1 predictions; docs/PROTOCOL.md#metrics). Every comparison with the paper's Table 2 uses the latter.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from painxai.errors import PainxaiError
from painxai.evaluation import metrics as evaluation
from painxai.evaluation import stats
from painxai.labels import PAIN_THRESHOLD
from painxai.models import SPECS
from painxai.runs import layout
from painxai.runs.layout import RunError
from painxai.runs.reader import Run

# Coutrin & Thomaz 2022, Table 2 (docs/PROTOCOL.md#results): (mean, std) over 10 folds; accuracy, F1, AUC in %.
# Each model's row is declared in its spec (``ModelSpec.paper_table2``); models the paper lacks have none.
PAPER_TABLE2: dict[str, dict[str, tuple[float, float]]] = {
    name: dict(spec.paper_table2) for name, spec in SPECS.items() if spec.paper_table2 is not None
}
TABLE2_METRICS = ("accuracy", "f1", "auc", "epochs")
PERCENT_METRICS = ("accuracy", "f1", "auc")
PER_FOLD_COLUMNS = (
    "model", "fold", "n", "accuracy", "f1", "auc", "f1_nopain", "auc_hard", "precision", "recall", "specificity",
    "brier", "ece", "epochs",
)  # fmt: skip
# Only epochs is "better when lower" in the sense of ranking: fewer epochs = rank 1.
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "auc": True, "epochs": False}
METRIC_LABELS = {
    "accuracy": "Accuracy (%)", "f1": "F1, pain positive (%)", "auc": "AUC from P(pain) (%)", "epochs": "Epochs",
}  # fmt: skip
# Table 2 as the paper computed it, as far as its numbers tell (docs/PROTOCOL.md#metrics, an inference): per-fold
# column read for each Table-2 metric, and its label.
PAPER_DEFINITIONS = {"accuracy": "accuracy", "f1": "f1_nopain", "auc": "auc_hard", "epochs": "epochs"}
PAPER_METRIC_LABELS = {
    "accuracy": "Accuracy (%)", "f1": "F1, no pain positive (%)", "auc": "AUC from 0/1 predictions (%)",
    "epochs": "Epochs",
}  # fmt: skip
#: The definitions in words, for every report that shows Table 2.
DEFINITIONS_TEXT = {
    "table2": "standard definitions: F1 with pain as the positive class, AUC from the pain probabilities",
    "table2_paper_definitions": "the paper's definitions as inferred from its Table 2 (docs/PROTOCOL.md#metrics): "
    f"F1 with no pain as the positive class, AUC from the 0/1 predictions (threshold {PAIN_THRESHOLD}), which equals "
    "the balanced accuracy",
}
# The per-fold CSV: the paper's Table-2 columns first, every column named after its definition.
CSV_COLUMNS = {
    "model": "model", "fold": "fold", "n": "n", "accuracy": "accuracy", "f1_nopain": "f1_paper_nopain_positive",
    "auc_hard": "auc_paper_from_predictions", "epochs": "epochs", "f1": "f1_pain_positive",
    "auc": "auc_from_probabilities", "precision": "precision_pain", "recall": "recall_pain",
    "specificity": "specificity", "brier": "brier", "ece": "ece",
}  # fmt: skip
CONSISTENCY_TOLERANCE = 1e-6
class ReportError(PainxaiError):
    """A run folder that cannot be reported on."""


def _as_float(value: float | None) -> float:
    """A metrics.json number, with null (written for NaN by strict writers) read as NaN."""
    return math.nan if value is None else float(value)


def _total_images(root: Path) -> int | None:
    """Images in the whole cross-validation: from folds.json test sizes, else the run's manifest.csv;
    None when the run has neither."""
    run = Run(root)
    if (run.path / layout.FOLDS).is_file():
        sizes = [fold.get("test_images") for fold in run.folds()["folds"]]
        if all(isinstance(s, int) for s in sizes):
            return int(sum(sizes))
    if (run.path / layout.MANIFEST).is_file():
        return len(run.manifest())
    return None


def _expected_folds(run: Run) -> int | None:
    """k of the run's folds.json, or None when the run has none."""
    return int(run.folds()["k"]) if (run.path / layout.FOLDS).is_file() else None


def _mean_std(values: pd.Series) -> tuple[float, float]:
    """Mean and sample std (ddof 1) of the defined values; NaN where there are too few."""
    defined = values.dropna().to_numpy(dtype=float)
    mean = float(defined.mean()) if defined.size else math.nan
    std = float(defined.std(ddof=1)) if defined.size > 1 else math.nan
    return mean, std


@dataclass
class Report:
    """The report of one run. Fractions in ``per_fold``; Table 2 in % (accuracy, F1, AUC) as in the paper.

    ``per_fold``: one row per (model, finished fold), columns ``PER_FOLD_COLUMNS``.
    ``table2``: index model; ``n_folds`` and ``<metric>_mean``, ``<metric>_std`` (std with ddof 1), standard
    definitions (F1 pain positive, AUC from probabilities). ``table2_paper``: the same table under the paper's
    definitions (:data:`PAPER_DEFINITIONS`: F1 no pain positive, AUC from the 0/1 predictions).
    ``calibration``: index model; Brier and ECE as fold mean and std, and pooled over all the
    model's out-of-fold predictions (``*_pooled``). ``statistics``: per metric a
    ``stats.Comparison``; ``statistics_skipped``: per metric the reason it was not compared.
    ``skipped_folds``: one line per damaged file of a finished fold left out (also in ``notes``).
    ``statistics_pretrained`` / ``statistics_pretrained_skipped``: the same over the pretrained models
    only (``stats.PRETRAINED_MODELS``), the set the paper's claim of no significant difference is about.
    """

    run_dir: Path
    folds_expected: int | None
    folds_finished: dict[str, list[int]]
    per_fold: pd.DataFrame
    table2: pd.DataFrame
    calibration: pd.DataFrame
    statistics: dict[str, stats.Comparison]
    statistics_skipped: dict[str, str]
    notes: list[str] = field(default_factory=list)
    caveat: str = stats.CAVEAT
    skipped_folds: list[str] = field(default_factory=list)
    statistics_pretrained: dict[str, stats.Comparison] = field(default_factory=dict)
    statistics_pretrained_skipped: dict[str, str] = field(default_factory=dict)
    table2_paper: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def models(self) -> list[str]:
        """Models with at least one finished fold, in report order."""
        return [m for m, folds in self.folds_finished.items() if folds]

    def progress(self) -> dict[str, str]:
        """Per model "finished/expected" folds, e.g. ``{"vgg16": "7/10"}`` ("7/?" without folds.json)."""
        expected = "?" if self.folds_expected is None else str(self.folds_expected)
        return {m: f"{len(folds)}/{expected}" for m, folds in self.folds_finished.items()}

    def to_csv(self) -> str:
        """The per-fold table as CSV (metrics as fractions in [0, 1], epochs as counts): the paper's Table-2
        columns first under its definitions (``f1_paper_nopain_positive``, ``auc_paper_from_predictions``), then
        the standard ones (``f1_pain_positive``, ``auc_from_probabilities``, ...); see :data:`CSV_COLUMNS`."""
        frame = self.per_fold[list(CSV_COLUMNS)].rename(columns=CSV_COLUMNS)
        return frame.to_csv(index=False, float_format="%.6g")

    def to_json(self) -> str:
        """The whole report as strict JSON (NaN written as null).

        Keys: ``run``, ``folds_expected``, ``progress``, ``per_fold`` (rows with ``model``, ``fold``,
        ``accuracy``, ``f1``, ``auc``, ``epochs`` and the other ``PER_FOLD_COLUMNS``), ``table2``
        (rows with ``model``, ``n_folds``, ``<metric>_mean``, ``<metric>_std``), ``table2_paper_definitions``
        (the same rows under the paper's definitions), ``definitions`` (both in words), ``units``,
        ``calibration``, ``statistics`` (per metric the comparison or ``{"skipped": reason}``),
        ``statistics_pretrained`` (the same over the pretrained models only, with the ``verdict`` on the
        paper's claim), ``paper_table2``, ``notes``, ``caveat``.
        """
        statistics_json: dict[str, dict] = {m: c.to_dict() for m, c in self.statistics.items()}
        statistics_json.update({m: {"skipped": reason} for m, reason in self.statistics_skipped.items()})
        pretrained_json: dict[str, dict] = {
            m: {**c.to_dict(), "verdict": stats.paper_claim_verdict(c)}
            for m, c in self.statistics_pretrained.items()
        }
        pretrained_json.update({m: {"skipped": reason} for m, reason in self.statistics_pretrained_skipped.items()})
        document = {
            "run": str(self.run_dir),
            "folds_expected": self.folds_expected,
            "progress": self.progress(),
            "per_fold": self.per_fold.to_dict(orient="records"),
            "table2": self.table2.reset_index().to_dict(orient="records"),
            "table2_paper_definitions": self.table2_paper.reset_index().to_dict(orient="records"),
            "definitions": DEFINITIONS_TEXT,
            "units": {"per_fold": "fractions in [0, 1]; epochs as counts", "table2": "% for accuracy, f1, auc"},
            "calibration": self.calibration.reset_index().to_dict(orient="records"),
            "statistics": statistics_json,
            "statistics_pretrained": pretrained_json,
            "paper_table2": {m: {k: list(v) for k, v in row.items()} for m, row in PAPER_TABLE2.items()},
            "notes": self.notes,
            "caveat": self.caveat,
        }
        return json.dumps(evaluation.json_safe(document), indent=2, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """A readable report: progress, Table 2 under the paper's definitions beside the paper's, Table 2 under
        the standard definitions, calibration, per-fold scores, statistics."""
        lines = [f"# Report for run `{self.run_dir}`", ""]
        lines.append("Finished folds: " + ", ".join(f"{m} {p}" for m, p in self.progress().items()) + ".")
        lines += ["", "## Table 2 under the paper's definitions: mean ± std over folds", ""]
        lines += [f"{_capitalised(DEFINITIONS_TEXT['table2_paper_definitions'])}.", ""]
        lines += _markdown_table2(self.table2_paper, PAPER_METRIC_LABELS)
        paper = [m for m in self.table2_paper.index if m in PAPER_TABLE2]
        if paper:
            lines += ["", "The paper's Table 2 (Coutrin & Thomaz 2022) for the same models:", ""]
            lines += _markdown_table(
                ["model", *(PAPER_METRIC_LABELS[m] for m in TABLE2_METRICS)],
                [[m, *("{:g} ± {:g}".format(*PAPER_TABLE2[m][k]) for k in TABLE2_METRICS)] for m in paper],
            )
        lines += ["", "## Table 2 under the standard definitions: mean ± std over folds", ""]
        lines += [f"{_capitalised(DEFINITIONS_TEXT['table2'])}; the statistics below use these.", ""]
        lines += _markdown_table2(self.table2, METRIC_LABELS)
        lines += ["", "## Calibration (pain probability; ECE on 10 equal-width bins)", ""]
        lines += _markdown_table(
            ["model", "Brier (fold mean ± std)", "ECE (fold mean ± std)", "Brier (pooled)", "ECE (pooled)"],
            [
                [
                    model,
                    _pm(row["brier_mean"], row["brier_std"], digits=3),
                    _pm(row["ece_mean"], row["ece_std"], digits=3),
                    _number(row["brier_pooled"], 3),
                    _number(row["ece_pooled"], 3),
                ]
                for model, row in self.calibration.iterrows()
            ],
        )
        lines += ["", "## Per fold (%; epochs as counts)", ""]
        fold_columns = ("accuracy", "f1_nopain", "auc_hard", "f1", "auc")
        lines += _markdown_table(
            ["model", "fold", "images", "accuracy", "F1 no pain + (paper)", "AUC 0/1 (paper)", "F1 pain +",
             "AUC P(pain)", "epochs"],
            [
                [
                    row.model,
                    str(row.fold),
                    str(row.n),
                    *(_number(100 * getattr(row, m), 1) for m in fold_columns),
                    str(row.epochs),
                ]
                for row in self.per_fold.itertuples()
            ],
        )  # fmt: skip
        lines += ["", "## Statistics", ""]
        for metric in TABLE2_METRICS:
            lines += [f"### {METRIC_LABELS[metric]}", ""]
            if metric in self.statistics_skipped:
                lines += [f"Skipped: {self.statistics_skipped[metric]}", ""]
                continue
            lines += _markdown_comparison(self.statistics[metric], percent=metric in PERCENT_METRICS)
        lines += ["## Statistics among the pretrained models (the paper's claim)", ""]
        lines += [
            f"Models: {', '.join(stats.PRETRAINED_MODELS)}, the four the paper fine-tuned from pretrained "
            "bases, whatever weights this run started from; N-CNN, trained from scratch there, left out.",
            "",
        ]
        for metric in TABLE2_METRICS:
            lines += [f"### {METRIC_LABELS[metric]}, pretrained models", ""]
            if metric in self.statistics_pretrained_skipped:
                lines += [f"Skipped: {self.statistics_pretrained_skipped[metric]}", ""]
                continue
            comparison = self.statistics_pretrained[metric]
            lines += [stats.paper_claim_verdict(comparison), ""]
            lines += _markdown_comparison(comparison, percent=metric in PERCENT_METRICS)
        if self.notes:
            lines += ["## Notes", "", *(f"- {note}" for note in self.notes), ""]
        lines += ["## Caveat", "", self.caveat, ""]
        return "\n".join(lines)


def _number(value: float, digits: int) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _pm(mean: float, std: float, digits: int = 1) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if not math.isfinite(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _markdown_table2(table2: pd.DataFrame, labels: dict[str, str]) -> list[str]:
    """Table 2 (``Report.table2`` or ``table2_paper``) as markdown rows, headed with ``labels``."""
    return _markdown_table(
        ["model", "folds", *(labels[m] for m in TABLE2_METRICS)],
        [
            [model, str(int(row["n_folds"])), *(_pm(row[f"{m}_mean"], row[f"{m}_std"]) for m in TABLE2_METRICS)]
            for model, row in table2.iterrows()
        ],
    )


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _markdown_comparison(comparison: stats.Comparison, percent: bool) -> list[str]:
    """One metric's statistics as markdown: Friedman, ranks with CD and cliques, then the pairwise tests."""
    lines = [f"Compared on {len(comparison.folds)} folds finished by every model: {comparison.folds}.", ""]
    if comparison.friedman_statistic is not None:
        lines.append(
            f"Friedman χ² = {comparison.friedman_statistic:.3f}, p = {_p(comparison.friedman_p)}; "
            f"Nemenyi critical difference = {comparison.critical_difference:.2f} ranks (α = {comparison.alpha})."
        )
    lines.append(
        "Average ranks (1 = " + ("best" if comparison.higher_is_better else "fewest")
        + "): " + ", ".join(f"{m} {r:.2f}" for m, r in comparison.average_ranks.items()) + "."
    )  # fmt: skip
    if comparison.cliques is not None:
        joined = "; ".join("{" + ", ".join(c) + "}" for c in comparison.cliques) or "none"
        lines.append(f"Groups not significantly different (Nemenyi): {joined}.")
    lines += comparison.skipped
    # One statement per paragraph: markdown would run consecutive lines together.
    lines = [part for line in lines for part in (line, "") if line][:-1]
    unit = " (pp)" if percent else ""
    header = ["pair", f"mean difference{unit}", "Nemenyi p", "Wilcoxon p (Holm)", "corrected t", "t-test p (Holm)"]
    ttests = {} if comparison.corrected_t is None else {
        (row.model_a, row.model_b): row for row in comparison.corrected_t.itertuples()
    }  # fmt: skip
    rows = []
    for wilcoxon in comparison.wilcoxon.itertuples():
        pair = (wilcoxon.model_a, wilcoxon.model_b)
        nemenyi = None if comparison.nemenyi_p is None else comparison.nemenyi_p.loc[pair]
        ttest = ttests.get(pair)
        rows.append(
            [
                f"{wilcoxon.model_a} vs {wilcoxon.model_b}",
                f"{wilcoxon.mean_difference:+.2f}",
                _p(nemenyi),
                _p(wilcoxon.p_holm),
                "n/a" if ttest is None else _number(ttest.t, 2),
                "n/a" if ttest is None else _p(ttest.p_holm),
            ]
        )
    return [*lines, "", *_markdown_table(header, rows), ""]


def build_report(run_dir: str | os.PathLike[str], alpha: float = 0.05) -> Report:
    """Read the finished folds of ``run_dir`` and compute Table 2, calibration and statistics.

    Statistics compare, per metric, every model with finished folds on the folds all of them have
    finished (and where the metric is defined); they need at least 2 models and 2 such folds,
    else ``statistics_skipped`` says why. Folds are read through :class:`painxai.runs.reader.Run`:
    damaged finished folds are left out and listed in ``skipped`` (and the notes). Raises
    :class:`painxai.runs.layout.RunError` when the folder is not a readable run and :class:`ReportError`
    when no fold is finished and healthy.
    """
    root = Path(run_dir)
    run = Run(root)  # RunError (exit 2 in the CLI) when the folder is not a run or its run.json is bad
    health = run.health()
    folds_finished = {m: health.healthy.get(m, []) for m in run.models(include_unfinished=True)}
    damaged = [f"skipped {problem.describe()}" for problem in health.problems]
    if not any(folds_finished.values()):
        damage = "".join(f"; {line}" for line in damaged)
        raise ReportError(f"{root}: no finished fold yet (a fold is finished when its folder holds DONE){damage}")
    notes: list[str] = list(damaged)
    rows: list[dict] = []
    pooled: dict[str, list[pd.DataFrame]] = {}
    for model, folds in folds_finished.items():
        for fold in folds:
            predictions, stored = run.fold_predictions(model, fold), run.fold_metrics_json(model, fold)
            try:
                metrics = evaluation.fold_metrics(
                    predictions["label"].to_numpy(),
                    predictions["prob_pain"].to_numpy(),
                    epochs=stored["epochs"],
                    threshold=float(stored.get("threshold", PAIN_THRESHOLD)),
                )
            except evaluation.MetricsError as error:
                path = layout.fold_dir(root, model, fold) / layout.PREDICTIONS
                raise RunError(f"{path}: {error}; fix the file or train the fold again") from error
            rows.append({"model": model, "fold": fold, **{c: metrics[c] for c in PER_FOLD_COLUMNS[2:]}})
            notes += [f"{model} fold {fold}: {note}" for note in metrics["notes"]]
            for key in PERCENT_METRICS:
                if key in stored and not _agree(_as_float(stored[key]), metrics[key]):
                    notes.append(
                        f"{model} fold {fold}: metrics.json says {key} = {stored[key]} but predictions.csv "
                        f"gives {metrics[key]:.6f}; the report uses predictions.csv"
                    )
            pooled.setdefault(model, []).append(predictions[["label", "prob_pain"]])
    per_fold = pd.DataFrame(rows, columns=list(PER_FOLD_COLUMNS))
    folds_expected = _expected_folds(run)
    unfinished = {m: f for m, f in folds_finished.items() if folds_expected is not None and len(f) < folds_expected}
    if unfinished:
        notes.append(
            "run in progress or incomplete: " + ", ".join(f"{m} has {len(f)}" for m, f in unfinished.items())
            + f" of {folds_expected} folds finished; the report covers finished folds only"
        )  # fmt: skip
    comparisons, skipped = _compare(root, per_fold, alpha, notes)
    pretrained, pretrained_skipped = _compare_pretrained(root, per_fold, alpha, notes)
    return Report(
        run_dir=root,
        folds_expected=folds_expected,
        folds_finished=folds_finished,
        per_fold=per_fold,
        table2=_table2(per_fold),
        table2_paper=_table2(per_fold, PAPER_DEFINITIONS),
        calibration=_calibration(per_fold, pooled),
        statistics=comparisons,
        statistics_skipped=skipped,
        notes=notes,
        skipped_folds=damaged,
        statistics_pretrained=pretrained,
        statistics_pretrained_skipped=pretrained_skipped,
    )


def _agree(stored: float, computed: float) -> bool:
    if math.isnan(stored) or math.isnan(computed):
        return math.isnan(stored) and math.isnan(computed)
    return abs(stored - computed) <= CONSISTENCY_TOLERANCE


def _table2(per_fold: pd.DataFrame, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Mean ± std per model; accuracy, F1, AUC in %. ``columns``: the per-fold column each Table-2 metric
    is read from (default: the metric's own column, the standard definitions)."""
    records = {}
    for model, group in per_fold.groupby("model", sort=False):
        record: dict[str, float] = {"n_folds": len(group)}
        for metric in TABLE2_METRICS:
            scale = 100.0 if metric in PERCENT_METRICS else 1.0
            column = (columns or {}).get(metric, metric)
            record[f"{metric}_mean"], record[f"{metric}_std"] = _mean_std(group[column].astype(float) * scale)
        records[model] = record
    return pd.DataFrame.from_dict(records, orient="index").rename_axis("model")


def _calibration(per_fold: pd.DataFrame, pooled: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """Brier and ECE per model: fold mean ± std, and on all the model's out-of-fold predictions at once."""
    from sklearn.metrics import brier_score_loss

    records = {}
    for model, group in per_fold.groupby("model", sort=False):
        everything = pd.concat(pooled[model], ignore_index=True)
        labels = evaluation.binary_labels(everything["label"].to_numpy())
        probabilities = everything["prob_pain"].to_numpy(dtype=float)
        record: dict[str, float] = {}
        record["brier_mean"], record["brier_std"] = _mean_std(group["brier"])
        record["ece_mean"], record["ece_std"] = _mean_std(group["ece"])
        record["brier_pooled"] = float(brier_score_loss(labels, probabilities, pos_label=1))
        record["ece_pooled"] = evaluation.expected_calibration_error(labels, probabilities)
        record["n_images"] = len(everything)
        records[model] = record
    return pd.DataFrame.from_dict(records, orient="index").rename_axis("model")


def _test_train_ratio(root: Path, per_fold: pd.DataFrame, folds: list[int], notes: list[str]) -> float | None:
    """Mean n_test / n_train over ``folds``: n_test = the fold's predictions, n_train = all other images.

    n_train counts the fold's validation subjects too: they are part of what the training
    procedure receives (early stopping uses them). None when the run has no folds.json or manifest.csv.
    """
    total = _total_images(root)
    if total is None:
        return None
    sizes = per_fold[per_fold["fold"].isin(folds)].groupby("fold")["n"]
    if (sizes.nunique() > 1).any():
        notes.append("models disagree on the number of test images of some folds; the t-test uses the largest")
    n_test = sizes.max().to_numpy(dtype=float)
    if np.any(n_test >= total):
        raise ReportError(f"{root}: a fold has {int(n_test.max())} test images but the run has only {total} images")
    return float(np.mean(n_test / (total - n_test)))


def _compare_pretrained(
    root: Path, per_fold: pd.DataFrame, alpha: float, notes: list[str]
) -> tuple[dict[str, stats.Comparison], dict[str, str]]:
    """:func:`_compare` over the pretrained models' folds only; its notes join ``notes`` unless already there."""
    rows = per_fold[per_fold["model"].isin(stats.PRETRAINED_MODELS)]
    if rows.empty:
        return {}, dict.fromkeys(TABLE2_METRICS, "no pretrained model has finished folds")
    own_notes: list[str] = []
    result = _compare(root, rows, alpha, own_notes)
    notes += [note for note in own_notes if note not in notes]
    return result


def _compare(
    root: Path, per_fold: pd.DataFrame, alpha: float, notes: list[str]
) -> tuple[dict[str, stats.Comparison], dict[str, str]]:
    """Per Table-2 metric, the model comparison on common finished folds, or why it was skipped."""
    comparisons: dict[str, stats.Comparison] = {}
    skipped: dict[str, str] = {}
    models = list(dict.fromkeys(per_fold["model"]))
    if len(models) < 2:
        reason = f"statistics compare models and only {models[0]} has finished folds"
        return comparisons, dict.fromkeys(TABLE2_METRICS, reason)
    table_by_metric = {
        metric: per_fold.pivot(index="fold", columns="model", values=metric)[models].astype(float)
        for metric in TABLE2_METRICS
    }
    common = table_by_metric["accuracy"].dropna().index.tolist()
    if len(common) < 2:
        reason = f"the models share {len(common)} finished fold(s); the tests need at least 2"
        return comparisons, dict.fromkeys(TABLE2_METRICS, reason)
    ratio = _test_train_ratio(root, per_fold, common, notes)
    for metric, table in table_by_metric.items():
        scores = table.loc[common].dropna()
        if len(scores) < 2:
            skipped[metric] = f"{metric} is defined on {len(scores)} of the common folds; the tests need at least 2"
            continue
        if len(scores) < len(common):
            dropped = sorted(set(common) - set(scores.index))
            notes.append(f"{metric} statistics leave out fold(s) {dropped}, where {metric} is undefined for some model")
        if metric in PERCENT_METRICS:
            scores = scores * 100.0
        comparisons[metric] = stats.compare_models(scores, ratio, alpha, HIGHER_IS_BETTER[metric])
    return comparisons, skipped
