"""Trust on the dashboard, Streamlit-free: the audit's badge under each map, its tables, and the provenance
line every page with numbers or maps carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from painxai.audit.verdict import INFORMATIVE, NOT_AUDITED, NOT_INFORMATIVE, NOT_JUDGEABLE, UNDECIDED
from painxai.explain.methods import DEFAULT_METHOD, labels
from painxai.labels import PAIN

if TYPE_CHECKING:
    from painxai.runs.provenance import ModelInfo

_COLOURS = {INFORMATIVE: "green", NOT_INFORMATIVE: "red", UNDECIDED: "orange", NOT_JUDGEABLE: "violet",
            NOT_AUDITED: "gray"}
_ICONS = {INFORMATIVE: ":material/verified:", NOT_INFORMATIVE: ":material/block:", UNDECIDED: ":material/pending:",
          NOT_JUDGEABLE: ":material/grid_off:", NOT_AUDITED: ":material/help:"}


@dataclass(frozen=True)
class Badge:
    """What to show under one model's map: ``label`` (a verdict or "not audited"), the ``markdown`` of a
    coloured badge, ``summary``: its main reason in one short line (shown as text under the badge, so a
    touch screen without hover reads it too), and ``details``: the full reasons as markdown, one per line
    (one tap away, in an expander)."""

    label: str
    markdown: str
    summary: str
    details: str
    note: str = ""  # why a random-base model's map is not to be believed, and what would change that


# The checks of painxai.audit.verdict, recognised by words their reasons contain. In this order: an undefined
# randomisation test says its maps are empty, and only the localisation reason speaks of cues.
_CHECKS = (("randomis", "randomisation test"), ("empty", "empty maps"), ("deletion AUC", "deletion/insertion"),
           ("cue", "localisation"), ("pointing game", "localisation"))
_STATES = ("fails", "undecided", "passes")  # a reason's prefix: "fails: ...", in the order a summary names them


def check_name(reason: str) -> str:
    """The short name of the check one audit reason reports ("randomisation test", ...); for a reason this
    function does not know, its first words (without the "passes:"/"fails:"/"undecided:" prefix)."""
    state, _, text = reason.partition(": ")
    text = text if state in _STATES else reason
    known = next((name for needle, name in _CHECKS if needle in text), None)
    return known or (text if len(text) <= 48 else text[:47].rstrip() + "…")


def summary_line(label: str, reasons: list[str]) -> str:
    """One short line with a verdict's main reason: the checks that failed (else those undecided), or how
    many passed; else the verdict itself (e.g. one that says why it cannot judge)."""
    for state in _STATES[:2]:
        named = list(dict.fromkeys(check_name(r) for r in reasons if r.startswith(f"{state}: ")))
        if named:
            return f"{state}: {', '.join(named)}"
    passed = [r for r in reasons if r.startswith("passes: ")]
    return f"passes all {len(passed)} checks" if label == INFORMATIVE and passed else label


def audit_methods(run_path: Any) -> tuple[dict[str, dict[str, dict]], str | None]:
    """The run's audit entries by method and model (``[method][model]``) and, when the audit cannot be
    read, a message saying so."""
    from painxai.audit.store import AuditError, read_audit

    try:
        document = read_audit(run_path)
    except AuditError as error:
        return {}, str(error)
    return ({} if document is None else {m: dict(e) for m, e in document["methods"].items()}), None


def audit_entries(run_path: Any, method: str = DEFAULT_METHOD) -> tuple[dict[str, dict], str | None]:
    """The run's per-model audit entries of ``method`` and, when the audit cannot be read, a message saying so."""
    by_method, problem = audit_methods(run_path)
    return by_method.get(method, {}), problem


def verdict_table(by_method: Mapping[str, Mapping[str, dict]], models: list[str]) -> pd.DataFrame:
    """Model x method label -> the verdict of that method's maps (``NOT_AUDITED`` where there is no entry),
    every method of the registry in its order; ``by_method`` as :func:`audit_methods` returns it."""
    rows = {model: {label: by_method.get(method, {}).get(model, {}).get("verdict", NOT_AUDITED)
                    for method, label in labels().items()} for model in models}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def badge(
    model: str, entries: Mapping[str, dict], method: str = DEFAULT_METHOD, info: ModelInfo | None = None
) -> Badge:
    """The trust badge of ``model``'s maps from the audit ``entries`` (see :func:`audit_entries`).

    Entries of another method than ``method`` (e.g. Grad-CAM's under its counterfactual) are shown, saying which
    method they are for. ``info``: the model's :meth:`Run.model_info`; a map whose explained layer kept its
    seeded random weights (never trained) and is not informative gets a note saying why and what would change
    that.
    """
    entry = entries.get(model)
    if entry is None:
        option = "" if method == DEFAULT_METHOD else f" --methods {method}"
        text = (f"No audit of {labels().get(method, method)} for {model} yet: run `painxai audit --run <run>{option}` "
                "to learn whether its maps can be believed.")
        return Badge(NOT_AUDITED, _markdown(NOT_AUDITED, "maps not audited"), "no audit yet", text)
    label = entry["verdict"]
    audited = entry.get("settings", {}).get("method", DEFAULT_METHOD)
    suffix = "" if method == audited else f" (audit of {labels().get(audited, audited)})"
    reasons = "\n".join(f"- {reason}" for reason in entry["reasons"])
    details = f"Audit on {entry['n_images']} out-of-fold test images{suffix}:\n\n{reasons}"
    note = untrained_note(entry, info) if label != INFORMATIVE else ""
    return Badge(label, _markdown(label, f"maps {label}{suffix}"), summary_line(label, entry["reasons"]), details,
                 note)


def untrained_note(entry: Mapping[str, Any], info: ModelInfo | None) -> str:
    """One sentence when the explained layer kept its seeded random weights (a random base whose folds trained
    only the layers above it): why its map is not to be believed, and what would change that; else ""."""
    layer = entry.get("explained_layer")
    if info is None or info.weights != "random" or not info.fold_layers or layer in info.fold_layers:
        return ""
    cells = "x".join(map(str, entry.get("map_resolution", []))) or "a few"
    return (f"Its explained layer was never trained (a seeded random base; the folds trained only the layers "
            f"above it) and its map has {cells} cells: pretrained weights, or the paper profile on a GPU, would "
            "change that.")


def _markdown(label: str, text: str) -> str:
    # A verdict without a colour of its own (e.g. undecided) is orange: neither a pass nor a failure.
    return f":{_COLOURS.get(label, 'orange')}-badge[{_ICONS.get(label, ':material/help:')} {text}]"


def reference_scales(entries: Mapping[str, dict], target: str = PAIN) -> dict[str, float | None]:
    """Model -> the audit's reference colour scale of its ``target`` maps (raw units), for
    :func:`painxai.explain.display.model_scales`."""
    key = "reference_scale" if target == PAIN else "reference_scale_nopain"
    return {model: entry.get(key) for model, entry in entries.items()}


def audit_table(entries: Mapping[str, dict]) -> pd.DataFrame:
    """One row per audited model with every headline figure (NaN where a figure does not apply)."""
    rows = []
    for model, entry in entries.items():
        local = entry.get("localisation") or {}
        masks = local.get("source") == "masks"
        faith = entry["faithfulness"]
        spearman = entry["randomisation"]["spearman"]
        intervals = entry.get("intervals", {})
        difference = local.get("intervals", {}).get("cue_correlation_minus_best_baseline", {}) if masks else {}
        rows.append({
            "model": model,
            "verdict": entry["verdict"],
            "images": entry["n_images"],
            "map cells": "x".join(map(str, entry.get("map_resolution", []))),
            "empty maps": entry["empty_share"],
            "empty maps 95% CI": _interval_text(intervals.get("empty_share")),
            "randomised ρ (last step)": spearman[-1] if spearman else None,
            "randomised ρ 95% CI": _interval_text(intervals.get("randomised_spearman")),
            "localisation images": local.get("images") if masks else None,
            "cue correlation": local.get("cue_correlation") if masks else None,
            "cue correlation minus best baseline, 95% CI": _interval_text(difference) if masks else None,
            "best baseline": difference.get("baseline") if masks else None,
            "best possible at this resolution": local.get("best_possible", {}).get("correlation") if masks else None,
            "pointing game": local.get("pointing_game") if masks else None,
            "pointing: best baseline": _best(local.get("baseline_pointing_game")) if masks else None,
            "cue share": local.get("cue_share") if masks else None,
            "cue share: best baseline": _best(local.get("baseline_cue_share")) if masks else None,
            "deletion AUC": faith["deletion_auc"],
            "deletion AUC: random": faith["random_deletion_auc"],
            "insertion AUC": faith["insertion_auc"],
            "insertion AUC: random": faith["random_insertion_auc"],
            "pain vs no-pain ρ": entry["class_sensitivity"]["spearman_pain_vs_nopain"],
            "fold agreement ρ": entry["fold_agreement"]["spearman"],
            "reference scale": entry["reference_scale"],
            "out-of-fold accuracy": entry.get("out_of_fold_accuracy"),
            "seconds": entry.get("seconds"),
        })
    return pd.DataFrame(rows)


def _interval_text(interval: Mapping[str, Any] | None) -> str | None:
    """``0.12 [0.05, 0.20]`` or None."""
    if not interval or interval.get("mean") is None:
        return None
    return f"{interval['mean']:.2f} [{interval['low']:.2f}, {interval['high']:.2f}]"


def _best(values: Mapping[str, float | None] | None) -> float | None:
    found = [v for v in (values or {}).values() if v is not None]
    return max(found) if found else None


def randomisation_frame(entries: Mapping[str, dict]) -> pd.DataFrame:
    """Long table of the randomisation curves: model, step (0 = trained), layer, measure, similarity."""
    rows = []
    for model, entry in entries.items():
        result = entry["randomisation"]
        for measure in ("spearman", "ssim"):
            rows.append({"model": model, "step": 0, "layer": "trained", "measure": measure, "similarity": 1.0})
            for step, (layer, value) in enumerate(zip(result["steps"], result[measure], strict=True), start=1):
                rows.append({"model": model, "step": step, "layer": layer, "measure": measure, "similarity": value})
    return pd.DataFrame(rows, columns=["model", "step", "layer", "measure", "similarity"])


LOCALISATION_SCORES = ("cue correlation", "pointing game", "cue share")


def localisation_frame(entries: Mapping[str, dict]) -> pd.DataFrame:
    """Long table: model, map (the model's own, or a baseline), and the three localisation scores; models with
    masks only."""
    rows = []
    keys = dict(zip(LOCALISATION_SCORES, ("cue_correlation", "pointing_game", "cue_share"), strict=True))
    for model, entry in entries.items():
        local = entry.get("localisation") or {}
        if local.get("source") != "masks":
            continue
        rows.append({"model": model, "map": "model", **{n: local.get(k) for n, k in keys.items()}})
        for name in local["baseline_cue_correlation"]:
            rows.append({"model": model, "map": f"{name} baseline",
                         **{n: local[f"baseline_{k}"][name] for n, k in keys.items()}})
    return pd.DataFrame(rows, columns=["model", "map", *LOCALISATION_SCORES])


def faithfulness_frame(entries: Mapping[str, dict]) -> pd.DataFrame:
    """Long table: model, curve (deletion | insertion), map (model | random), AUC."""
    rows = []
    for model, entry in entries.items():
        faith = entry["faithfulness"]
        for curve in ("deletion", "insertion"):
            rows.append({"model": model, "curve": curve, "map": "model", "AUC": faith[f"{curve}_auc"]})
            rows.append({"model": model, "curve": curve, "map": "random", "AUC": faith[f"random_{curve}_auc"]})
    return pd.DataFrame(rows, columns=["model", "curve", "map", "AUC"])


def provenance_line(run: Any) -> str:
    """E.g. "Run demo: synthetic twin · random weights (all models) · profile demo" (from ``Run.provenance``)."""
    return f"Run {run.name}: {run.provenance().describe()}"


def paper_comparison_warning(run: Any) -> str | None:
    """What makes a comparison with the paper's Table 2 unfair for this run, or None for real data and
    pretrained weights."""
    provenance = run.provenance()
    problems = []
    if provenance.data_source == "twin":
        problems.append("it was trained and tested on the synthetic twin, not on the real UNIFESP and iCOPE photos")
    random = [model for model, kind in provenance.weights.items() if kind == "random"]
    if random:
        problems.append(f"{', '.join(random)} started from random weights, not the paper's pretrained bases")
    if provenance.profile != "paper":
        problems.append(f"it used the '{provenance.profile}' training profile, not the paper's protocol")
    if not problems:
        return None
    return "These numbers do not measure what the paper measured: " + "; ".join(problems) + "."
