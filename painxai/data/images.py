"""Reading photos: one ``load_image`` for training, the CLI and the dashboard.

Whatever the file (JPEG from a phone with an EXIF rotation, 16-bit PNG, CMYK JPEG, RGBA screenshot,
palette GIF, float TIFF), the result is the picture as a person sees it: an (H, W, 3) uint8 RGB array.
Files that are not images, are cut short, or are large enough to exhaust memory when decoded
(decompression bombs) are refused with an ``ImageLoadError`` whose message a user can act on.
The input is only ever read.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from painxai.errors import PainxaiError

DEFAULT_MAX_PIXELS = 50_000_000
# Modes that carry transparency: they are composited on white, as an image viewer shows them.
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


class ImageLoadError(PainxaiError):
    """A photo could not be read; the message says why in plain words."""


def load_image(source: str | os.PathLike[str] | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo from a path or from its bytes into an (H, W, 3) uint8 RGB array.

    Applies the EXIF orientation; converts grayscale, LA/RGBA/palette (transparency composited on
    white), CMYK, 16-bit integer and float images to 8-bit RGB; keeps the first frame of
    multi-frame files. ``max_pixels`` (width x height) is checked from the header before any pixel is
    decoded; Pillow's own hard limit (about 179 megapixels) applies as well.

    Raises ImageLoadError for a missing or empty file, empty bytes, a non-image, a truncated or
    corrupt file, or an image above ``max_pixels``.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    name, data = _read_source(source)
    try:
        with warnings.catch_warnings():
            # Pillow warns about images above ~89 megapixels when it opens them; the size is checked below with
            # a message of our own, so its warning text must not reach the user.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageLoadError(
                        f"{name} is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels), above the "
                        f"limit of {max_pixels / 1e6:.0f} megapixels: resize it first"
                    )
                image.load()  # decode every pixel now, so a truncated file fails here and not later
                upright = ImageOps.exif_transpose(image)
                return _to_rgb8(upright, name)
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{name} is too large to decode safely ({error})") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(f"{name} is not an image, or not in a format that can be read") from error
    except (OSError, SyntaxError, EOFError) as error:
        raise ImageLoadError(f"{name} is damaged or cut short and cannot be decoded ({error})") from error


def _read_source(source: str | os.PathLike[str] | bytes) -> tuple[str, bytes]:
    """Return a name for messages and the raw bytes of ``source``."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = "the uploaded file"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        name = str(path)  # the whole path: a manifest may list many files of the same name
        if not path.is_file():
            raise ImageLoadError(f"{path} does not exist or is not a file")
        data = path.read_bytes()
    else:
        raise TypeError(f"load_image takes a path or bytes, not {type(source).__name__}")
    if not data:
        raise ImageLoadError(f"{name} is empty (0 bytes)")
    return name, data


def _to_rgb8(image: Image.Image, name: str) -> np.ndarray:
    """Convert a decoded Pillow image of any mode to an (H, W, 3) uint8 RGB array."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in {"I", "F"}:
        gray = _scale_to_uint8(np.asarray(image), image.mode, name)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _scale_to_uint8(values: np.ndarray, mode: str, name: str) -> np.ndarray:
    """Map a high-bit-depth gray image (H, W) to uint8 (H, W) by scaling, never by clipping.

    16-bit integers (and 32-bit "I" images whose values fit 16 bits, which is how Pillow has long
    exposed 16-bit PNGs) are divided by 257 so that 65535 maps to 255 and the exposure is kept.
    Floats within [0, 1] are multiplied by 255. Anything else (negative or wider values) is stretched
    from its own minimum to its maximum, because no fixed scale is known for it.
    """
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ImageLoadError(f"{name} holds non-finite pixel values (NaN or infinity)")
    low, high = float(values.min()), float(values.max())
    if mode in _SIXTEEN_BIT_MODES or (mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 257.0
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    else:
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3) or (H, W) uint8 image as PNG bytes (in memory; nothing touches the disk)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"encode_png needs an (H, W, 3) or (H, W) uint8 array, got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch of square RGB images (N, S, S, 3) uint8 to (N, size, size, 3) uint8
    (area interpolation when shrinking, bilinear when enlarging); returns the input when S == size."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    import cv2

    interpolation = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_LINEAR
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        out[index] = cv2.resize(image, (size, size), interpolation=interpolation)
    return out
