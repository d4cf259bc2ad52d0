"""Per-model input preprocessing (docs/PROTOCOL.md#preprocessing), shared by training, explanations and the dashboard.

Every model takes already preprocessed float32 images; ``preprocess`` turns RGB uint8 photos into them.
The modes reproduce keras-vggface ``preprocess_input`` (version 1 for VGG16 / VGGFace, version 2 for
ResNet50 and SENet50 / VGGFace2: RGB -> BGR then subtract the per-channel means of the training faces,
no scaling), Keras's InceptionV3 scaling to [-1, 1], and N-CNN's scaling to [0, 1].
"""

from __future__ import annotations

import numpy as np

#: Per-channel means in **BGR** order, in 0-255 pixel units, as published with the VGGFace weights.
VGGFACE1_BGR_MEAN = (93.5940, 104.7624, 129.1863)
VGGFACE2_BGR_MEAN = (91.4953, 103.8827, 131.0912)

PREPROCESSING_MODES = ("vggface1", "vggface2", "inception", "unit")


def preprocess_mode(mode: str, images: np.ndarray) -> np.ndarray:
    """Apply one preprocessing mode to a batch of RGB uint8 images.

    ``images``: ``(N, H, W, 3)`` uint8, RGB. Returns ``(N, H, W, 3)`` float32: BGR minus the VGGFace means
    (``vggface1``/``vggface2``), ``x / 127.5 - 1`` (``inception``) or ``x / 255`` (``unit``).
    """
    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"unknown preprocessing mode {mode!r}; known: {', '.join(PREPROCESSING_MODES)}")
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"preprocess expects uint8 RGB images (0-255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"preprocess expects a batch of RGB images (N, H, W, 3), got shape {images.shape}")
    pixels = images.astype(np.float32)
    if mode == "inception":
        return pixels / np.float32(127.5) - np.float32(1.0)
    if mode == "unit":
        return pixels / np.float32(255.0)
    mean = np.asarray(VGGFACE1_BGR_MEAN if mode == "vggface1" else VGGFACE2_BGR_MEAN, dtype=np.float32)
    return pixels[..., ::-1] - mean
