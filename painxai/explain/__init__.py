"""Explanations: CAMs and input attributions (one registry: ``methods``), display, NFCS regions, faithfulness.

``display`` and ``attribution`` are light (numpy, matplotlib). The names below that need
TensorFlow are loaded on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "gradcam": "painxai.explain.cam",
    "explain_model": "painxai.explain.cam",
    "ClassTarget": "painxai.explain.cam",
    "BaseCAM": "painxai.explain.cam",
    "GradCAM": "painxai.explain.cam",
    "CounterfactualGradCAM": "painxai.explain.cam",
    "GradCAMPlusPlus": "painxai.explain.cam",
    "ScoreCAM": "painxai.explain.cam",
    "IntegratedGradients": "painxai.explain.integrated_gradients",
    "RISE": "painxai.explain.rise",
    "METHODS": "painxai.explain.methods",
    "method_class": "painxai.explain.methods",
    "ensemble_explain": "painxai.explain.ensemble",
    "ensemble_maps": "painxai.explain.ensemble",
    "EnsembleExplanation": "painxai.explain.ensemble",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the heavy module that defines ``name`` when it is first asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'painxai.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
