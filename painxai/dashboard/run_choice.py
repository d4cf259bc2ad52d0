"""Which run the dashboard opens: the ``--run`` argument, ``PAINXAI_RUN``, or the newest run."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from painxai.paths import artifacts_dir
from painxai.runs import layout

NO_RUN_HELP = (
    "No trained run was found. Make one with `make run` (it generates the synthetic twin and trains the "
    "demo profile, 10 to 25 minutes on 2 cores, depending on the CPU) or "
    "`painxai demo --data data/twin --out artifacts/demo`, "
    "then reload this page. Runs live in `artifacts/<run>/` (or in the folder named by `PAINXAI_ARTIFACTS`)."
)


def parse_run_argument(argv: Sequence[str]) -> Path | None:
    """The run folder asked for on the command line (``streamlit run app.py -- --run artifacts/demo``).

    ``argv`` is the script's argument list without the program name. Arguments the dashboard does not know
    are ignored (Streamlit's test harness passes its own). Falls back to the ``PAINXAI_RUN`` environment
    variable; returns ``None`` when neither names a run.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run", type=Path, default=None)
    known, _unknown = parser.parse_known_args(list(argv))
    if known.run is not None:
        return known.run
    from_env = os.environ.get("PAINXAI_RUN")
    return Path(from_env) if from_env else None


def initial_run_index(requested: Path | None, available: Sequence[Path]) -> int | None:
    """Which of the ``available`` run folders to open first: the requested one when it is listed, else the
    most recently modified one; ``None`` when there is no run at all."""
    if not available:
        return None
    if requested is not None:
        wanted = Path(requested).resolve()
        for index, path in enumerate(available):
            if Path(path).resolve() == wanted:
                return index
    newest = max(range(len(available)), key=lambda i: Path(available[i]).stat().st_mtime)
    return newest


def run_signature(run_dir: str | os.PathLike[str]) -> tuple[str, ...]:
    """What changes when a run gains a finished fold (:func:`painxai.runs.layout.finished_folds_signature`).
    The dashboard keys its caches on it, so a run still training shows new folds as they finish, without
    re-reading anything for an unchanged run."""
    return layout.finished_folds_signature(Path(run_dir))


def available_runs(requested: Path | None) -> list[Path]:
    """Run folders under ``artifacts/`` (newest first), plus the requested one when it lives elsewhere
    (:func:`painxai.runs.layout.run_folders`). Runs are not opened here: one that cannot be read is listed,
    and says why when chosen."""
    return layout.run_folders(artifacts_dir(), also=requested)

