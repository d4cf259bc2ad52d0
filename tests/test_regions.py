"""The region vocabulary shared by the twin, the landmark masks and the attribution."""

import numpy as np
import pytest

from painxai.data import regions


def test_paint_order_covers_every_region_once():
    assert sorted(regions.PAINT_ORDER) == sorted(regions.REGIONS)
    assert set(regions.CUE_REGIONS) <= set(regions.REGIONS)
    assert set(regions.REGION_GROUPS) == set(regions.REGIONS)


def test_label_map_round_trip_and_cue_regions_win_overlaps():
    chin = np.zeros((4, 4), bool)
    chin[2:, :] = True
    mouth = np.zeros((4, 4), bool)
    mouth[1:3, 1:3] = True
    label_map = regions.masks_to_label_map({"chin": chin, "mouth": mouth})
    masks = regions.label_map_to_masks(label_map)
    assert masks["mouth"][2, 1] and not masks["chin"][2, 1]  # the overlap belongs to the mouth
    assert masks["chin"][3, 0] and masks["mouth"].sum() == 4
    assert regions.mask_path("/d/s/img01.png").name == "img01.regions.png"


def test_read_label_map_one_rule_for_missing_good_and_mismatched_masks(tmp_path):
    from PIL import Image

    image = tmp_path / "s1_0.png"
    assert regions.read_label_map(image, (6, 8, 3)) is None  # no mask: the caller uses landmarks
    label_map = np.zeros((6, 8), np.uint8)
    label_map[2:4, 3:5] = regions.REGIONS.index("mouth") + 1
    Image.fromarray(label_map).save(regions.mask_path(image))
    np.testing.assert_array_equal(regions.read_label_map(image, (6, 8, 3)), label_map)
    with pytest.raises(regions.RegionMaskError, match=r"s1_0\.regions\.png.*8x6 pixels beside an image of 9x6"):
        regions.read_label_map(image, (6, 9, 3))
    Image.fromarray(np.full((6, 8), len(regions.REGIONS) + 1, np.uint8)).save(regions.mask_path(image))
    with pytest.raises(regions.RegionMaskError, match="region id 7"):
        regions.read_label_map(image, (6, 8, 3))
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(regions.mask_path(image))
    with pytest.raises(regions.RegionMaskError, match="one uint8 channel"):
        regions.read_label_map(image, (6, 8, 3))
    regions.mask_path(image).write_bytes(b"not a png")
    with pytest.raises(regions.RegionMaskError, match="cannot read"):
        regions.read_label_map(image, (6, 8, 3))
