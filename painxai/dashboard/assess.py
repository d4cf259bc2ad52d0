"""The Assess page's state in one browser session, and its report.

A page script runs again on every click; what it computed for the photo is kept in that session's own state
(``st.session_state``, passed in as a plain mapping) with the request it answers, and made again only when the
request changes. The photo and everything made from it stay in that one session: never written to disk,
logged, or put in a cache shared with other sessions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from painxai.data.regions import RegionMaskError
from painxai.inference import photo_report
from painxai.inference.assess import Assessment, AssessRequest, ModelAssessment, begin_assessment

if TYPE_CHECKING:
    from painxai.dashboard.face_box import BoxChoice, BoxStart
    from painxai.inference.gate import Screening
    from painxai.inference.out_of_fold import DataMatch
    from painxai.runs.reader import Run

T = TypeVar("T")
SCREENING, DRAWN, ASSESSMENT = "screening", "drawn", "assessment"  # the session-state keys


@dataclass(frozen=True)
class Kept:
    """A value kept in one session's state with the ``request`` it answers."""

    request: Hashable
    value: Any


def kept(state: MutableMapping[str, Any], key: str, request: Hashable, make: Callable[[], T]) -> T:
    """``state[key]``'s value when it answers ``request``; otherwise ``make()``, kept there for the next run of
    the page. ``state``: one browser session's state."""
    entry = state.get(key)
    if not isinstance(entry, Kept) or entry.request != request:
        entry = Kept(request, make())
        state[key] = entry
    return entry.value


def photo_screening(state: MutableMapping[str, Any], photo_id: str, image: np.ndarray) -> Screening:
    """The input gate's verdict on the whole photo (the detector's box), once per photo."""
    from painxai.inference.gate import screen_photo

    return kept(state, SCREENING, photo_id, lambda: screen_photo(image))


def used_screening(state: MutableMapping[str, Any], photo_id: str, image: np.ndarray, start: BoxStart,
                   choice: BoxChoice) -> Screening:
    """The gate's verdict on the box the models will read: the detector's, or the one placed by hand
    (screened once per photo and box)."""
    from painxai.inference.gate import screen_photo

    if not choice.by_hand:
        return start.screening
    return kept(state, DRAWN, (photo_id, choice.box), lambda: screen_photo(image, choice.box))


@dataclass(frozen=True)
class Started:
    """An assessment before (or while) its models are added; ``warning``: why the photo's stored region masks
    were not used ("" when they were, or when there were none)."""

    assessment: Assessment
    warning: str


def start_assessment(state: MutableMapping[str, Any], photo_id: str, image: np.ndarray, screening: Screening,
                     request: AssessRequest, match: DataMatch | None) -> Started:
    """The photo's assessment for ``request`` (kept per photo and request; models are added to it as they
    load). A photo of the run's data (``match``) takes its stored region masks (the synthetic twin's: exact,
    where landmarks only estimate them); a damaged mask file is named and the landmarks used instead."""

    def make() -> Started:
        masks_of = None if match is None else match.path
        try:
            return Started(begin_assessment(image, request.box, screening, masks_of), "")
        except RegionMaskError as error:
            warning = f"{error}. The regions come from the landmarks instead."
            return Started(begin_assessment(image, request.box, screening), warning)

    return kept(state, ASSESSMENT, (photo_id, request), make)


def region_share_table(verdicts: Sequence[ModelAssessment]) -> pd.DataFrame:
    """Model x region shares of the models' maps (rows in ``verdicts`` order)."""
    return pd.DataFrame({v.name: v.shares for v in verdicts}).T


def report_content(run: Run, photo: np.ndarray, verdicts: Sequence[ModelAssessment], overlays: dict[str, np.ndarray],
                   consensus: str, method: str, scale_note: str,
                   region_shares: pd.DataFrame | None) -> photo_report.ReportContent:
    """What the downloadable report shows: ``photo`` (H, W, 3) uint8 with its face box drawn, each model's
    verdict and overlay, and where the numbers come from (:meth:`painxai.runs.reader.Run.provenance`)."""
    return photo_report.ReportContent(
        photo=photo,
        results=[
            photo_report.ModelResult(v.name, v.prob_mean, v.prob_std, v.n_pain, len(v.folds), overlays[v.name])
            for v in verdicts
        ],
        consensus=consensus,
        method=method,
        scale_note=scale_note,
        run_name=run.name,
        versions=run.provenance().versions_table([v.name for v in verdicts]),
        region_shares=region_shares,
        created=dt.datetime.now(dt.UTC),
    )
