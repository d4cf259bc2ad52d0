"""Putting pretrained base weights on this machine: download them or import a file, checked before they are kept.

Both paths load the file strictly into the model (:func:`painxai.models.networks.build`) before copying it
under its canonical name into :func:`painxai.paths.weights_dir`, so a wrong or truncated file is refused
and nothing is kept. This module sits above ``networks`` (it builds models to check files), which sits
above ``base_weights`` (file locations and the strict legacy loader): imports go one way.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from painxai.atomic import atomic_path
from painxai.errors import RequestError
from painxai.models.base_weights import WeightsFileError
from painxai.models.networks import build
from painxai.models.registry import get_spec
from painxai.models.specs import ModelSpec
from painxai.paths import weights_dir

#: MD5 that Keras publishes for the InceptionV3 notop file (keras.applications.inception_v3).
INCEPTION_NOTOP_MD5 = "bcbd6486424b2319ff4ef7d526e38f63"


def import_weights(file: str | Path, model_name: str) -> Path:
    """Check that ``file`` loads strictly into model ``model_name``'s base, then copy it into ``weights_dir()``.

    The copy is atomic and takes the canonical name (``SPECS[model_name].weights_file``). Returns its path.
    Raises ``WeightsFileError`` (with every mismatch listed) or ``FileNotFoundError``; nothing is copied then.
    """
    spec = get_spec(model_name)
    if spec.weights_file is None:
        raise RequestError(f"{model_name} is trained from scratch: it has no pretrained weights to import")
    source = Path(file)
    if not source.is_file():
        raise FileNotFoundError(f"weights file not found: {source}")
    side = spec.min_input_size  # conv-base weights do not depend on the input size: build small, fast
    try:
        build(model_name, input_shape=(side, side, 3), weights=source)
    except ValueError as error:  # Keras's own loader (InceptionV3) reports mismatches as ValueError
        raise WeightsFileError(f"{source} does not fit {model_name}: {error}") from None
    target = weights_dir() / spec.weights_file
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def fetch_weights(model_name: str) -> Path:
    """Download model ``model_name``'s original weights, check them, and keep them; returns the file.

    keras-vggface files come from the official release (no checksum is published, so the strict load is
    the check); InceptionV3 goes through Keras's own download (MD5-checked, into Keras's cache).
    Raises ``ConnectionError`` with the URL and the offline alternative when the download fails.
    """
    spec = get_spec(model_name)
    if spec.weights_url is None or spec.weights_file is None:
        raise RequestError(f"{model_name} is trained from scratch: it has no pretrained weights to fetch")
    if spec.base_weights == "ImageNet":
        import keras

        try:
            return Path(keras.utils.get_file(spec.weights_file, spec.weights_url, cache_subdir="models",
                                             file_hash=INCEPTION_NOTOP_MD5))
        except Exception as error:  # Keras reports every failed download as a bare Exception
            raise ConnectionError(_offline_message(spec, error)) from None
    download = weights_dir() / f".{spec.weights_file}.download"
    try:
        with atomic_path(download) as tmp:
            urllib.request.urlretrieve(spec.weights_url, tmp)
    except OSError as error:  # URLError, HTTPError, timeouts, resets: all OSError
        raise ConnectionError(_offline_message(spec, error)) from None
    try:
        return import_weights(download, model_name)
    finally:
        download.unlink(missing_ok=True)


def _offline_message(spec: ModelSpec, error: BaseException) -> str:
    return (f"could not download {spec.weights_url} ({error}). On a machine with internet access, download it "
            f"and run: painxai weights import FILE --model {spec.name}")
