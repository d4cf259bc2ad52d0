"""The inference of the paper's metric definitions (docs/PROTOCOL.md#metrics): its table is recomputed here from
the paper's Table 2, so the documented arithmetic cannot drift from the numbers it starts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from painxai.evaluation.report import PAPER_TABLE2

PROTOCOL = Path(__file__).resolve().parents[1] / "docs" / "PROTOCOL.md"
PAIN_PREVALENCE = 224 / 483  # the union's pain images (docs/PROTOCOL.md#datasets)
DOC_NAMES = {"VGG-16": "vgg16", "ResNet50": "resnet50", "SENet50": "senet50", "Inception-V3": "inception_v3",
             "N-CNN": "ncnn"}


def implied(accuracy: float, auc_hard: float, p: float = PAIN_PREVALENCE) -> dict[str, float]:
    """Sensitivity, specificity and both F1s (fractions) of a classifier whose accuracy and balanced accuracy
    (the AUC of its 0/1 predictions) are given, on data with pain prevalence ``p``."""
    sensitivity = (accuracy - 2 * auc_hard * (1 - p)) / (2 * p - 1)
    specificity = 2 * auc_hard - sensitivity
    pain_missed, nopain_missed = p * (1 - sensitivity), (1 - p) * (1 - specificity)
    nopain_hit, pain_hit = (1 - p) * specificity, p * sensitivity
    return {
        "s": sensitivity,
        "t": specificity,
        "f1_nopain": 2 * nopain_hit / (2 * nopain_hit + nopain_missed + pain_missed),
        "f1_pain": 2 * pain_hit / (2 * pain_hit + pain_missed + nopain_missed),
    }


def documented_rows() -> dict[str, list[float]]:
    """The inference table of docs/PROTOCOL.md: model -> [A, B, s, t, predicted F1, reported F1, pain F1]."""
    section = PROTOCOL.read_text().split("### How the paper's metrics were inferred", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] in DOC_NAMES:
            rows[DOC_NAMES[cells[0]]] = [float(cell) for cell in cells[1:]]
    return rows


def test_the_documented_inference_follows_from_table_2() -> None:
    rows = documented_rows()
    assert set(rows) == set(PAPER_TABLE2)
    for model, (a, b, s, t, predicted, reported, pain) in rows.items():
        paper = PAPER_TABLE2[model]
        assert (a, b, reported) == (paper["accuracy"][0], paper["auc"][0], paper["f1"][0])
        figures = implied(a / 100, b / 100)
        for documented, key in ((s, "s"), (t, "t"), (predicted, "f1_nopain"), (pain, "f1_pain")):
            assert documented == pytest.approx(100 * figures[key], abs=0.05), (model, key)
        # What the docs conclude from it: the no-pain F1 matches within half a point, the pain F1 does not.
        assert abs(predicted - reported) <= 0.5 and reported - pain >= 3.0


def test_the_formulas_agree_with_scikit_learn_on_a_classifier() -> None:
    """The closed forms above against scikit-learn on 483 images with the union's prevalence."""
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y = np.array([1] * 224 + [0] * 259)
    predicted = y.copy()
    predicted[:50] = 0  # 50 pain images missed: sensitivity 174/224
    predicted[224:244] = 1  # 20 no-pain images called pain: specificity 239/259
    figures = implied(accuracy_score(y, predicted), roc_auc_score(y, predicted))
    assert figures["s"] == pytest.approx(174 / 224) and figures["t"] == pytest.approx(239 / 259)
    assert figures["f1_nopain"] == pytest.approx(f1_score(1 - y, 1 - predicted))
    assert figures["f1_pain"] == pytest.approx(f1_score(y, predicted))
