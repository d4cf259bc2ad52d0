"""Keep native libraries' log lines (TensorFlow, absl, glog, LiteRT/MediaPipe) out of the user's terminal.

Users read these lines as errors ("WARNING: All log messages before absl::InitializeLog()", oneDNN and
cpu_feature_guard notes, LiteRT ``INFO:`` lines, "Input tensor memory is not aligned"). Environment
variables silence only part of them: TensorFlow writes its oneDNN note while its shared library loads,
before it reads ``TF_CPP_MIN_LOG_LEVEL``, and LiteRT's own logger reads no variable at all. Both write
only on first use (importing TensorFlow; creating MediaPipe's first detector and running it once), from
C++, straight to file descriptor 2. So :func:`native_stderr` points descriptor 2 at a temporary file
around those calls and afterwards writes back every line that is not a native library's log line:
our own messages (and anything another thread printed meanwhile) still reach the terminal.

:func:`install` sets the variables and wraps the first ``import tensorflow`` in :func:`native_stderr`
through an import hook, so no module that imports TensorFlow has to know about it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

# A native log line: glog/absl ("I0000 00:00:1796.. 123 file.cc:12] ..."), TensorFlow Lite / LiteRT
# ("INFO: ...", "WARNING: Logging before InitGoogle()..."), absl's preamble, and TensorFlow's
# cpu_feature_guard continuation line.
NATIVE_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\]"
    r"|INFO: |VERBOSE: "
    r"|WARNING: (?:All log messages before absl::InitializeLog|Logging before InitGoogle)"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)
_LOCK = threading.RLock()  # one redirection of descriptor 2 at a time
_HEAVY = ("tensorflow", "keras")


def is_native_line(line: str) -> bool:
    """True for a log line written by a native library (see ``NATIVE_LINE``)."""
    return bool(NATIVE_LINE.match(line))


@contextlib.contextmanager
def native_stderr() -> Iterator[None]:
    """Hold back native libraries' log lines written to descriptor 2 during the block; keep the rest."""
    with _LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable descriptor 2 (a closed or replaced stderr): nothing to do
            yield
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                kept = [line for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True)
                        if not is_native_line(line)]
                if kept:
                    os.write(2, "".join(kept).encode())


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside :func:`native_stderr`; anything else is the real loader's."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:  # resource readers, get_data, ...: the real loader's
        return getattr(self._real, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with native_stderr():  # loading its shared libraries is what writes the lines
            self._real.exec_module(module)
        # Retracing and deprecation notices go through Python logging; they are for developers.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` and ``keras`` as usual, then hands their import to :class:`_QuietLoader` (first
    import only: afterwards they are in ``sys.modules`` and no finder is asked)."""

    def find_spec(
        self, name: str, path: Any, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in _HEAVY:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Set the native libraries' log variables (a value the user set wins) and hook TensorFlow's import.

    Call it before TensorFlow or MediaPipe is imported: the command line and app.py do.
    """
    for name, value in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("GLOG_minloglevel", "2"), ("ABSL_MIN_LOG_LEVEL", "3")):
        os.environ.setdefault(name, value)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if "keras" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
