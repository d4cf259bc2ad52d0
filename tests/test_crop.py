"""Face crops and their transform: points, maps and label maps go back and forth consistently."""

from __future__ import annotations

import numpy as np
import pytest

from painxai.errors import RequestError
from painxai.faces.crop import CropTransform, crop_face, square_box


def _photo(height: int = 90, width: int = 120, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_square_box_adds_the_margin_on_each_side_around_the_box_centre() -> None:
    window = square_box((40, 30, 60, 70), 0.25, (90, 120, 3))
    x0, y0, x1, y1 = window
    assert x1 - x0 == y1 - y0 == 60  # longer side 40 x (1 + 2 x 0.25)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == (50, 50)


def test_no_box_gives_the_centred_square_of_the_shorter_side() -> None:
    assert square_box(None, 0.25, (90, 120)) == (15, 0, 105, 90)


def test_points_round_trip_through_the_crop() -> None:
    photo = _photo()
    _crop, transform = crop_face(photo, (70, 5, 110, 40), size=64)  # the window reaches past the photo
    points = np.array([[0.0, 0.0], [85.5, 20.25], [119.9, 89.9], [-3.0, 100.0]])
    np.testing.assert_allclose(transform.to_original(transform.to_crop(points)), points, atol=1e-9)
    window = transform.window
    corners = np.array([[window[0], window[1]], [window[2], window[3]]])
    np.testing.assert_allclose(transform.to_crop(corners), [[0, 0], [64, 64]], atol=1e-9)


def test_crop_pixels_are_the_window_of_the_photo() -> None:
    photo = _photo()
    crop, transform = crop_face(photo, (40, 30, 60, 50), size=30, margin=0.25)  # 30 px window: scale 1
    x0, y0, x1, y1 = (int(v) for v in transform.window)
    np.testing.assert_array_equal(crop, photo[y0:y1, x0:x1])
    # A pixel centre of the photo lands on the same pixel centre of the crop.
    (column, row), = transform.to_crop(np.array([[47.5, 41.5]])).astype(int)
    np.testing.assert_array_equal(crop[row, column], photo[41, 47])


def test_pixels_outside_the_photo_repeat_its_edge() -> None:
    photo = _photo(40, 40)
    crop, transform = crop_face(photo, (0, 0, 20, 20), size=30, margin=0.25)  # window (-5, -5, 25, 25)
    assert transform.window == (-5, -5, 25, 25)
    np.testing.assert_array_equal(crop[:5, 5:], np.broadcast_to(photo[0, :25], (5, 25, 3)))
    np.testing.assert_array_equal(crop[5:, :5], np.broadcast_to(photo[:25, :1], (25, 5, 3)))
    np.testing.assert_array_equal(crop[:5, :5], np.broadcast_to(photo[0, 0], (5, 5, 3)))


@pytest.mark.parametrize("map_side", [7, 64, 200])
def test_a_map_of_ones_goes_back_onto_exactly_the_crop_square(map_side: int) -> None:
    photo = _photo()
    _crop, transform = crop_face(photo, (30.3, 20.7, 70.2, 50.1), size=64)
    back = transform.map_to_original(np.ones((map_side, map_side)), photo.shape)
    x0, y0, x1, y1 = (int(v) for v in transform.window)
    expected = np.zeros(photo.shape[:2], dtype=np.float32)
    expected[max(y0, 0) : y1, max(x0, 0) : x1] = 1.0
    np.testing.assert_allclose(back, expected, atol=1e-6)


def test_a_map_peak_goes_back_where_it_was_in_the_photo() -> None:
    photo = _photo()
    _crop, transform = crop_face(photo, (30, 20, 70, 60), size=60)
    heatmap = np.zeros((60, 60), dtype=np.float32)
    heatmap[12, 40] = 1.0  # crop pixel centre (40.5, 12.5)
    back = transform.map_to_original(heatmap)
    row, column = np.unravel_index(np.argmax(back), back.shape)
    expected = transform.to_original(np.array([[40.5, 12.5]]))[0]
    assert abs(column + 0.5 - expected[0]) <= 0.5 and abs(row + 0.5 - expected[1]) <= 0.5


def test_label_map_is_cropped_like_the_image_with_nearest_labels_and_zero_outside() -> None:
    photo = np.zeros((80, 100, 3), dtype=np.uint8)
    label_map = np.zeros((80, 100), dtype=np.uint8)
    photo[30:50, 60:80] = 255
    label_map[30:50, 60:80] = 5
    crop, transform = crop_face(photo, (55, 0, 95, 30), size=50)  # window reaches above the photo
    cropped = transform.crop_label_map(label_map)
    assert cropped.shape == (50, 50) and set(np.unique(cropped)) <= {0, 5}
    bright = crop[..., 0] > 127
    assert (bright == (cropped == 5)).mean() > 0.98
    top_rows = round(-transform.window[1] * 50 / 60)
    assert (cropped[:top_rows] == 0).all()


def test_resizing_shrinks_by_area_averaging() -> None:
    photo = np.zeros((64, 64, 3), dtype=np.uint8)
    photo[:, ::2] = 255  # one-pixel stripes: a point sampler would alias them to black or white
    crop, _transform = crop_face(photo, None, size=16)
    assert np.abs(crop.astype(int) - 127).max() <= 1


def test_bad_inputs_get_clear_errors() -> None:
    photo = _photo()
    with pytest.raises(ValueError, match="uint8"):
        crop_face(photo.astype(np.float32), None, 32)
    with pytest.raises(RequestError, match="outside"):
        crop_face(photo, (200, 200, 220, 220), 32)
    with pytest.raises(ValueError, match="x0 < x1"):
        crop_face(photo, (50, 50, 40, 60), 32)
    with pytest.raises(ValueError, match="margin"):
        crop_face(photo, (10, 10, 40, 40), 32, margin=-0.1)
    with pytest.raises(ValueError, match="positive integer"):
        crop_face(photo, None, 0)
    _crop, transform = crop_face(photo, None, 32)
    with pytest.raises(ValueError, match="shape"):
        transform.map_to_original(np.ones(5))
    with pytest.raises(ValueError, match="photo"):
        transform.map_to_original(np.ones((4, 4)), (10, 10))
    with pytest.raises(ValueError, match="label map"):
        transform.crop_label_map(np.zeros((5, 5), np.uint8))


def test_transform_is_immutable() -> None:
    _crop, transform = crop_face(_photo(), None, 32)
    assert isinstance(transform, CropTransform)
    with pytest.raises(AttributeError):
        transform.size = 64  # type: ignore[misc]
