"""The region vocabulary shared by the twin, the landmark masks and the attribution."""

import numpy as np

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
