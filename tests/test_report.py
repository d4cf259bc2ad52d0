"""Fold metrics, statistics and ``painxai report`` checked against scikit-learn / scipy computed here by hand."""

from __future__ import annotations

import itertools
import json
import math
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.runs import build_run
from scipy import stats as sps
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import accuracy_score, balanced_accuracy_score, brier_score_loss, f1_score, roc_auc_score
from typer.testing import CliRunner

from painxai.cli import app
from painxai.evaluation import metrics as evaluation
from painxai.evaluation import report, stats
from painxai.runs.reader import Run

MODELS = {"vgg16": 1.6, "resnet50": 1.2, "ncnn": 0.7}  # model -> separation of its pain scores (skill)
N_FOLDS = 10
TWO_MODELS = {"vgg16": 1.6, "ncnn": 0.7}  # for the edge cases: fewer pairs to test, faster


def _fold_labels(rng: np.random.Generator, fold: int) -> np.ndarray:
    """Labels of one fold's test images: 10-15 images, both classes."""
    size = 10 + fold % 6
    labels = rng.permutation(np.array(["pain"] * (size // 2) + ["nopain"] * (size - size // 2)))
    return labels


def _prob_pain(rng: np.random.Generator, labels: np.ndarray, skill: float) -> np.ndarray:
    """Noisy, imperfect probabilities: a logistic of a label-shifted normal score, rounded to 3 digits."""
    score = rng.normal(size=labels.size) + skill * np.where(labels == "pain", 1.0, -1.0)
    return np.round(1.0 / (1.0 + np.exp(-score)), 3)


def write_run(
    root: Path,
    models: dict[str, float] = MODELS,
    unfinished: tuple[tuple[str, int], ...] = (),
    one_class_fold: int | None = None,
    with_folds_json: bool = True,
) -> dict[tuple[str, int], pd.DataFrame]:
    """A fake run (:func:`helpers.runs.build_run`) with one subject of 10-15 images per fold and noisy
    predictions of the given skill; returns every finished fold's predictions (with its epochs).

    ``unfinished`` folds get files but no DONE (and a broken predictions.csv, so reading one would
    fail); ``one_class_fold`` holds pain images only; without ``with_folds_json`` the run has neither
    folds.json nor manifest.csv (no fold sizes).
    """
    rng = np.random.default_rng(7)
    labels_by_fold = [_fold_labels(rng, k) for k in range(N_FOLDS)]
    if one_class_fold is not None:
        labels_by_fold[one_class_fold] = np.array(["pain"] * 8)
    build_run(
        root, tuple(models), k=N_FOLDS, labels=labels_by_fold, unfinished=unfinished,
        probabilities=lambda model, fold, labels, _rng: _prob_pain(rng, labels, models[model]),
        epochs=lambda model, fold, _rng: int(20 + rng.integers(0, 30)),
    )  # fmt: skip
    if not with_folds_json:
        (root / "folds.json").unlink()
        (root / "manifest.csv").unlink()
    run = Run(root)
    return {
        (model, fold): run.fold_predictions(model, fold).assign(epochs=run.fold_metrics_json(model, fold)["epochs"])
        for model in run.models()
        for fold in run.finished_folds(model)
    }


def by_hand(written: dict[tuple[str, int], pd.DataFrame], metric: str) -> pd.DataFrame:
    """(folds x models) table of a metric computed directly with scikit-learn."""
    table: dict[str, dict[int, float]] = {}
    for (model, fold), frame in written.items():
        y, p = (frame["label"] == "pain").to_numpy(), frame["prob_pain"].to_numpy()
        if metric == "accuracy":
            value = accuracy_score(y, p >= 0.5)
        elif metric == "f1":
            value = f1_score(y, p >= 0.5)
        elif metric == "auc":
            value = roc_auc_score(y, p) if 0 < y.sum() < y.size else math.nan
        elif metric == "f1_nopain":  # the paper's F1: no pain positive
            value = f1_score(~y, p < 0.5)
        elif metric == "auc_hard":  # the paper's AUC: from the 0/1 predictions
            value = balanced_accuracy_score(y, p >= 0.5) if 0 < y.sum() < y.size else math.nan
        else:
            value = float(frame["epochs"].iloc[0])
        table.setdefault(model, {})[fold] = value
    return pd.DataFrame(table)


def holm_by_hand(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down: the i-th smallest p times (m - i), made monotone, capped at 1."""
    order = np.argsort(p_values)
    adjusted = np.empty_like(p_values)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, (len(p_values) - i) * p_values[index])
        adjusted[index] = min(1.0, running)
    return adjusted


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, report.Report]:
    root = tmp_path_factory.mktemp("run")
    written = write_run(root)
    return root, written, report.build_report(root)


# --- evaluation ---------------------------------------------------------------------------------------------


def test_fold_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.array(["pain"] * 17 + ["nopain"] * 23))
    prob = _prob_pain(rng, labels, 0.8)
    y = labels == "pain"
    metrics = evaluation.fold_metrics(labels, prob, epochs=31, threshold=0.4, fold=3)
    predicted = prob >= 0.4
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted))
    assert metrics["auc"] == pytest.approx(roc_auc_score(y, prob))
    assert metrics["brier"] == pytest.approx(brier_score_loss(y, prob))
    tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
    tn, fn = int((~predicted & ~y).sum()), int((~predicted & y).sum())
    assert metrics["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert metrics["precision"] == pytest.approx(tp / (tp + fp))
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["specificity"] == pytest.approx(tn / (tn + fp))
    # The paper's definitions: F1 of the no-pain class, and the AUC of the 0/1 predictions, which is the
    # balanced accuracy and here differs from the AUC of the probabilities.
    assert metrics["f1_nopain"] == pytest.approx(f1_score(~y, ~predicted)) != metrics["f1"]
    assert metrics["auc_hard"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    assert metrics["auc_hard"] == pytest.approx(roc_auc_score(y, predicted)) != pytest.approx(metrics["auc"])
    assert (metrics["n"], metrics["epochs"], metrics["fold"]) == (40, 31, 3)
    # The same metrics from 0/1 labels.
    assert evaluation.fold_metrics(y.astype(int), prob, epochs=31, threshold=0.4)["f1"] == metrics["f1"]
    roc = metrics["roc_points"]
    assert roc["thresholds"][0] is None and len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(metrics["auc"])


def test_calibration_curve_and_ece_by_hand() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=200)
    prob = np.round(rng.uniform(size=200), 1)  # many values exactly on bin edges
    curve = evaluation.calibration_curve(labels, prob)
    prob_true, prob_pred = sk_calibration_curve(labels, prob, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(curve["fraction_pain"], prob_true)
    np.testing.assert_allclose(curve["mean_prob"], prob_pred)
    ece = 0.0
    for b in range(10):
        low, high = b / 10, (b + 1) / 10
        inside = (prob <= high) & ((prob > low) if b else (prob >= low))
        if inside.any():
            ece += inside.sum() / prob.size * abs(labels[inside].mean() - prob[inside].mean())
    assert evaluation.expected_calibration_error(labels, prob) == pytest.approx(ece)
    assert sum(curve["count"]) == 200
    assert evaluation.expected_calibration_error([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]) == 0.0


def test_one_class_fold_gives_nan_auc_with_reason() -> None:
    metrics = evaluation.fold_metrics(["pain"] * 5, [0.9, 0.8, 0.3, 0.6, 0.7], epochs=12)
    assert math.isnan(metrics["auc"]) and metrics["roc_points"] is None
    assert any("only 'pain'" in note for note in metrics["notes"])
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert math.isnan(metrics["specificity"])
    strict = json.dumps(evaluation.json_safe(metrics), allow_nan=False)
    assert json.loads(strict)["auc"] is None


@pytest.mark.parametrize(
    ("labels", "prob", "epochs", "message"),
    [
        (["pain", "sore"], [0.1, 0.2], 3, "'pain' or 'nopain'"),
        ([0, 2], [0.1, 0.2], 3, r"0 \(no pain\) or 1"),
        ([0, 1], [0.1, 1.2], 3, r"\[0, 1\]"),
        ([0, 1], [0.1], 3, "shape"),
        ([0, 1], [0.1, 0.2], -1, "epochs"),
        ([], [], 3, "no predictions"),
    ],
)
def test_bad_input_is_refused(labels: list, prob: list, epochs: int, message: str) -> None:
    with pytest.raises(evaluation.MetricsError, match=message):
        evaluation.fold_metrics(labels, prob, epochs=epochs)


def test_extra_cannot_overwrite_a_metric() -> None:
    with pytest.raises(evaluation.MetricsError, match="overwrite"):
        evaluation.fold_metrics([0, 1], [0.2, 0.7], epochs=1, accuracy=1.0)


# --- statistics ---------------------------------------------------------------------------------------------


def test_critical_difference_matches_spec() -> None:
    assert stats.critical_difference(5, 10) == pytest.approx(1.93, abs=0.005)
    # Demšar 2006, Table 5: q_0.05 = 2.343 for k = 3.
    assert stats.critical_difference(3, 10) == pytest.approx(2.343 * math.sqrt(3 * 4 / 60), abs=1e-3)


def test_cliques_join_models_within_cd() -> None:
    ranks = pd.Series({"a": 1.0, "b": 1.5, "c": 2.4, "d": 3.9, "e": 4.2})
    assert stats.cliques(ranks, 1.0) == [["a", "b"], ["b", "c"], ["d", "e"]]
    assert stats.cliques(ranks, 0.1) == []


def test_corrected_ttest_reduces_to_paired_t_and_inflates_variance() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.7, 0.9, 10), rng.uniform(0.65, 0.85, 10)
    paired = sps.ttest_rel(a, b)
    t, p, df = stats.corrected_resampled_ttest(a, b, 1e-12)
    assert (t, p, df) == (pytest.approx(paired.statistic), pytest.approx(paired.pvalue), 9)
    t_corrected, p_corrected, _ = stats.corrected_resampled_ttest(a, b, 1 / 9)
    assert t_corrected == pytest.approx(paired.statistic / math.sqrt(1 + 10 / 9))
    assert p_corrected == pytest.approx(2 * sps.t.sf(abs(t_corrected), 9)) and p_corrected > paired.pvalue


def test_two_models_skip_friedman_but_run_pairwise() -> None:
    scores = pd.DataFrame({"x": [0.8, 0.7, 0.9, 0.85], "y": [0.7, 0.7, 0.8, 0.75]})
    comparison = stats.compare_models(scores, 0.1)
    assert comparison.friedman_p is None and comparison.critical_difference is None
    assert "at least 3 models" in comparison.skipped[0]
    assert len(comparison.wilcoxon) == len(comparison.corrected_t) == 1
    with pytest.raises(stats.StatisticsError, match="missing"):
        stats.compare_models(scores.assign(y=[0.7, np.nan, 0.8, 0.75]), 0.1)


def test_identical_models_show_no_difference() -> None:
    scores = pd.DataFrame({"a": [0.8, 0.7, 0.9], "b": [0.8, 0.7, 0.9], "c": [0.8, 0.7, 0.9]})
    comparison = stats.compare_models(scores, 0.1)
    assert (comparison.friedman_statistic, comparison.friedman_p) == (0.0, 1.0)
    assert comparison.cliques == [["a", "b", "c"]] and set(comparison.average_ranks) == {2.0}
    assert set(comparison.wilcoxon["p_holm"]) == {1.0} and set(comparison.corrected_t["p"]) == {1.0}


# --- report -------------------------------------------------------------------------------------------------


def test_table2_equals_sklearn_by_hand(full_run: tuple[Path, dict, report.Report]) -> None:
    _root, written, built = full_run
    assert list(built.table2.index) == ["vgg16", "resnet50", "ncnn"]  # paper order
    for metric in report.TABLE2_METRICS:
        table = by_hand(written, metric) * (100 if metric in report.PERCENT_METRICS else 1)
        for model in MODELS:
            assert built.table2.loc[model, f"{metric}_mean"] == pytest.approx(table[model].mean())
            assert built.table2.loc[model, f"{metric}_std"] == pytest.approx(table[model].std(ddof=1))
    assert set(built.table2["n_folds"]) == {N_FOLDS}
    assert built.progress() == {m: "10/10" for m in MODELS}


def test_table2_under_the_papers_definitions_equals_sklearn_by_hand(full_run) -> None:
    _root, written, built = full_run
    for metric, column in report.PAPER_DEFINITIONS.items():
        table = by_hand(written, column) * (100 if metric in report.PERCENT_METRICS else 1)
        for model in MODELS:
            assert built.table2_paper.loc[model, f"{metric}_mean"] == pytest.approx(table[model].mean())
            assert built.table2_paper.loc[model, f"{metric}_std"] == pytest.approx(table[model].std(ddof=1))
    # Same accuracy and epochs; F1 and AUC differ (the fixture's classes are balanced, its classifiers are not
    # perfect): the two tables really are two definitions.
    for metric in ("accuracy", "epochs"):
        assert built.table2_paper[f"{metric}_mean"].tolist() == built.table2[f"{metric}_mean"].tolist()
    for metric in ("f1", "auc"):
        assert not np.allclose(built.table2_paper[f"{metric}_mean"], built.table2[f"{metric}_mean"])
    document = json.loads(built.to_json())
    rows = {row["model"]: row for row in document["table2_paper_definitions"]}
    assert rows["vgg16"]["auc_mean"] == pytest.approx(built.table2_paper.loc["vgg16", "auc_mean"])
    assert "no pain as the positive class" in document["definitions"]["table2_paper_definitions"]
    assert "pain as the positive class" in document["definitions"]["table2"]


def test_calibration_pooled_equals_sklearn(full_run: tuple[Path, dict, report.Report]) -> None:
    _root, written, built = full_run
    for model in MODELS:
        frames = pd.concat([f for (m, _), f in written.items() if m == model])
        y, p = frames["label"] == "pain", frames["prob_pain"]
        assert built.calibration.loc[model, "brier_pooled"] == pytest.approx(brier_score_loss(y, p))
        fold_briers = [
            brier_score_loss(f["label"] == "pain", f["prob_pain"]) for (m, _), f in written.items() if m == model
        ]
        assert built.calibration.loc[model, "brier_mean"] == pytest.approx(np.mean(fold_briers))


def test_statistics_equal_scipy_by_hand(full_run: tuple[Path, dict, report.Report]) -> None:
    root, written, built = full_run
    scores = by_hand(written, "accuracy") * 100
    comparison = built.statistics["accuracy"]
    assert comparison.friedman_statistic == pytest.approx(sps.friedmanchisquare(*scores.T.to_numpy()).statistic)
    assert comparison.friedman_p == pytest.approx(sps.friedmanchisquare(*scores.T.to_numpy()).pvalue)
    ranks = pd.Series(sps.rankdata(-scores.to_numpy(), axis=1).mean(axis=0), index=scores.columns)
    for model in MODELS:
        assert comparison.average_ranks[model] == pytest.approx(ranks[model])
    k, n = len(MODELS), N_FOLDS
    assert comparison.critical_difference == pytest.approx(stats.critical_difference(k, n))
    for a, b in itertools.combinations(MODELS, 2):
        q = abs(ranks[a] - ranks[b]) / math.sqrt(k * (k + 1) / (6 * n))
        expected = sps.studentized_range.sf(q * math.sqrt(2), k, np.inf)
        assert comparison.nemenyi_p.loc[a, b] == pytest.approx(expected)
        # Nemenyi's test and the critical difference are the same decision.
        assert (expected < 0.05) == (abs(ranks[a] - ranks[b]) > comparison.critical_difference)

    wilcoxon = comparison.wilcoxon
    raw = np.array([sps.wilcoxon(scores[a], scores[b]).pvalue for a, b in itertools.combinations(MODELS, 2)])
    np.testing.assert_allclose(wilcoxon["p"], raw)
    np.testing.assert_allclose(wilcoxon["p_holm"], holm_by_hand(raw))

    sizes = np.array([json.loads((root / "folds.json").read_text())["folds"][k]["test_images"] for k in range(n)])
    ratio = np.mean(sizes / (sizes.sum() - sizes))
    for row in comparison.corrected_t.itertuples():
        d = (scores[row.model_a] - scores[row.model_b]).to_numpy()
        t = d.mean() / math.sqrt((1 / n + ratio) * d.var(ddof=1))
        assert row.t == pytest.approx(t)
        assert row.p == pytest.approx(2 * sps.t.sf(abs(t), n - 1))
    np.testing.assert_allclose(comparison.corrected_t["p_holm"], holm_by_hand(comparison.corrected_t["p"].to_numpy()))
    assert "optimistic" in built.caveat
    # The strongest model beats the weakest on this fixture: the fixture can tell the tests apart.
    assert comparison.average_ranks.index[0] == "vgg16" and comparison.average_ranks.index[-1] == "ncnn"


def test_renderers(full_run: tuple[Path, dict, report.Report]) -> None:
    _root, written, built = full_run
    document = json.loads(built.to_json(), parse_constant=lambda token: pytest.fail(f"non-strict JSON {token}"))
    assert len(document["per_fold"]) == len(MODELS) * N_FOLDS
    assert {"model", "fold", "accuracy", "f1", "auc", "epochs"} <= set(document["per_fold"][0])
    first = document["per_fold"][0]
    frame = written[(first["model"], first["fold"])]
    assert first["auc"] == pytest.approx(roc_auc_score(frame["label"] == "pain", frame["prob_pain"]))
    assert set(document["statistics"]) == set(report.TABLE2_METRICS)
    assert document["statistics"]["accuracy"]["critical_difference"] == pytest.approx(stats.critical_difference(3, 10))
    assert document["paper_table2"]["vgg16"]["accuracy"] == [86.2, 7]
    csv = pd.read_csv(StringIO(built.to_csv()))
    # The paper's Table-2 columns first, under its definitions and named after them, then the standard ones.
    assert list(csv.columns[:7]) == [
        "model", "fold", "n", "accuracy", "f1_paper_nopain_positive", "auc_paper_from_predictions", "epochs"]
    assert {"f1_pain_positive", "auc_from_probabilities"} <= set(csv.columns) and len(csv) == len(MODELS) * N_FOLDS
    assert set(report.CSV_COLUMNS) == set(report.PER_FOLD_COLUMNS)
    by_fold = csv.set_index(["model", "fold"])
    frame = written[("vgg16", 3)]
    y, p = frame["label"] == "pain", frame["prob_pain"]
    assert by_fold.loc[("vgg16", 3), "f1_paper_nopain_positive"] == pytest.approx(f1_score(~y, p < 0.5), abs=1e-5)
    assert by_fold.loc[("vgg16", 3), "auc_from_probabilities"] == pytest.approx(roc_auc_score(y, p), abs=1e-5)
    markdown = built.to_markdown()
    row = built.table2.loc["vgg16"]
    assert f"| vgg16 | 10 | {row['accuracy_mean']:.1f} ± {row['accuracy_std']:.1f} |" in markdown
    paper_section = markdown.split("## Table 2 under the paper's definitions", 1)[1].split("## Table 2 under the", 1)[0]
    paper_row = built.table2_paper.loc["vgg16"]
    assert f"{paper_row['f1_mean']:.1f} ± {paper_row['f1_std']:.1f}" in paper_section
    assert "no pain as the positive class" in paper_section and "| vgg16 | 86.2 ± 7 | 87.7 ± 6 |" in paper_section
    assert "Friedman χ²" in markdown and "optimistic" in markdown


def test_unfinished_folds_are_ignored(tmp_path: Path) -> None:
    written = write_run(tmp_path, models=TWO_MODELS, unfinished=(("ncnn", 9), ("vgg16", 0)))
    built = report.build_report(tmp_path)
    assert built.folds_finished["ncnn"] == list(range(9))
    assert built.progress()["vgg16"] == "9/10"
    ncnn_accuracy = by_hand(written, "accuracy")["ncnn"].dropna() * 100
    assert built.table2.loc["ncnn", "accuracy_mean"] == pytest.approx(ncnn_accuracy.mean())
    assert built.statistics["accuracy"].folds == list(range(1, 9))  # folds every model finished
    assert any("in progress" in note for note in built.notes)


def test_one_class_fold_in_a_run(tmp_path: Path) -> None:
    written = write_run(tmp_path, models=TWO_MODELS, one_class_fold=4)
    built = report.build_report(tmp_path)
    auc = by_hand(written, "auc") * 100
    assert built.table2.loc["vgg16", "auc_mean"] == pytest.approx(auc["vgg16"].drop(index=4).mean())
    assert 4 not in built.statistics["auc"].folds and 4 in built.statistics["accuracy"].folds
    assert any("fold 4" in note and "only 'pain'" in note for note in built.notes)
    assert json.loads(built.to_json())["per_fold"][4]["auc"] is None


def test_statistics_skipped_with_one_model_and_t_test_without_fold_sizes(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    write_run(tmp_path / "one", models={"vgg16": 1.0})
    assert "only vgg16" in report.build_report(tmp_path / "one").statistics_skipped["f1"]
    (tmp_path / "bare").mkdir()
    write_run(tmp_path / "bare", models=TWO_MODELS, with_folds_json=False)
    built = report.build_report(tmp_path / "bare")
    assert built.statistics["accuracy"].corrected_t is None and built.progress()["vgg16"] == "10/?"
    assert "n/a" in built.to_markdown()


def test_metrics_json_disagreement_is_noted(tmp_path: Path) -> None:
    write_run(tmp_path, models=TWO_MODELS)
    metrics_path = tmp_path / "vgg16" / "fold_2" / "metrics.json"
    metrics_path.write_text(json.dumps({"accuracy": 0.01, "epochs": 9}))
    built = report.build_report(tmp_path)
    assert any("vgg16 fold 2" in note and "metrics.json says accuracy" in note for note in built.notes)
    assert "Friedman χ²" not in built.to_markdown().split("## Statistics")[1].split("###")[1]


def test_cli_report(tmp_path: Path) -> None:
    write_run(tmp_path / "run", models=TWO_MODELS)
    missing = tmp_path / "run" / "ncnn" / "fold_3" / "predictions.csv"
    missing.unlink()
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--run", str(tmp_path / "run"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    # The damaged fold is left out and named, with what to do; the other folds are reported.
    warning = " ".join(result.stderr.split())
    assert f"skipped {missing}: missing although the fold is marked DONE" in warning and "--resume" in warning
    assert "ncnn,3," not in result.stdout and "ncnn,4," in result.stdout
    (tmp_path / "run" / "ncnn" / "fold_3" / "DONE").unlink()
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["report", "--run", str(tmp_path / "run"), "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["progress"]["ncnn"] == "9/10"
    result = runner.invoke(app, ["report", "--run", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not a painxai run (no run.json)" in " ".join(result.output.split())
    (tmp_path / "run" / "run.json").write_text('{"models": ["vgg16", ')
    result = runner.invoke(app, ["report", "--run", str(tmp_path / "run")])
    assert result.exit_code == 2 and "run.json: unreadable" in " ".join(result.output.split())
    assert "Traceback" not in result.output
