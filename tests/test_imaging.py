"""load_image: every kind of photo becomes (H, W, 3) uint8 RGB; every bad input gets its own clear error."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painxai.data.images import ImageLoadError, encode_png, load_image


def _save(image: Image.Image, path: Path, fmt: str, **options) -> Path:
    image.save(path, format=fmt, **options)
    return path


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels in its header but holds no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _halves(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    return Image.fromarray(pixels)


def test_plain_rgb_png_from_path_and_bytes(tmp_path: Path) -> None:
    path = _save(_halves(), tmp_path / "rgb.png", "PNG")
    from_path, from_bytes = load_image(path), load_image(path.read_bytes())
    assert from_path.shape == (20, 40, 3) and from_path.dtype == np.uint8
    np.testing.assert_array_equal(from_path, from_bytes)
    assert tuple(from_path[0, 0]) == (255, 0, 0) and tuple(from_path[0, -1]) == (0, 0, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Orientation 6: the viewer turns the stored picture 90 degrees clockwise, so its left (red) goes to the top.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(_halves(), tmp_path / "rotated.jpg", "JPEG", exif=exif, quality=95)
    image = load_image(path)
    assert image.shape == (40, 20, 3)
    top, bottom = image[2, 10].astype(int), image[-3, 10].astype(int)
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (4, 1))
    path = _save(Image.fromarray(ramp), tmp_path / "deep.png", "PNG")
    assert Image.open(path).mode.startswith("I")
    image = load_image(path)
    assert image.shape == (4, 256, 3)
    assert image[0, 0, 0] == 0 and image[0, -1, 0] == 255
    assert abs(int(image[0, 128, 0]) - 128) <= 1  # clipping would have given 255 here
    assert np.all(np.diff(image[0, :, 0].astype(int)) >= 0)


def test_float_tiff_in_unit_range(tmp_path: Path) -> None:
    values = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    image = load_image(_save(Image.fromarray(values, mode="F"), tmp_path / "float.tiff", "TIFF"))
    assert image[0, 0, 0] == 0 and image[-1, -1, 0] == 255 and np.all(image[..., 0] == image[..., 2])


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[:, 0] = (255, 0, 0, 255)  # opaque red
    pixels[:, 1] = (0, 0, 0, 0)  # fully transparent
    pixels[:, 2] = (0, 0, 0, 128)  # half-transparent black
    image = load_image(_save(Image.fromarray(pixels, mode="RGBA"), tmp_path / "alpha.png", "PNG"))
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[0, 1]) == (255, 255, 255)
    assert all(abs(int(v) - 127) <= 2 for v in image[0, 2])


def test_grayscale_and_la(tmp_path: Path) -> None:
    gray = np.arange(0, 250, 10, dtype=np.uint8).reshape(5, 5)
    image = load_image(_save(Image.fromarray(gray, mode="L"), tmp_path / "gray.png", "PNG"))
    assert image.shape == (5, 5, 3)
    np.testing.assert_array_equal(image[..., 0], gray)
    np.testing.assert_array_equal(image[..., 1], image[..., 2])
    la = Image.merge("LA", (Image.fromarray(gray), Image.new("L", (5, 5), 0)))
    assert np.all(load_image(_save(la, tmp_path / "la.png", "PNG")) == 255)  # fully transparent -> white


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    palette_image = _halves().convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    image = load_image(_save(palette_image, tmp_path / "palette.gif", "GIF"))
    assert tuple(image[0, 0]) == (255, 0, 0) and tuple(image[0, -1]) == (0, 0, 255)
    red_index = palette_image.getpixel((0, 0))
    transparent = load_image(_save(palette_image, tmp_path / "transparent.png", "PNG", transparency=red_index))
    assert tuple(transparent[0, 0]) == (255, 255, 255) and tuple(transparent[0, -1]) == (0, 0, 255)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    image = load_image(_save(cmyk, tmp_path / "cmyk.jpg", "JPEG", quality=95))
    red, green, blue = (int(v) for v in image[8, 8])
    assert red > 200 and green < 60 and blue < 60


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="damaged or cut short"):
        load_image(path)


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(path)


def test_empty_file_and_empty_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "nowhere.png")


def test_header_above_our_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageLoadError, match="above the limit of 50 megapixels"):
        load_image(_png_header_only(8000, 8000))  # 64 MP; decoding it would fail, so only the header was read
    with pytest.raises(ImageLoadError, match="above the limit of 1 megapixels"):
        load_image(encode_png(np.zeros((1100, 1000, 3), np.uint8)), max_pixels=1_000_000)


def test_pillow_decompression_bomb_becomes_our_error() -> None:
    # 400 MP is above Pillow's own hard limit: Image.open raises before our check can run.
    with pytest.raises(ImageLoadError, match="too large to decode safely"):
        load_image(_png_header_only(20000, 20000), max_pixels=10**9)


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError, match="path or bytes"):
        load_image(np.zeros((4, 4, 3), np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(b"x", max_pixels=0)


def test_input_is_never_written(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 3
    path = _save(_halves(), tmp_path / "photo.jpg", "JPEG", exif=exif)
    before = path.read_bytes()
    load_image(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]


def test_encode_png_round_trip_and_refusals() -> None:
    image = np.random.default_rng(1).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(encode_png(image)), image)
    gray = image[..., 0]
    np.testing.assert_array_equal(load_image(encode_png(gray))[..., 1], gray)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(image.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 4), np.uint8))
