"""Shared pytest fixtures. Each block is owned by the helper named in its heading; add blocks, keep others."""

from __future__ import annotations

from pathlib import Path

import pytest

from painxai.dependencies import load_native_first

# As app.py does, before any test loads TensorFlow: the AppTests run app.py in this process.
load_native_first()

# --- training helper: a tiny synthetic twin and its folds, built once per test session ---------------------


@pytest.fixture(scope="session")
def tiny_twin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny synthetic twin (``size_scale`` 0.1) with 2 leave-subjects-out folds.

    Returns ``{"root", "manifest", "folds"}`` paths. Shared by the whole session: do not modify it.
    """
    from painxai.data.folds import write_folds
    from painxai.synth.twin import generate_twin

    root = tmp_path_factory.mktemp("tiny_twin")
    summary = generate_twin(root, seed=0, size_scale=0.1)
    folds = root / "folds.json"
    write_folds(summary.manifest_path, folds, k=2, seed=0)
    return {"root": root, "manifest": Path(summary.manifest_path), "folds": folds}
