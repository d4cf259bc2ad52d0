"""The third-party packages painxai needs at run time, and a clear message when one is missing.

``RUNTIME_MODULES`` maps every third-party module that ``painxai/``, ``app.py`` and ``app_pages/`` import
(at module level or inside functions) to the distribution that provides it, as pinned in
``requirements.txt``. ``tests/test_dependencies.py`` reads every import of those files and fails when one is
not in this table, when the table names a distribution that ``requirements.txt`` does not pin, or when the
installed distribution does not provide the module: a package that only the tests install can never again
pass CI and then break ``make run`` on a new machine.

:func:`install` (called when ``painxai`` is imported) adds a last-resort import finder: when painxai's own
code imports one of these modules and no installed package provides it, the import raises
:class:`MissingPackageError` (a ``PainxaiError``, caught once by each front end) saying what to install,
instead of a bare ``ModuleNotFoundError``. Imports by other packages are left alone (they often
probe for optional modules), and an installed module is never affected: the finder is asked only after
every other finder has failed.
"""

from __future__ import annotations

import importlib.abc
import sys
from pathlib import Path
from types import FrameType, ModuleType, TracebackType
from typing import Any

from painxai.errors import PainxaiError

RUNTIME_MODULES: dict[str, str] = {
    "PIL": "pillow",
    "av": "av",
    "cv2": "opencv-contrib-python",
    "fpdf": "fpdf2",
    "h5py": "h5py",
    "keras": "keras",
    "matplotlib": "matplotlib",
    "mediapipe": "mediapipe",
    "numpy": "numpy",
    "pandas": "pandas",
    "plotly": "plotly",
    "pylibsrtp": "pylibsrtp",
    "rich": "rich",
    "scikit_posthocs": "scikit-posthocs",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "statsmodels": "statsmodels",
    "streamlit": "streamlit",
    "streamlit_webrtc": "streamlit-webrtc",
    "aiortc": "aiortc",
    "tensorflow": "tensorflow-cpu",
    "typer": "typer",
}
"""Top-level module -> the distribution in requirements.txt that provides it."""

# The files whose imports are painxai's own: the package and, beside it in a checkout, the dashboard.
_PACKAGE_DIR = Path(__file__).resolve().parent
_OWN_PATHS = (str(_PACKAGE_DIR), str(_PACKAGE_DIR.parent / "app_pages"), str(_PACKAGE_DIR.parent / "app.py"))


class MissingPackageError(PainxaiError):
    """A runtime package is not installed in this Python environment; the message says what to install."""


def missing_package_message(module: str) -> str:
    """What to say when ``module`` (a top-level module name) cannot be imported."""
    distribution = RUNTIME_MODULES.get(module)
    package = f"the package {distribution} (module {module})" if distribution else f"the module {module}"
    gpu = " (or requirements-gpu.txt on a machine with an NVIDIA GPU)" if module == "tensorflow" else ""
    return (
        f"painxai needs {package}, which is not installed in this Python environment ({sys.prefix}). "
        f"Install painxai's runtime packages: `make setup` in the painxai folder, or "
        f"`pip install -r requirements.txt`{gpu}."
    )


def _importer_is_ours(frame: FrameType | None) -> bool:
    """True when the first frame outside the import machinery runs a file of painxai or its dashboard."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (name.startswith("importlib") or name == "_frozen_importlib" or name == __name__):
            return frame.f_code.co_filename.startswith(_OWN_PATHS)
        frame = frame.f_back
    return False


class _MissingPackageFinder(importlib.abc.MetaPathFinder):
    """Asked last: raises MissingPackageError for a runtime module that painxai imports and nobody found."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> None:
        if path is None and fullname in RUNTIME_MODULES and _importer_is_ours(sys._getframe(1)):
            raise MissingPackageError(missing_package_message(fullname))
        return None


def _report_missing_package(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """An uncaught MissingPackageError (e.g. the command line's own imports) is one line, not a traceback."""
    if isinstance(error, MissingPackageError):
        print(f"error: {error}", file=sys.stderr)
    else:
        _previous_hook(kind, error, trace)


_previous_hook = sys.excepthook


def load_native_first() -> None:
    """Import the native libraries that crash the process when loaded after TensorFlow or MediaPipe: the
    live camera's SRTP library (pylibsrtp, under aiortc) segfaults then. Every entry point that will serve
    the dashboard calls this before anything loads TensorFlow (app.py, ``painxai serve``, the app tests)."""
    import pylibsrtp  # noqa: F401


def install() -> None:
    """Add the finder (last on ``sys.meta_path``) and the one-line report of an uncaught missing package;
    idempotent."""
    global _previous_hook
    if not any(isinstance(finder, _MissingPackageFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MissingPackageFinder())
    if sys.excepthook is not _report_missing_package:
        _previous_hook = sys.excepthook
        sys.excepthook = _report_missing_package
