"""Whether one model's maps can be believed: a verdict from the audit's figures and fixed thresholds.

A model's maps are **informative** when every check that applies passes; each check gives a reason in
words, passed or not. The thresholds were fixed before looking at any run's figures:

1. *Maps exist*: at most ``MAX_EMPTY_SHARE`` (50 %) of the out-of-fold maps may be empty (no positive
   value after the ReLU): an empty map points nowhere.
2. *Randomisation* (Adebayo et al. 2018): after the full cascade (every randomised layer), the mean
   Spearman rank correlation between the trained model's map and the randomised model's map must be
   below ``MAX_RANDOMISED_SPEARMAN`` (0.5). A map that survives the destruction of the weights shows the
   image (edges, contrast), not what the model learned.
3. *Faithfulness* (Petsiuk et al. 2018): deleting the pixels in the map's order must lower the explained
   class's probability faster than deleting them in random order (mean deletion AUC below the random
   map's), and inserting them must raise it faster (mean insertion AUC above the random map's).
4. *Localisation*, only where the data have ground-truth cue regions (the twin's masks): the pointing
   game must beat the best of three model-free baselines at the model's own map resolution (a uniform
   map, random maps, a centred Gaussian) by at least ``MIN_POINTING_MARGIN`` (0.10), and the share of
   positive map mass on the cue regions must exceed the best baseline's share. With a map of a few cells,
   position alone can hit the large brow region; the baselines measure exactly that. When a baseline
   scores so high that no map could win by the margin, the pointing game is left out and the share
   decides alone. The pointing game is strict: the maximum must lie on a cue region.

Class sensitivity (the rank correlation of the pain and the no-pain map) and fold agreement (how alike
the fold models' maps of one image are) are reported beside the verdict but do not decide it: a model
can legitimately use the same regions for both classes, and folds can differ while each is faithful.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_EMPTY_SHARE = 0.5
MAX_RANDOMISED_SPEARMAN = 0.5
MIN_POINTING_MARGIN = 0.10

INFORMATIVE = "informative"
NOT_INFORMATIVE = "not informative"
NOT_AUDITED = "not audited"


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def verdict(figures: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(``informative`` | ``not informative``, reasons) from one model's audit entry (see
    :mod:`painxai.audit`: ``empty_share``, ``randomisation``, ``faithfulness``, ``localisation``)."""
    checks: list[tuple[bool, str]] = []
    empty = float(figures["empty_share"])
    checks.append((
        empty <= MAX_EMPTY_SHARE,
        f"{empty:.0%} of the maps are empty (at most {MAX_EMPTY_SHARE:.0%} allowed)",
    ))
    spearman = figures["randomisation"]["spearman"]
    last = spearman[-1] if spearman else None
    if last is None:
        checks.append((False, "randomisation test undefined: the maps are empty before or after randomising"))
    else:
        steps = len(spearman)
        passed = last < MAX_RANDOMISED_SPEARMAN
        checks.append((
            passed,
            f"after randomising {steps} layer(s) from the output down, the map's rank correlation with the "
            f"trained model's map is {last:.2f} (must be below {MAX_RANDOMISED_SPEARMAN}): the map "
            + ("depends on the learned weights" if passed else "does not depend on what the model learned"),
        ))
    faith = figures["faithfulness"]
    deletion_ok = faith["deletion_auc"] is not None and faith["deletion_auc"] < faith["random_deletion_auc"]
    insertion_ok = faith["insertion_auc"] is not None and faith["insertion_auc"] > faith["random_insertion_auc"]
    checks.append((
        deletion_ok and insertion_ok,
        f"deletion AUC {_fmt(faith['deletion_auc'])} vs {_fmt(faith['random_deletion_auc'])} for a random map "
        f"(lower is better), insertion AUC {_fmt(faith['insertion_auc'])} vs "
        f"{_fmt(faith['random_insertion_auc'])} (higher is better)",
    ))
    local = figures.get("localisation") or {}
    if local.get("source") == "masks":
        best = max(local["baseline_pointing_game"].values())
        best_share = max(local["baseline_cue_share"].values())
        pointing, share = local["pointing_game"], local["cue_share"]
        resolution = "x".join(map(str, figures.get("map_resolution", ["?", "?"])))
        decisive = best + MIN_POINTING_MARGIN <= 1.0
        pointing_ok = pointing >= best + MIN_POINTING_MARGIN or not decisive
        share_ok = share is not None and share > best_share
        pointing_text = (
            f"pointing game {pointing:.2f} vs {best:.2f} for the best model-free baseline at the map's own "
            f"{resolution} resolution (must win by {MIN_POINTING_MARGIN:.2f})"
            if decisive else
            f"pointing game {pointing:.2f}, but a model-free baseline already scores {best:.2f} at {resolution}: "
            "the pointing game cannot tell here, so only the cue-region share decides"
        )
        checks.append((
            pointing_ok and share_ok,
            f"{pointing_text}; cue-region share {_fmt(share)} vs {best_share:.2f} for the best baseline",
        ))
    passed = all(ok for ok, _ in checks)
    reasons = [("passes: " if ok else "fails: ") + text for ok, text in checks]
    if local.get("source") != "masks":
        reasons.append("not checked: localisation (these data have no ground-truth cue regions; region shares "
                       "from landmarks, when there are any, are reported only)")
    return (INFORMATIVE if passed else NOT_INFORMATIVE), reasons
