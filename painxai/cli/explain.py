"""``painxai explain``: maps of a run's fold ensembles on one photo, as PNGs, a figure and explain.json."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from painxai.cli.common import console, user_errors
from painxai.errors import RequestError
from painxai.explain.methods import DEFAULT_METHOD, help_text, method_class


def _parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """'x0,y0,x1,y1' in photo pixels -> a box, or None."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        box = tuple(float(part) for part in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise RequestError(f"--box must be x0,y0,x1,y1 with x1 > x0 and y1 > y0; got {text!r}")
    return box


def _parse_folds(text: str) -> str | list[int]:
    from painxai.inference.out_of_fold import parse_fold_request

    try:
        return parse_fold_request(text)
    except RequestError as error:
        raise RequestError(f"--{error}") from None


def explain(
    run: Path = typer.Option(..., help="Run folder (artifacts/<run>)."),
    image: Path = typer.Option(..., help="Photo to explain."),
    out: Path = typer.Option(..., help="Folder for the PNGs and explain.json."),
    models: str = typer.Option("all", help="'all' or comma-separated model names of the run."),
    method: str = typer.Option(DEFAULT_METHOD, help=f"Explanation method: {help_text()}."),
    folds: str = typer.Option(
        "out-of-fold", help="'out-of-fold' (a photo of the run's data: only the fold that never saw its subject; "
        "any other photo: all folds), 'all' (mean map and std) or fold numbers such as 3 or 1,4."),
    target: str = typer.Option("pain", help="Class to explain: pain | nopain."),
    box: str | None = typer.Option(None, help="Face box x0,y0,x1,y1 in photo pixels (default: detect it)."),
    faithfulness_steps: int = typer.Option(
        10, help="Deletion/insertion steps per curve (as on the Assess page; the audit uses 20 over many photos); "
        "0 skips faithfulness."),
) -> None:
    """Explain one photo with every fold model of a run: maps, probabilities, NFCS region shares, faithfulness."""
    from painxai import atomic
    from painxai.data.images import load_image
    from painxai.explain.display import figure_png, overlay, png_bytes, shared_scale, side_by_side_figure
    from painxai.inference.assess import (
        AssessRequest,
        ExplanationRequest,
        add_model,
        begin_assessment,
        faithfulness_scores,
        load_ensembles,
        op_by_op,
    )
    from painxai.inference.gate import PhotoRefusedError, screen_photo
    from painxai.inference.out_of_fold import find_in_run
    from painxai.runs.reader import Run

    faithfulness: dict[str, dict[str, float]] = {}
    with user_errors():
        request = AssessRequest(models=models, folds=_parse_folds(folds), box=_parse_box(box),
                                explanation=ExplanationRequest(method, target))
        method_label = method_class(method).label  # an unknown method stops here, before any model is loaded
        if faithfulness_steps < 0:
            raise RequestError("--faithfulness-steps must be 0 or more")
        the_run = Run(run)
        photo = load_image(image)
        # The gate before any model is loaded: a photo without a usable face costs no loading.
        screening = screen_photo(photo, request.box)
        if not screening.accepted:
            raise PhotoRefusedError(f"{image}: {screening.reason} (--box x0,y0,x1,y1 in photo pixels)")
        assessment = begin_assessment(photo, request.box, screening, masks_of=image)  # regions: masks, else landmarks
        # Each model is explained while the next one is built (EnsemblesLoading; bench/README.md).
        ensembles = load_ensembles(the_run, request.models, background=True)
        match = find_in_run(the_run, path=image)  # a photo of the run's own data: by path, else by SHA-256
        for name, ensemble in ensembles.items():
            with op_by_op():
                result = add_model(assessment, ensemble, request, match)  # RequestError (folds): shown as it is
                if faithfulness_steps:
                    faithfulness[name] = faithfulness_scores(ensemble, result, faithfulness_steps)
    if assessment.face_search is not None and assessment.face_search.status != "one":
        console.print(f"[yellow]face:[/] {assessment.face_search.message}")
    vmax = shared_scale([m.photo_map for m in assessment.models.values()])
    report: dict[str, Any] = {
        "run": str(run), "image": str(image), "method": method, "method_label": method_label, "target": target,
        "box": assessment.box,
        "face": None if assessment.face_search is None else {
            "status": assessment.face_search.status, "message": assessment.face_search.message},
        "regions": {"masks": "ground truth", "landmarks": "landmarks"}.get(assessment.regions_source or ""),
        "shared_vmax": vmax, "shared_vmax_rule": "99th percentile of the positive values of all photo maps",
        "consensus": assessment.consensus, "folds_request": folds,
        "in_run_data": None if match is None else {"subject": match.subject, "test_fold": match.fold},
        "models": {},
    }
    titles = {}
    for name, result in assessment.models.items():
        atomic.write_bytes(out / f"{name}_{method}.png", png_bytes(overlay(photo, result.photo_map, vmax)))
        entry = result.summary()
        if name in faithfulness:
            entry["faithfulness"] = faithfulness[name]
        report["models"][name] = entry
        titles[name] = f"{name}\np(pain) {result.prob_mean:.2f} ± {result.prob_std:.2f}"
    figure = side_by_side_figure(photo, {n: m.photo_map for n, m in assessment.models.items()}, titles, vmax,
                                 suptitle=f"{method_label} ({target}) · {assessment.consensus}")
    atomic.write_bytes(out / f"side_by_side_{method}.png", figure_png(figure))
    atomic.write_json(out / "explain.json", report)
    _print_table(report)
    console.print(assessment.consensus)
    first_choice = next(iter(assessment.models.values())).fold_choice  # add_model always records it
    if first_choice is not None:
        console.print(first_choice.note)
    console.print(f"wrote {len(assessment.models)} overlay(s), side_by_side_{method}.png and explain.json to {out}")


def _print_table(report: dict[str, Any]) -> None:
    from painxai.explain.attribution import cue_share

    table = Table(title=f"{report['method_label']} on {report['image']}")
    for column in ("model", "p(pain) mean ± std", "folds saying pain", "cue share", "deletion AUC (random)"):
        table.add_column(column)
    for name, entry in report["models"].items():
        shares = entry["region_shares"]
        if shares is None:
            cue = "–"
        elif math.isnan(share := cue_share(shares)):
            cue = "– (empty map)"
        else:
            cue = f"{share:.2f}"
        faith = entry.get("faithfulness")
        deletion = "–" if faith is None else f"{faith['deletion_auc']:.3f} ({faith['random_deletion_auc']:.3f})"
        table.add_row(name, f"{entry['prob_pain_mean']:.3f} ± {entry['prob_pain_std']:.3f}",
                      f"{entry['folds_saying_pain']}/{len(entry['folds'])}", cue, deletion)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``painxai explain`` to the app."""
    app.command("explain")(explain)
