"""Training profiles (paper, demo, smoke), input sizes and what ``painxai train`` was asked.

A profile is one row of the table in docs/TRAINING.md: input sizes, augmentation, patience, epoch caps,
learning rates and batch sizes. ``run.json`` records the profile's name and all its settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from painxai.errors import PainxaiError
from painxai.faces.crop import DEFAULT_MARGIN


def _model_names() -> tuple[str, ...]:
    """Every registered model, in registration order (Table 1's): ``painxai.models.model_names``."""
    from painxai.models import model_names

    return model_names()


WEIGHT_CHOICES = ("pretrained", "none", "auto")
#: ``Profile.finetune_batchnorm``: BatchNorm after the Table-1 convs in phase 2, frozen (inference mode) or trained.
BATCHNORM_MODES = ("frozen", "train")


class TrainError(PainxaiError):
    """A training request that cannot be met (bad options, a run folder that does not match)."""


@dataclass(frozen=True)
class Profile:
    """One row of the training-profile table.

    ``input_size``: "paper" or "demo" (``SPECS[name].paper_input_size``/``demo_input_size``) or
    "min" (``min_input_size``, for tests). ``max_epochs_*``: None = no cap (stop on patience only).
    ``lr_*``: Adam learning rates of phase 1 / phase 2 of the pretrained models.
    A cap of 0 skips that phase. ``ncnn_augmented``: whether the end-to-end N-CNN also trains on the
    augmented samples. ``standardize_head_inputs``: train the head on base features
    standardized with the fold's training statistics, then fold that affine map into the first dense
    layer (same architecture and outputs; see :func:`fold_standardization`). Without it, a head on
    raw random-base features barely learns (their shared positive offset dwarfs the differences).
    ``feature_dtype``: storage of the cached features ("float16" halves memory at paper size).
    ``crop_margin``: fraction of the face box's longer side added on each side of the square crop (0.25:
    the crop is 1.5 times the box); run.json records it per model and inference crops with the run's value.
    ``default_weights``: the ``--weights`` choice when none is given ("pretrained" for the paper: a
    missing file stops the run before any work, with how to get it; "auto" elsewhere).
    ``finetune_batchnorm``: in phase 2, "frozen" keeps every BatchNorm layer in inference mode (Keras's
    fine-tuning guide); "train" also trains the BatchNorm layers after the Table-1 convs
    (``SPECS[m].finetune_batchnorm``: batch statistics in training, moving averages updated, gamma and beta
    learnt), what ``trainable = True`` on those blocks does in TF 2.x Keras. The choices table says why each
    profile has its value; run.json records it in ``profile_settings``.
    """

    name: str
    description: str
    input_size: str
    augment_per_image: int
    patience_head: int
    patience_finetune: int
    max_epochs_head: int | None
    max_epochs_finetune: int | None
    batch_size: int
    lr_head: float
    lr_finetune: float
    ncnn_lr: float
    ncnn_batch_size: int
    ncnn_patience: int
    ncnn_max_epochs: int | None
    validation_fraction: float
    feature_dtype: str
    standardize_head_inputs: bool
    ncnn_augmented: bool = True
    crop_margin: float = DEFAULT_MARGIN
    default_weights: str = "auto"
    finetune_batchnorm: str = "frozen"


PROFILES: dict[str, Profile] = {
    "paper": Profile(
        name="paper",
        description="the paper's protocol: paper input sizes, 20 augmented samples per training image, "
        "patience 5 then 10, no epoch cap (meant for a GPU)",
        input_size="paper",
        augment_per_image=20,
        patience_head=5,
        patience_finetune=10,
        max_epochs_head=None,
        max_epochs_finetune=None,
        batch_size=32,
        lr_head=1e-4,
        lr_finetune=1e-5,
        ncnn_lr=1e-4,
        ncnn_batch_size=16,
        ncnn_patience=10,
        ncnn_max_epochs=None,
        validation_fraction=0.1,
        feature_dtype="float16",
        standardize_head_inputs=False,
        default_weights="pretrained",
        finetune_batchnorm="train",
    ),
    "demo": Profile(
        name="demo",
        description="CPU demo on the twin: SPECS demo input sizes, 2 augmented samples per image, head-only "
        "training on cached standardized features in batches of 128 with epoch caps; ncnn on the original images "
        "only, in batches of 4 with a 12-epoch cap (docs/TRAINING.md says why)",
        input_size="demo",
        augment_per_image=2,
        patience_head=8,
        patience_finetune=10,
        max_epochs_head=30,
        max_epochs_finetune=0,
        batch_size=128,
        lr_head=1e-3,
        lr_finetune=1e-4,
        ncnn_lr=1e-4,
        ncnn_batch_size=4,
        ncnn_patience=10,
        ncnn_max_epochs=12,
        validation_fraction=0.2,
        feature_dtype="float32",
        standardize_head_inputs=True,
        ncnn_augmented=False,
    ),
    "smoke": Profile(
        name="smoke",
        description="seconds, for tests: smallest inputs, no augmentation, 2 + 2 epochs",
        input_size="min",
        augment_per_image=0,
        patience_head=1,
        patience_finetune=1,
        max_epochs_head=2,
        max_epochs_finetune=2,
        batch_size=32,
        lr_head=1e-3,
        lr_finetune=1e-4,
        ncnn_lr=1e-3,
        ncnn_batch_size=32,
        ncnn_patience=1,
        ncnn_max_epochs=2,
        validation_fraction=0.2,
        feature_dtype="float32",
        standardize_head_inputs=True,
    ),
}


#: The profile settings a researcher may override from the command line (TrainConfig fields of the same name).
OVERRIDABLE = ("max_epochs_head", "max_epochs_finetune", "augment_per_image")


@dataclass(frozen=True)
class TrainConfig:
    """What ``painxai train`` was asked to do.

    ``weights``: None = the profile's ``default_weights``. ``max_epochs_head`` / ``max_epochs_finetune``
    / ``augment_per_image``: None = the profile's value, else that value (an epoch cap of 0 skips the
    phase; ``max_epochs_finetune`` also caps N-CNN's end-to-end training, which has phase 2's patience).
    ``mixed_precision``: None = on exactly when a GPU is present; True forces the ``mixed_float16``
    policy (tests run the GPU's code path on CPU with it), False keeps float32.
    """

    manifest: Path
    folds: Path
    out: Path
    models: tuple[str, ...] = field(default_factory=_model_names)  # every registered model
    profile: str = "demo"
    fold: int | None = None
    weights: str | None = None
    resume: bool = False
    seed: int = 0
    cache_dir: Path | None = None
    max_epochs_head: int | None = None
    max_epochs_finetune: int | None = None
    augment_per_image: int | None = None
    mixed_precision: bool | None = None

    def overrides(self) -> dict[str, int]:
        """The profile settings this request overrides, by name (empty when none)."""
        return {name: getattr(self, name) for name in OVERRIDABLE if getattr(self, name) is not None}


def resolve_profile(config: TrainConfig) -> Profile:
    """The profile ``config`` names with its overrides applied; a clear error for an unknown name or a
    negative value."""
    if config.profile not in PROFILES:
        raise TrainError(f"unknown profile {config.profile!r}; choose from {', '.join(PROFILES)}")
    overrides = config.overrides()
    negative = [f"--{name.replace('_', '-')} {value}" for name, value in overrides.items() if value < 0]
    if negative:
        raise TrainError(f"{', '.join(negative)}: must be 0 or more")
    profile = PROFILES[config.profile]
    changes: dict[str, Any] = dict(overrides)  # names from OVERRIDABLE, each an int field of Profile
    if "max_epochs_finetune" in changes:
        changes["ncnn_max_epochs"] = changes["max_epochs_finetune"]
    return dataclasses.replace(profile, **changes)


def input_size(profile: Profile, model: str) -> int:
    """The square input side in pixels of ``model`` under ``profile``."""
    from painxai.models import SPECS

    spec = SPECS[model]
    return int({"paper": spec.paper_input_size, "demo": spec.demo_input_size, "min": spec.min_input_size}[
        profile.input_size
    ])


def parse_models(text: str) -> tuple[str, ...]:
    """``"all"`` or a comma list of model names -> tuple in the canonical order; unknown names raise."""
    known = _model_names()
    if text.strip() == "all":
        return known
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise TrainError(f"unknown model(s) {unknown or text!r}; choose from {', '.join(known)} or 'all'")
    return tuple(sorted(set(names), key=known.index))



def max_epochs(name: str, profile: Profile) -> int | None:
    """Epoch cap over all phases of one fold, or None when patience alone stops training."""
    from painxai.models import SPECS

    if SPECS[name].trained_end_to_end:
        return profile.ncnn_max_epochs
    head, finetune = profile.max_epochs_head, profile.max_epochs_finetune
    return None if head is None or finetune is None else head + finetune


def protocol_text(name: str, profile: Profile) -> str:
    """The protocol of ``name`` under ``profile`` in words, for run.json."""
    from painxai.models import SPECS

    spec = SPECS[name]
    if spec.trained_end_to_end:
        return (
            f"end to end, RMSprop lr {profile.ncnn_lr:g}, batch {profile.ncnn_batch_size}, patience "
            f"{profile.ncnn_patience}, epoch cap {profile.ncnn_max_epochs}"
        )
    head = (
        "no head-only phase"
        if profile.max_epochs_head == 0
        else f"phase 1 head only (base frozen), Adam lr {profile.lr_head:g}, patience {profile.patience_head}, "
        f"epoch cap {profile.max_epochs_head}"
    )
    finetune = (
        "no fine-tuning phase"
        if profile.max_epochs_finetune == 0
        else f"phase 2 head + {len(spec.finetune_layers)} Table-1 layers ({spec.finetune_layers[0]}.."
        f"{spec.finetune_layers[-1]}), {batchnorm_text(name, profile)}, Adam lr {profile.lr_finetune:g}, patience "
        f"{profile.patience_finetune}, epoch cap {profile.max_epochs_finetune}"
    )
    return f"{head}; {finetune}; batch {profile.batch_size}"


def trains_batchnorm(profile: Profile) -> bool:
    """True when phase 2 trains the BatchNorm layers after the Table-1 convs under ``profile``."""
    if profile.finetune_batchnorm not in BATCHNORM_MODES:
        raise TrainError(
            f"profile {profile.name!r}: finetune_batchnorm {profile.finetune_batchnorm!r} is not one of "
            f"{', '.join(BATCHNORM_MODES)}"
        )
    return profile.finetune_batchnorm == "train"


def batchnorm_text(name: str, profile: Profile) -> str:
    """What phase 2 does with ``name``'s BatchNorm layers under ``profile``, in words (for run.json)."""
    from painxai.models import SPECS

    layers = SPECS[name].finetune_batchnorm
    if not trains_batchnorm(profile):
        return "BatchNorm in inference mode"
    if not layers:
        return "no BatchNorm after the Table-1 layers"
    return (
        f"the {len(layers)} BatchNorm layers after them trained (batch statistics, moving averages updated; "
        "other BatchNorm in inference mode)"
    )
