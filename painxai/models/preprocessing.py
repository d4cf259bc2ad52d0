"""Applying a model's input preprocessing (docs/PROTOCOL.md#preprocessing), shared by training, explanations
and the dashboard.

Every model takes already preprocessed float32 images. The preprocessing functions are declared by the
architecture modules (VGGFace and VGGFace2 means in ``vgg16.py`` and ``resnet50.py``, InceptionV3's [-1, 1]
in ``inception_v3.py``, N-CNN's [0, 1] in ``ncnn.py``) and registered by name; run.json records that name
with the trained weights, so a run is always fed as it was trained. ``preprocess_mode`` checks the images
once for all of them.
"""

from __future__ import annotations

import numpy as np

from painxai.models.registry import preprocessing_function


def preprocess_mode(mode: str, images: np.ndarray) -> np.ndarray:
    """Apply the preprocessing registered as ``mode`` to a batch of RGB uint8 images.

    ``images``: ``(N, H, W, 3)`` uint8, RGB. Returns ``(N, H, W, 3)`` float32. An unknown ``mode`` is a
    RequestError; images of another dtype or shape are a ValueError.
    """
    function = preprocessing_function(mode)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"preprocess expects uint8 RGB images (0-255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"preprocess expects a batch of RGB images (N, H, W, 3), got shape {images.shape}")
    return function(images.astype(np.float32))


def bgr_minus_mean(pixels: np.ndarray, bgr_mean: tuple[float, float, float]) -> np.ndarray:
    """keras-vggface's ``preprocess_input``: RGB float pixels ``(N, H, W, 3)`` -> BGR minus ``bgr_mean``
    (per channel, 0-255 units, no scaling)."""
    return pixels[..., ::-1] - np.asarray(bgr_mean, dtype=np.float32)
