"""A sixth CNN added from this file alone: registered, trained by the smoke profile, audited, shown by the app.

The model, its spec, its base and its preprocessing live here and nowhere else; if any module of painxai
still listed the five models by name, one of these steps would not know the sixth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from painxai.models import (
    ModelSpec,
    build,
    model_names,
    preprocess,
    register_model,
    register_preprocessing,
    unregister_model,
    unregister_preprocessing,
)

NAME = "sixth"
SIDE = 32


def centred(pixels: np.ndarray) -> np.ndarray:
    """The sixth model's own preprocessing: pixels (0-255) -> [-0.5, 0.5]."""
    return pixels / np.float32(255.0) - np.float32(0.5)


def sixth_base(image, weights_file: Path | None = None):
    """Two 3x3 convs with a pool between them, then a global average: ``(None, 32, 32, 3)`` -> ``(None, 8)``."""
    from keras import layers

    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(image)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    return layers.GlobalAveragePooling2D(name="gap")(x)


SPEC = ModelSpec(
    name=NAME,
    title="Sixth (two convs, for tests)",
    base_weights=None,
    weights_file=None,
    weights_url=None,
    paper_input_size=SIDE,
    demo_input_size=SIDE,
    min_input_size=SIDE,
    preprocessing="sixth_centred",
    head=(8,),
    head_dropout=0.1,
    output="softmax2",
    last_conv_layer="conv2",
    finetune_layers=("conv2",),
    finetune_companions=(),
    phase2_cut_layer="pool1",
    total_params=(3 * 3 * 3 * 8 + 8) + (3 * 3 * 8 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2),
)


@pytest.fixture(scope="module")
def sixth() -> Iterator[str]:
    """The sixth model, registered for this module's tests and unregistered after them."""
    register_preprocessing(SPEC.preprocessing, centred)
    register_model(SPEC, sixth_base)
    try:
        yield NAME
    finally:
        unregister_model(NAME)
        unregister_preprocessing(SPEC.preprocessing)


@pytest.fixture(scope="module")
def sixth_run(sixth: str, tiny_twin: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smoke-profile run of the sixth model alone on the tiny twin (2 folds)."""
    from painxai.training.profiles import TrainConfig
    from painxai.training.protocol import train

    out = tmp_path_factory.mktemp("artifacts") / "sixth_run"
    config = TrainConfig(manifest=tiny_twin["manifest"], folds=tiny_twin["folds"], out=out, models=(sixth,),
                         profile="smoke", weights="none", cache_dir=out.parent / "cache")
    summary = train(config)
    assert sorted(summary.trained) == [(sixth, 0), (sixth, 1)]
    return out


def test_the_sixth_model_is_registered_after_table_1_and_builds_from_its_spec(sixth: str) -> None:
    assert model_names() == ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn", sixth)
    model = build(sixth, weights=None)
    assert model.count_params() == SPEC.total_params
    assert model.output_shape == (None, 2)
    pixels = np.array([[[[0, 255, 51]]]], dtype=np.uint8)
    np.testing.assert_allclose(preprocess(sixth, pixels)[0, 0, 0], [-0.5, 0.5, -0.3], rtol=1e-6)


def test_the_sixth_model_trains_under_the_smoke_profile_and_records_its_preprocessing(sixth_run: Path) -> None:
    from painxai.runs.reader import Run

    run = Run(sixth_run)
    assert run.models() == [NAME]
    info = run.model_info(NAME)
    assert (info.input_size, info.preprocessing) == (SIDE, "sixth_centred")
    ensemble = run.ensemble(NAME)
    assert ensemble.preprocessing == "sixth_centred"
    probabilities = ensemble.predict(np.zeros((3, SIDE, SIDE, 3), dtype=np.uint8))
    assert probabilities.shape == (2, 3) and np.all((probabilities >= 0) & (probabilities <= 1))


def test_the_sixth_model_is_audited(sixth_run: Path) -> None:
    from painxai.audit.model import AuditSettings
    from painxai.audit.run import audit_run

    settings = AuditSettings(images=4, faithfulness_steps=4, conv_steps=2, agreement_images=2, located_images=4,
                             prior_images=2)
    document = audit_run(sixth_run, models=[NAME], settings=settings)
    entry = document["methods"]["gradcam"][NAME]
    assert entry["folds"] == [0, 1]
    assert (entry["explained_layer"], entry["input_size"], entry["n_images"]) == (SPEC.explained_layer, SIDE, 4)
    assert entry["map_resolution"] == [SIDE // 2, SIDE // 2]  # conv2, after the 2x2 pool
    assert entry["verdict"]


def test_the_dashboard_shows_the_sixth_model(sixth_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_app import open_page

    monkeypatch.setenv("PAINXAI_ARTIFACTS", str(sixth_run.parent))
    monkeypatch.setenv("PAINXAI_RUN", str(sixth_run))
    monkeypatch.setenv("PAINXAI_WARM", "0")
    at = open_page("app_pages/metrics.py")
    assert not at.exception
    assert list(at.dataframe[0].value.columns) == [NAME]
    at = open_page("app_pages/models.py")
    assert not at.exception
    assert any(f"`{NAME}`" in str(element.value) for element in at.markdown)


def test_the_registry_refuses_taken_names_and_unknown_preprocessing(sixth: str) -> None:
    import dataclasses

    with pytest.raises(ValueError, match="already registered"):
        register_model(SPEC, sixth_base)
    with pytest.raises(ValueError, match="register its preprocessing"):
        register_model(dataclasses.replace(SPEC, name="seventh", preprocessing="nowhere"), sixth_base)
    with pytest.raises(ValueError, match="still used by sixth"):
        unregister_preprocessing(SPEC.preprocessing)
    with pytest.raises(ValueError, match="already registered"):
        register_preprocessing(SPEC.preprocessing, lambda pixels: pixels)
    assert model_names()[-1] == sixth
