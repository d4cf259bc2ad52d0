"""The input gate: nothing without a usable face is scored; the twin's faces are (docs/GATE.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_gate import non_faces

from painxai.inference import gate


def test_noise_tiny_images_and_non_face_photos_are_refused_with_a_reason():
    images = non_faces(seed=3)
    # The two cases first, then a spread of the bench's set (every texture and photo, some noise).
    chosen = {"8x8": np.full((8, 8, 3), 128, np.uint8), **{
        name: image for name, image in images.items() if "#" not in name or name.endswith("#0")}}
    accepted = []
    for name, image in chosen.items():
        screening = gate.screen_photo(image)
        if screening.accepted:
            accepted.append(name)
        else:
            assert screening.reason.startswith("This photo is not scored: ") and "by hand" in screening.reason
            assert ".." not in screening.reason
    assert not accepted, f"the gate let through images without a face: {accepted}"


def test_the_twins_faces_and_an_adult_face_are_accepted(tiny_twin):
    from skimage.data import astronaut

    from painxai.data.images import load_image
    from painxai.data.manifest import read_manifest

    manifest = read_manifest(tiny_twin["manifest"])
    screenings = [gate.screen_photo(load_image(path)) for path in manifest["path"]]
    share = np.mean([s.accepted for s in screenings])
    assert share >= 0.9, f"only {share:.0%} of the twin's faces pass the gate (docs/GATE.md measured 96%)"
    for screening in screenings:
        if screening.accepted:
            assert screening.box is not None and screening.landmarks is not None and screening.landmarks.ok
    assert gate.screen_photo(astronaut()).accepted


def test_a_box_drawn_by_hand_is_accepted_unless_too_small():
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    assert not gate.screen_photo(noise).accepted
    by_hand = gate.screen_photo(noise, box=(100, 100, 300, 300))
    assert by_hand.accepted and by_hand.by_hand and by_hand.box == (100, 100, 300, 300)
    tiny = gate.screen_photo(noise, box=(0, 0, 10, 10))
    assert not tiny.accepted and "10 pixels" in tiny.reason
    with pytest.raises(gate.PhotoRefusedError, match="too small"):
        gate.screen_photo(np.zeros((8, 8, 3), np.uint8), box=(0, 0, 8, 8)).require()
