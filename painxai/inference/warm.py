"""Fold ensembles loaded once per process, warmed in the background, shared by every caller.

Loading a model's ten folds and tracing its fused function (:func:`painxai.explain.ensemble.warm_up`)
takes seconds; a dashboard that waited for the first photo to do it would make its first user wait for
all five models. :meth:`EnsembleStore.warm` starts one background thread that loads and warms the
models one after the other; a request for a model waits only for that model (or loads it itself when
the thread has not reached it). Each model has its own lock, so sessions asking for different models,
or for models already loaded, never wait on each other; only the load of one model is done once.

The store is bounded: it keeps the ensembles of the most recent ``keep`` (run, folds, model) keys and
releases older ones, so a dashboard switching between runs does not grow without limit.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from painxai.runs.reader import FoldEnsemble, Run

Key = tuple[str, tuple[int, ...], str]  # run folder, folds, model


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    ensemble: FoldEnsemble | None = None
    error: Exception | None = None


class EnsembleStore:
    """Loaded and warmed :class:`FoldEnsemble` objects keyed by (run folder, folds, model)."""

    def __init__(self, keep: int = 5, warm: bool = True) -> None:
        self.keep = keep
        self._warm = warm
        self._slots: OrderedDict[Key, _Slot] = OrderedDict()
        self._lock = threading.Lock()  # guards the dictionary only, never held while loading
        # Keras builds models through process-wide state (layer names, the graph scope), so two models
        # are never built at once; the build is a few seconds once per model, then never again.
        self._build_lock = threading.Lock()
        self._threads: dict[tuple[str, tuple[str, ...]], threading.Thread] = {}

    def _slot(self, key: Key) -> _Slot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
            self._slots.move_to_end(key)
            while len(self._slots) > self.keep:
                self._slots.popitem(last=False)  # the least recently asked for
                gc.unfreeze()  # its models may have been frozen (see warm); the collector may free them now
            return slot

    def get(self, run: Run, model: str) -> FoldEnsemble:
        """The healthy finished folds of ``model`` in ``run``, loaded and warmed (once per process).

        Raises what loading raised (e.g. RunError for a fold file that fails to load), every time it
        is asked, until the run's folds change.
        """
        key: Key = (str(run.path.resolve()), tuple(run.finished_folds(model)), model)
        slot = self._slot(key)
        with slot.lock:
            if slot.ensemble is None and slot.error is None:
                try:
                    slot.ensemble = self._load(run, model, list(key[1]))
                except Exception as error:  # kept, so that every session gets the same message
                    slot.error = error
            if slot.error is not None:
                raise slot.error
            assert slot.ensemble is not None  # loaded: no error was kept
            return slot.ensemble

    def loaded(self, run: Run, model: str) -> bool:
        """True when ``model``'s current folds are loaded (a later :meth:`get` returns at once)."""
        key: Key = (str(run.path.resolve()), tuple(run.finished_folds(model)), model)
        with self._lock:
            slot = self._slots.get(key)
        return slot is not None and slot.ensemble is not None

    def _load(self, run: Run, model: str, folds: list[int]) -> FoldEnsemble:
        with self._build_lock:
            ensemble = run.ensemble(model, folds=folds)
        if self._warm:
            from painxai.explain.ensemble import warm_up

            warm_up(ensemble)
        return ensemble

    def _run_once_more(self, run: Run, models: Sequence[str]) -> None:
        """One more pass over every loaded model, in a new thread, once all are loaded.

        A model warmed right after its own loading was still slow on its first call once the other models
        had been loaded and warmed (bench/README.md, "Figures moved out of the code"); one pass over all of
        them at the end takes that cost here instead of on the first photo. The cause is inside TensorFlow's
        runtime; this is measured, not explained.
        """
        from painxai.explain.ensemble import warm_up

        def again() -> None:
            for model in models:
                if self.loaded(run, model):
                    warm_up(self.get(run, model))

        thread = threading.Thread(target=again, name="painxai-warm-again")
        thread.start()
        thread.join()

    def warm(
        self, run: Run, models: Sequence[str], on_error: Callable[[str, Exception], None] | None = None
    ) -> threading.Thread:
        """Load and warm ``models`` of ``run`` in one background thread (started once per run and model
        list; a later call returns the same thread). ``on_error(model, error)`` hears of a model that
        failed to load; the others go on."""
        name = (str(run.path.resolve()), tuple(models))
        with self._lock:
            thread = self._threads.get(name)
            if thread is not None:
                return thread

            def work() -> None:
                if self._warm:
                    _warm_face_models()
                for model in models:
                    try:
                        self.get(run, model)
                    except Exception as error:  # reported, and raised again to whoever asks for the model
                        if on_error is not None:
                            on_error(model, error)
                if self._warm:
                    self._run_once_more(run, models)
                    # The loaded models are some 600,000 Python objects that live as long as the process:
                    # moved out of the collector's view, a full collection no longer walks them with the
                    # interpreter held (a dashboard collects after every script run; bench/README.md).
                    gc.freeze()

            thread = threading.Thread(target=work, name=f"painxai-warm-{run.name}", daemon=True)
            self._threads[name] = thread
        thread.start()
        return thread


def _warm_face_models() -> None:
    """Create the face detector now (MediaPipe builds it on first use: a few tenths of a second)."""
    import numpy as np

    from painxai.faces.detection import detect_faces

    # A missing model file or a broken MediaPipe is reported when a photo is searched, not here.
    with contextlib.suppress(Exception):
        detect_faces(np.zeros((64, 64, 3), np.uint8))


STORE = EnsembleStore()
"""The process's store: the dashboard and the command line share it."""
