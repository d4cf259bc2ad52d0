"""The paper's claim is about the four pretrained models: the report tests them apart from N-CNN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
from helpers.runs import build_run

from painxai.evaluation import report, stats

N_FOLDS = 10
# Four pretrained models of equal skill and an N-CNN far behind: over all five models the Friedman
# test finds a difference (N-CNN), among the four pretrained ones it must not.
SKILL = {"vgg16": 1.5, "resnet50": 1.5, "senet50": 1.5, "inception_v3": 1.5, "ncnn": -0.5}


def _labels(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.permutation(np.array(["pain"] * 8 + ["nopain"] * 8)) for _ in range(N_FOLDS)]


def _probabilities(model: str, fold: int, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    score = rng.normal(size=labels.size) + SKILL[model] * np.where(labels == "pain", 1.0, -1.0)
    return np.round(1.0 / (1.0 + np.exp(-score)), 3)


@pytest.fixture(scope="module")
def five_model_report(tmp_path_factory: pytest.TempPathFactory) -> report.Report:
    root = tmp_path_factory.mktemp("stats") / "run"
    build_run(root, tuple(SKILL), k=N_FOLDS, labels=_labels(np.random.default_rng(3)), probabilities=_probabilities)
    return report.build_report(root)


def test_pretrained_statistics_leave_ncnn_out_and_equal_scipy(five_model_report: report.Report) -> None:
    built = five_model_report
    assert built.statistics["accuracy"].models == list(SKILL)  # all models, as before
    pretrained = built.statistics_pretrained["accuracy"]
    assert pretrained.models == list(stats.PRETRAINED_MODELS)
    scores = built.per_fold.pivot(index="fold", columns="model", values="accuracy")[list(stats.PRETRAINED_MODELS)]
    expected = sps.friedmanchisquare(*(100 * scores).T.to_numpy())
    assert pretrained.friedman_statistic == pytest.approx(expected.statistic)
    assert pretrained.friedman_p == pytest.approx(expected.pvalue)
    assert pretrained.critical_difference == pytest.approx(stats.critical_difference(4, N_FOLDS))
    # The fixture tells the two apart: a difference among all five, none among the pretrained four.
    assert built.statistics["accuracy"].friedman_p < 0.05 < pretrained.friedman_p
    assert "no significant difference either" in stats.paper_claim_verdict(pretrained)


def test_both_sets_are_in_the_markdown_and_json(five_model_report: report.Report) -> None:
    markdown = five_model_report.to_markdown()
    assert "## Statistics\n" in markdown and "## Statistics among the pretrained models (the paper's claim)" in markdown
    assert markdown.count("The paper found no significant difference among the four pretrained models") == 4
    document = json.loads(five_model_report.to_json())
    assert set(document["statistics"]["accuracy"]["models"]) == set(SKILL)  # the existing field is unchanged
    pretrained = document["statistics_pretrained"]["accuracy"]
    assert pretrained["models"] == list(stats.PRETRAINED_MODELS) and "Friedman p =" in pretrained["verdict"]


def test_a_run_without_pretrained_models_says_so(tmp_path: Path) -> None:
    root = tmp_path / "run"
    build_run(root, ("ncnn",), k=3)
    built = report.build_report(root)
    assert built.statistics_pretrained == {}
    assert set(built.statistics_pretrained_skipped.values()) == {"no pretrained model has finished folds"}
    assert "no pretrained model has finished folds" in built.to_markdown()


def test_a_significant_difference_is_reported_as_unlike_the_paper() -> None:
    rng = np.random.default_rng(0)
    scores = {model: rng.normal(80, 2, N_FOLDS) for model in stats.PRETRAINED_MODELS}
    scores["inception_v3"] = scores["vgg16"] - 10  # always worst
    comparison = stats.compare_models(pd.DataFrame(scores), None)
    assert comparison.friedman_p < 0.05
    assert "a significant difference, unlike the paper" in stats.paper_claim_verdict(comparison)
