"""The process-wide ensemble store: one load per model, concurrent callers wait only for what they need."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from painxai.errors import PainxaiError
from painxai.inference.warm import EnsembleStore


class FakeRun:
    """What the store needs of a Run: a path, the finished folds and a (slow) ensemble loader."""

    def __init__(self, path: Path, seconds: float = 0.2, broken: tuple[str, ...] = ()) -> None:
        self.path, self.name, self.seconds, self.broken = path, path.name, seconds, broken
        self.loads: list[str] = []

    def finished_folds(self, model: str) -> list[int]:
        return [0, 1]

    def ensemble(self, model: str, folds: list[int]) -> tuple[str, tuple[int, ...]]:
        self.loads.append(model)
        time.sleep(self.seconds)
        if model in self.broken:
            raise PainxaiError(f"{model}/fold_1/trained.weights.h5: cannot load these fold weights")
        return (model, tuple(folds))


def test_each_model_loads_once_however_many_sessions_ask(tmp_path):
    store, run = EnsembleStore(warm=False), FakeRun(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.get(run, "vgg16"))) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert run.loads == ["vgg16"] and results == [("vgg16", (0, 1))] * 5
    assert store.loaded(run, "vgg16") and not store.loaded(run, "ncnn")


def test_the_background_thread_loads_every_model_and_a_request_waits_only_for_its_own(tmp_path):
    store, run = EnsembleStore(warm=False), FakeRun(tmp_path, seconds=0.3)
    thread = store.warm(run, ["vgg16", "resnet50", "ncnn"])
    assert store.warm(run, ["vgg16", "resnet50", "ncnn"]) is thread  # started once
    started = time.perf_counter()
    assert store.get(run, "vgg16") == ("vgg16", (0, 1))
    assert time.perf_counter() - started < 0.55  # not behind the other two models
    thread.join()
    assert sorted(run.loads) == ["ncnn", "resnet50", "vgg16"]


def test_a_model_that_fails_to_load_reports_every_time_and_the_others_go_on(tmp_path):
    store, run = EnsembleStore(warm=False), FakeRun(tmp_path, seconds=0.0, broken=("ncnn",))
    heard = []
    store.warm(run, ["ncnn", "vgg16"], on_error=lambda model, error: heard.append(model)).join()
    assert heard == ["ncnn"] and store.loaded(run, "vgg16")
    for _ in range(2):
        with pytest.raises(PainxaiError, match=r"trained\.weights\.h5"):
            store.get(run, "ncnn")
    assert run.loads.count("ncnn") == 1


def test_the_store_keeps_only_the_most_recent_ensembles(tmp_path):
    store, run = EnsembleStore(keep=2, warm=False), FakeRun(tmp_path, seconds=0.0)
    for model in ("a", "b", "c"):
        store.get(run, model)
    assert not store.loaded(run, "a") and store.loaded(run, "b") and store.loaded(run, "c")
