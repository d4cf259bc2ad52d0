"""The Assess page's refusals and the dashboard with damaged runs, through AppTest."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from helpers.runs import build_run, overwrite_every_7th_byte
from PIL import Image

from test_app import PAGES, open_page, photo_bytes, shown_text, upload


@pytest.fixture(scope="module")
def one_model_run(tmp_path_factory):
    """A finished two-fold ncnn run with random weights (the quickest model to load)."""
    return build_run(tmp_path_factory.mktemp("assess_page") / "run", ("ncnn",), k=2, weights="random")


@pytest.fixture()
def assess(one_model_run, monkeypatch):
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(one_model_run.parent))
    monkeypatch.setenv("PAINXAI_RUN", str(one_model_run))
    return open_page(PAGES[0])


def test_the_uploader_names_the_accepted_types_and_refuses_others_plainly(assess):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    at = upload(assess, "face.svg", svg, "image/svg+xml")
    assert not at.exception and not at.metric
    assert len(at.error) == 1
    message = at.error[0].value
    assert "face.svg" in message and ".svg" in message and "JPEG, PNG" in message and "GIF" in message


def test_a_gif_is_read_from_its_first_frame(assess):
    from skimage.data import astronaut

    frames = [Image.fromarray(astronaut()), Image.new("RGB", (512, 512), (0, 0, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    at = upload(assess, "baby.gif", buffer.getvalue(), "image/gif")
    assert not at.exception and not at.error
    assert len(at.metric) == 1  # the astronaut's face passed the gate on the first frame


@pytest.mark.parametrize(
    ("name", "image", "expected"),
    [
        ("noise.png", np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8), "no face was found"),
        ("tiny.png", np.full((8, 8, 3), 128, np.uint8), "too small"),
    ],
)
def test_noise_and_a_tiny_image_get_a_reason_and_no_probability(assess, name, image, expected):
    at = upload(assess, name, photo_bytes(image, "PNG"), "image/png")
    assert not at.exception
    assert not at.metric
    assert expected in shown_text(at)
    assert ".." not in shown_text(at)


def test_a_144_megapixel_png_is_refused_without_a_library_warning(assess):
    buffer = io.BytesIO()
    Image.new("L", (12_000, 12_000)).save(buffer, format="PNG", compress_level=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        at = upload(assess, "huge.png", buffer.getvalue(), "image/png")
    assert not at.exception and not at.metric
    assert "144 megapixels" in at.error[0].value and "resize it first" in at.error[0].value
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert "DecompressionBomb" not in shown_text(at)


# --- damaged runs -------------------------------------------------------------------------------------


@pytest.fixture()
def damaged_artifacts(tmp_path, monkeypatch):
    """Two placeholder-weight runs in one artifacts folder: ``good`` and ``bad`` (damaged by each test)."""
    good = build_run(tmp_path / "artifacts" / "good", ("vgg16", "ncnn"), k=3)
    bad = build_run(tmp_path / "artifacts" / "bad", ("vgg16", "ncnn"), k=3)
    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("PAINXAI_RUN", str(bad))
    monkeypatch.setenv("PAINXAI_WARM", "0")  # placeholder weights: nothing to load in the background
    return good, bad


def test_a_run_json_that_is_not_json_is_named_and_the_other_run_stays_selectable(damaged_artifacts):
    good, bad = damaged_artifacts
    (bad / "run.json").write_text("{ this is not JSON")
    for page in (PAGES[0], "app_pages/metrics.py"):
        at = open_page(page)
        assert not at.exception
        errors = " ".join(e.value for e in at.error)
        assert "cannot be opened" in errors and "run.json" in errors
        assert set(at.selectbox(key="run_choice").options) == {"good", "bad"}
    at.selectbox(key="run_choice").set_value(good).run()
    assert not at.exception and not at.error


@pytest.mark.parametrize("damage", ["corrupt weights", "missing predictions"])
def test_a_damaged_fold_is_named_in_a_banner_and_the_pages_use_the_healthy_ones(damaged_artifacts, damage):
    _good, bad = damaged_artifacts
    if damage == "corrupt weights":
        overwrite_every_7th_byte(bad / "vgg16" / "fold_1" / "trained.weights.h5")
    else:
        (bad / "vgg16" / "fold_1" / "predictions.csv").unlink()
    for page in ("app_pages/metrics.py", "app_pages/data.py", "app_pages/models.py"):
        at = open_page(page)
        assert not at.exception, page
        banner = " ".join(w.value for w in at.warning)
        assert "vgg16 fold 1" in banner and "healthy" in banner, page


def test_a_model_without_a_healthy_fold_is_shown_as_unavailable(damaged_artifacts):
    _good, bad = damaged_artifacts
    overwrite_every_7th_byte(bad / "ncnn" / "initial.weights.h5")
    at = open_page("app_pages/metrics.py")
    assert not at.exception
    assert "Unavailable (no healthy fold): ncnn" in " ".join(w.value for w in at.warning)
