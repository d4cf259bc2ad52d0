"""The registry of explanation methods: the one list the dashboard, the CLI and the audit read.

Each method is one class (:class:`painxai.explain.base.ExplanationMethod`) that declares its ``name``,
``label``, ``level`` ("layer" or "input") and whether it is ``fusable`` across folds. Importing this
module does not load TensorFlow (the method modules import it inside their functions), so
``painxai explain --help`` and the dashboard's first page stay fast.
"""

from __future__ import annotations

from painxai.errors import RequestError
from painxai.explain.base import ExplanationMethod
from painxai.explain.cam import CounterfactualGradCAM, GradCAM, GradCAMPlusPlus, ScoreCAM
from painxai.explain.integrated_gradients import IntegratedGradients
from painxai.explain.rise import RISE

METHODS: dict[str, type[ExplanationMethod]] = {
    method.name: method
    for method in (GradCAM, CounterfactualGradCAM, GradCAMPlusPlus, ScoreCAM, IntegratedGradients, RISE)
}
DEFAULT_METHOD = GradCAM.name


def method_class(method: str) -> type[ExplanationMethod]:
    """The class of a method name (a ``METHODS`` key), RequestError naming the known ones otherwise."""
    try:
        return METHODS[method]
    except KeyError:
        raise RequestError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}") from None


def labels() -> dict[str, str]:
    """Method name -> its human label, in registry order."""
    return {name: method.label for name, method in METHODS.items()}


def parse_methods(text: str) -> list[str]:
    """'all' or comma-separated method names -> the names, in the order given (RequestError for unknown ones)."""
    if text.strip() == "all":
        return list(METHODS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise RequestError(f"no method named in {text!r}: expected 'all' or some of {', '.join(METHODS)}")
    return [method_class(name).name for name in dict.fromkeys(names)]


def help_text() -> str:
    """'gradcam = Grad-CAM | ...': every method with its label, for a command's ``--help``."""
    return " | ".join(f"{name} = {label}" for name, label in labels().items())
