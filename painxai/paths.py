"""Where painxai keeps things on disk.

- ``PAINXAI_HOME`` (default ``~/.cache/painxai``): downloaded or imported model files
  (face detector, landmarks, pretrained CNN weights). Set the variable to move it.
- ``artifacts/``: trained runs, one folder each (ignored by git).
- ``data/``: generated or user datasets (ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The folder for model files (face models, pretrained weights); created on demand."""
    root = Path(os.environ.get("PAINXAI_HOME", Path.home() / ".cache" / "painxai")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def face_models_dir() -> Path:
    """The folder holding the MediaPipe face detector and FaceMesh landmark model files."""
    path = home() / "face_models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def weights_dir() -> Path:
    """The folder holding pretrained CNN weight files (keras-vggface notop files, ImageNet)."""
    path = home() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    """The default folder of trained runs (``PAINXAI_ARTIFACTS`` overrides it)."""
    return Path(os.environ.get("PAINXAI_ARTIFACTS", PROJECT_ROOT / "artifacts"))
