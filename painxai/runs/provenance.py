"""What produced a run's numbers: which data (twin or real), which weights, which profile, and per model
what inference needs (input size, preprocessing, crop margin).

Twin or real (:func:`data_source`): a manifest is the synthetic twin when its folder holds the
``twin.json`` that ``painxai synth`` writes (a JSON object with a ``generator`` version) and every
image's dataset is named ``twin-...`` (the generator's names); anything else is real data. Both marks
are needed, so a real manifest saved into a twin's folder, or real datasets that happen to start with
"twin-", are not taken for the twin by accident alone. Runs that predate the record are judged by the
same rule on their ``manifest_source`` when it still exists, else by the dataset names of their copy of
the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from painxai.faces.crop import DEFAULT_MARGIN

TWIN_IDENTITY = "twin.json"
TWIN_DATASET_PREFIX = "twin-"
#: Crop margin of runs that did not record one (every run before the record used 0.25).
DEFAULT_CROP_MARGIN = DEFAULT_MARGIN


def _twin_datasets(manifest: pd.DataFrame) -> bool:
    datasets = manifest["dataset"].astype(str)
    return len(datasets) > 0 and bool(datasets.str.startswith(TWIN_DATASET_PREFIX).all())


def _twin_identity(folder: Path) -> bool:
    try:
        identity = json.loads((folder / TWIN_IDENTITY).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(identity, dict) and "generator" in identity


def data_source(manifest_path: Path, manifest: pd.DataFrame) -> str:
    """"twin" or "real" for a manifest file and its rows (the rule is in the module docstring)."""
    return "twin" if _twin_identity(Path(manifest_path).parent) and _twin_datasets(manifest) else "real"


def infer_data_source(config: dict, manifest: pd.DataFrame | None) -> str:
    """The data source of a run: run.json's ``data_source``, else inferred (module docstring)."""
    recorded = config.get("data_source")
    if recorded in ("twin", "real"):
        return recorded
    if manifest is None:
        return "real"
    source = config.get("manifest_source")
    if source and Path(source).is_file():
        return data_source(Path(source), manifest)
    return "twin" if _twin_datasets(manifest) else "real"


@dataclass(frozen=True)
class ModelInfo:
    """What inference needs to feed one model of a run, and where its starting weights came from.

    ``input_size``: square input side in pixels; ``preprocessing``: mode of
    :func:`painxai.models.preprocessing.preprocess_mode`; ``crop_margin``: fraction of the face box's
    longer side added on each side of the crop; ``weights``: "random" or "pretrained" (the base the folds
    started from); ``weights_sha256``: hash of the pretrained file (None for random or when not recorded);
    ``profile``: training profile name; ``fold_layers``: layers stored in each format-2 fold file (empty
    when not recorded).
    """

    input_size: int
    preprocessing: str
    crop_margin: float
    weights: str
    profile: str
    weights_sha256: str | None = None
    fold_layers: tuple[str, ...] = ()


def model_info(config: dict, model: str) -> ModelInfo | None:
    """:class:`ModelInfo` of ``model`` from run.json ``config``, old runs' missing fields inferred
    (preprocessing from ``SPECS``, crop margin 0.25, weights from the description text); None when
    run.json has no settings for the model."""
    from painxai.models import SPECS

    settings = (config.get("model_settings") or {}).get(model)
    if not isinstance(settings, dict) or "input_size" not in settings:
        return None
    kind = settings.get("weights_kind")
    if kind not in ("random", "pretrained"):
        kind = "pretrained" if str(settings.get("weights", "")).startswith("pretrained") else "random"
    preprocessing = settings.get("preprocessing") or (SPECS[model].preprocessing if model in SPECS else "unit")
    return ModelInfo(
        input_size=int(settings["input_size"]),
        preprocessing=str(preprocessing),
        crop_margin=float(settings.get("crop_margin", _profile_margin(config))),
        weights=kind,
        profile=str(settings.get("profile") or config.get("profile", "unknown")),
        weights_sha256=settings.get("weights_sha256"),
        fold_layers=tuple(settings.get("fold_weights_layers") or ()),
    )


def _profile_margin(config: dict) -> float:
    settings = config.get("profile_settings") or {}
    return float(settings.get("crop_margin", DEFAULT_CROP_MARGIN))


@dataclass(frozen=True)
class Provenance:
    """Which data, weights and profile produced a run's numbers.

    ``data_source``: "twin" or "real"; ``profile``: training profile name; ``weights``: model ->
    "random" or "pretrained"; ``weights_detail``: model -> run.json's description of its starting weights
    (e.g. "random initialisation (seed 0)"); ``created``: when the run was started; ``versions``: package ->
    version of the training environment.
    """

    data_source: str
    profile: str
    weights: dict[str, str] = field(default_factory=dict)
    weights_detail: dict[str, str] = field(default_factory=dict)
    created: str = "?"
    versions: dict[str, str] = field(default_factory=dict)

    def versions_table(self, models: Sequence[str]) -> dict[str, str]:
        """Name -> value lines for a report on ``models``: when the run was created, its profile, each model's
        starting weights, then the package versions ("?" where run.json does not say)."""
        return {
            "run created": self.created,
            "profile": self.profile,
            **{f"{model} weights": self.weights_detail.get(model, "?") for model in models},
            **self.versions,
        }

    def describe(self) -> str:
        """One line, e.g. "synthetic twin · random weights (all models) · profile demo"."""
        data = "synthetic twin" if self.data_source == "twin" else "real data"
        kinds = set(self.weights.values())
        if not kinds:
            weights = "weights unknown"
        elif len(kinds) == 1:
            weights = f"{kinds.pop()} weights (all models)"
        else:
            weights = ", ".join(f"{model} {kind}" for model, kind in self.weights.items()) + " weights"
        return f"{data} · {weights} · profile {self.profile}"
