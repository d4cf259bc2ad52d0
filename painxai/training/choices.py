"""Choices the paper does not state, made by this implementation, with why: one table.

The paper gives the models, the augmentation ranges, the folds and the two patiences; everything else
a run needs had to be chosen. :func:`choices_record` lists those choices with the values a profile
uses, and ``run.json`` stores the list under ``choices`` so a reader of any run sees them;
docs/TRAINING.md shows the same table (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass

from painxai.training.profiles import Profile


@dataclass(frozen=True)
class Choice:
    """One unstated choice: ``name`` (stable key), ``value`` under a profile, and ``why``."""

    name: str
    value: str
    why: str


def choices(profile: Profile) -> list[Choice]:
    """The choices in force under ``profile`` (values read from it where it sets them)."""
    from painxai.training.augment import AugmentSettings

    augment = AugmentSettings()
    return [
        Choice(
            "batch_size",
            f"{profile.batch_size} (pretrained models); N-CNN {profile.ncnn_batch_size}",
            "Keras's default batch; fits a GPU at 299 px. N-CNN keeps the FEI lab code's batch 16.",
        ),
        Choice(
            "optimizer",
            f"Adam, lr {profile.lr_head:g} (phase 1), {profile.lr_finetune:g} (phase 2); "
            f"N-CNN RMSprop lr {profile.ncnn_lr:g}",
            "common transfer-learning settings; phase 2 ten times lower so fine-tuning does not wreck the "
            "pretrained filters. N-CNN: the FEI lab code's optimiser.",
        ),
        Choice(
            "class_weights",
            "balanced: n / (2 n_class) per training image (augmented samples included); validation loss "
            "unweighted",
            "the union has more no-pain than pain images (UNIFESP 196/164); weighting keeps the loss from "
            "favouring the larger class, which F1 of the pain class would punish.",
        ),
        Choice(
            "validation_split",
            f"about {profile.validation_fraction:.0%} of each dataset's training subjects, by subject",
            "early stopping needs a validation loss the paper does not say where it came from; whole "
            "subjects, so no face is in both training and validation.",
        ),
        Choice(
            "early_stopping_restore",
            "the best epoch's weights are restored at the end of each phase",
            "the paper stops after N epochs without a lower validation loss; keeping the last N worse "
            "epochs' weights would test a model the stopping rule had rejected.",
        ),
        Choice(
            "batchnorm_in_finetuning",
            "BatchNorm layers stay frozen (inference mode) in phase 2",
            "Table 1 names the convolutions to fine-tune, not their BatchNorm; updating batch statistics "
            f"from batches of {profile.batch_size} would shift the pretrained features.",
        ),
        Choice(
            "crop_margin",
            f"{profile.crop_margin:g} of the face box's longer side on each side (square crop "
            f"{1 + 2 * profile.crop_margin:g} x the box)",
            "the paper crops the face without giving a margin; some forehead and chin stay in view, and "
            "rotated or shifted samples keep the face inside.",
        ),
        Choice(
            "no_face_fallback",
            "a centred square crop when neither the manifest nor the detector gives a face box (counted "
            "in run.json data.crop_sources)",
            "adult-trained detectors miss some newborns; dropping those images would change the "
            "subjects' class balance, and a newborn photo is mostly face.",
        ),
        Choice(
            "shear_unit",
            f"{augment.shear:g} read as degrees (shear_unit='{augment.shear_unit}'), as Keras's "
            "ImageDataGenerator reads it",
            "the paper's code passed 0.15 to Keras, which takes degrees: almost no shear. Reproduced as "
            "run; shear_unit='radians' gives the likely intended 8.6 degrees.",
        ),
        Choice(
            "zoom_per_axis",
            "zoom factors drawn independently per axis from [0.70, 1.5], > 1 zooms out",
            "what Keras's ImageDataGenerator does with zoom_range; faces are also stretched.",
        ),
        Choice(
            "fill_mode",
            f"'{augment.fill}': pixels from outside the crop repeat the edge",
            "Keras's default fill_mode.",
        ),
        Choice(
            "augmentation_acceptance",
            f"kept when the face detector finds the face in the sample; a pre-check refuses draws "
            f"leaving under {augment.min_visible:.0%} of the face box inside; at most {augment.max_tries} "
            "draws per sample; without a detector, or where it misses the face in the crop itself, the "
            "pre-check alone",
            "the paper keeps a sample when the face is still detectable; a partly cut face it still finds "
            "is kept, so the kept zoom, rotation and shift follow the drawn ranges.",
        ),
        Choice(
            "augmented_resolution",
            "samples rendered once at the largest input size of the profile and resized to each model's",
            "one set of samples for every model, so a model's training data do not depend on the other "
            "models trained with it.",
        ),
        Choice(
            "ncnn_augmented",
            "yes" if profile.ncnn_augmented else "no: original images only",
            "the paper augments the training images of every model.",
        ),
        Choice(
            "mixed_precision",
            "mixed_float16 on a GPU (outputs and loss in float32), float32 on CPU",
            "the paper does not say; float16 halves GPU memory and time, and float32 outputs keep "
            "probabilities exact near 0 and 1.",
        ),
        Choice(
            "decision_threshold",
            "pain when P(pain) >= 0.5 (accuracy, F1, confusion); AUC from P(pain) itself",
            "the paper reports accuracy and F1 without a threshold; 0.5 is the argmax of its 2-way softmax.",
        ),
        Choice(
            "positive_class",
            "pain (F1, precision and recall are the pain class's)",
            "the paper's F1 does not name its class; pain is the finding a clinician acts on.",
        ),
        Choice(
            "seeds",
            "one --seed for initial weights, augmentation, validation subjects and shuffling (seed + fold)",
            "the paper gives none; one seed makes a run repeatable.",
        ),
    ]


def choices_record(profile: Profile) -> list[dict[str, str]]:
    """:func:`choices` as JSON-ready dicts for ``run.json``'s ``choices``."""
    return [{"name": c.name, "value": c.value, "why": c.why} for c in choices(profile)]
