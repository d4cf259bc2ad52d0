"""Whether one model's maps can be believed: a verdict from the audit's intervals and fixed thresholds.

Each check compares a 95 % interval (bootstrap over subjects, :mod:`painxai.evaluation.bootstrap`) with a
threshold fixed before any run was looked at. A check **passes** when the whole interval clears its
threshold, **fails** when the whole interval misses it, and is **undecided** otherwise (too few images to
tell). The checks:

1. *Maps exist*: the share of empty maps (no positive value: they point nowhere) is below
   ``MAX_EMPTY_SHARE`` (0.5).
2. *Randomisation* (Adebayo et al. 2018): after the full cascade, the rank correlation between the trained
   model's map and the randomised model's map is below ``MAX_RANDOMISED_SPEARMAN`` (0.5): a map that
   survives the destruction of the weights shows the image, not what the model learned.
3. *Faithfulness* (Petsiuk et al. 2018): deletion in the map's order lowers the explained class's
   probability faster than deletion in random order (AUC difference below 0), and insertion raises it
   faster (difference above 0).
4. *Localisation*, only where the data have ground-truth cue regions and intensities (the twin): the
   **cue correlation** (does the map's mass per cue region follow that image's own cue intensities?) must
   beat the best of the baselines that ignore the image (the best single cell, the training data's mean
   cue map, the model's own mean map) by ``MIN_CUE_CORRELATION_MARGIN`` (0.10). It decides because a
   fixed map cannot pass it: the same map on every face cannot follow each face's cues. The pointing game
   and the cue share are reported with their intervals beside the same baselines, but do not decide: at
   a few cells per side the best fixed cell already lights the brows and eyes of every twin face.
   Where even the best map at the model's resolution (each image's own ground truth, through the grid)
   could not beat the baselines by the margin, the check cannot tell: the verdict is "cannot be judged
   at this map resolution".

The verdict: **not informative** when a check fails; else **cannot be judged at this map resolution** when
localisation cannot tell; else **undecided: needs more images** when a check is undecided; else
**informative**. Class sensitivity and fold agreement are reported beside it and do not decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_EMPTY_SHARE = 0.5
MAX_RANDOMISED_SPEARMAN = 0.5
MIN_CUE_CORRELATION_MARGIN = 0.10

INFORMATIVE = "informative"
NOT_INFORMATIVE = "not informative"
UNDECIDED = "undecided: needs more images"
NOT_JUDGEABLE = "cannot be judged at this map resolution"
NOT_AUDITED = "not audited"
VERDICTS = (INFORMATIVE, NOT_INFORMATIVE, UNDECIDED, NOT_JUDGEABLE)

PASS, FAIL, OPEN = "passes", "fails", "undecided"


def judge(interval: Mapping[str, Any] | None, threshold: float, above: bool) -> str:
    """PASS when the whole interval lies above (``above``) or below ``threshold``, FAIL when the whole of it
    lies on the other side (the threshold itself counts as missed), OPEN otherwise or without an interval."""
    if not interval or interval.get("low") is None:
        return OPEN
    low, high = float(interval["low"]), float(interval["high"])
    if above:
        return PASS if low > threshold else FAIL if high <= threshold else OPEN
    return PASS if high < threshold else FAIL if low >= threshold else OPEN


def describe(interval: Mapping[str, Any] | None) -> str:
    """``0.12 [0.05, 0.20], 40 images of 12 subjects`` (or "undefined")."""
    if not interval or interval.get("mean") is None:
        return "undefined (no image to score)"
    return (f"{interval['mean']:.2f} [{interval['low']:.2f}, {interval['high']:.2f}], {interval['images']} images "
            f"of {interval['subjects']} subjects")


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def _both(first: str, second: str) -> str:
    return FAIL if FAIL in (first, second) else PASS if first == second == PASS else OPEN


def localisation_check(local: Mapping[str, Any]) -> tuple[str | None, str]:
    """(PASS | FAIL | OPEN, or None when the check cannot tell at this resolution; its reason)."""
    difference = local["intervals"]["cue_correlation_minus_best_baseline"]
    baseline = difference["baseline"]
    best_baseline = local["baseline_cue_correlation"][baseline]
    possible = local["best_possible"]["correlation"]
    if possible is None or best_baseline is None or possible - best_baseline < MIN_CUE_CORRELATION_MARGIN:
        return None, (
            f"cannot be judged at this map resolution: even the best map at it (each image's own ground truth "
            f"through the grid) follows the cues with correlation {_number(possible)}, not "
            f"{MIN_CUE_CORRELATION_MARGIN:.2f} above the {baseline}'s {_number(best_baseline)}"
        )
    state = judge(difference, MIN_CUE_CORRELATION_MARGIN, above=True)
    return state, (
        f"the map's mass per cue region follows each image's own cues: correlation "
        f"{describe(local['intervals']['cue_correlation'])}; minus the best baseline ({baseline}) "
        f"{describe(difference)} (must exceed {MIN_CUE_CORRELATION_MARGIN:.2f}); pointing game "
        f"{describe(local['intervals']['pointing_game'])} and cue share {describe(local['intervals']['cue_share'])} "
        "are reported beside the baselines"
    )


def verdict(figures: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(one of ``VERDICTS``, reasons) from one model's audit entry (see :mod:`painxai.audit`)."""
    intervals = figures["intervals"]
    checks: list[tuple[str | None, str]] = []
    empty = intervals["empty_share"]
    checks.append((judge(empty, MAX_EMPTY_SHARE, above=False),
                   f"share of empty maps {describe(empty)} (must stay below {MAX_EMPTY_SHARE:.2f})"))
    randomised = intervals.get("randomised_spearman")
    steps = len(figures["randomisation"]["steps"])
    checks.append((judge(randomised, MAX_RANDOMISED_SPEARMAN, above=False),
                   f"after randomising {steps} layer(s) from the output down, the map's rank correlation with the "
                   f"trained model's map is {describe(randomised)} (must stay below {MAX_RANDOMISED_SPEARMAN})"))
    deletion, insertion = intervals["deletion_minus_random"], intervals["insertion_minus_random"]
    checks.append((_both(judge(deletion, 0.0, above=False), judge(insertion, 0.0, above=True)),
                   f"deletion AUC minus a random map's {describe(deletion)} (must be below 0); insertion AUC minus "
                   f"a random map's {describe(insertion)} (must be above 0)"))
    local = figures.get("localisation") or {}
    has_truth = local.get("source") == "masks"
    if has_truth:
        checks.append(localisation_check(local))
    states = [state for state, _ in checks]
    if FAIL in states:
        label = NOT_INFORMATIVE
    elif None in states:
        label = NOT_JUDGEABLE
    elif OPEN in states:
        label = UNDECIDED
    else:
        label = INFORMATIVE
    reasons = [text if state is None else f"{state}: {text}" for state, text in checks]
    if not has_truth:
        reasons.append("not checked: localisation (these data have no ground-truth cue regions and intensities; "
                       "region shares from landmarks, when there are any, are reported only)")
    return label, reasons
