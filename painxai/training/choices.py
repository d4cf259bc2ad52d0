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
            "trained: the BatchNorm layers after the Table-1 convs train in phase 2 (batch statistics, moving "
            "averages updated); every other BatchNorm in inference mode (finetune_batchnorm='train')"
            if profile.finetune_batchnorm == "train"
            else "frozen: every BatchNorm layer stays in inference mode in phase 2 (finetune_batchnorm='frozen')",
            "the paper does not say. Its code most likely set trainable=True on the unfrozen blocks (an "
            "assumption: the code is not published), which in TF 2.x Keras also trains their BatchNorm and updates "
            "its statistics: the paper profile does that, to reproduce the paper. Keras's fine-tuning guide keeps "
            "BatchNorm in inference mode instead, so batches of a few faces cannot shift the pretrained statistics: "
            "'frozen', the demo and smoke profiles' value (the demo skips phase 2). VGG16 and N-CNN have no "
            "BatchNorm.",
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
            "an assumption: the paper lists its ranges in the terms of Keras's ImageDataGenerator arguments, so "
            "its code most likely passed shear_range=0.15 to Keras, which reads degrees: almost no shear. "
            "Reproduced so; shear_unit='radians' gives the 8.6 degrees 0.15 may have meant.",
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
            "pain when P(pain) >= 0.5 (accuracy, F1, confusion, the paper's AUC); the standard AUC from P(pain) "
            "itself",
            "the paper reports accuracy and F1 without a threshold; 0.5 is the argmax of its 2-way softmax.",
        ),
        Choice(
            "positive_class",
            "pain for the standard metrics (F1, precision, recall); no pain for the paper's F1 "
            "(f1_nopain), beside which its AUC is that of the 0/1 predictions (auc_hard)",
            "the paper's F1 does not name its class: pain is the finding a clinician acts on; Table 2's numbers "
            "fit no pain as its positive class and an AUC from 0/1 predictions (docs/PROTOCOL.md#metrics, an "
            "inference), so comparisons with the paper use those.",
        ),
        Choice(
            "std_ddof",
            "Table 2's ± is the sample standard deviation over folds (ddof 1)",
            "the paper does not say; over 10 folds ddof 0 would give values about 5% smaller.",
        ),
        Choice(
            "fold_assignment",
            "greedy, per dataset (largest first): subjects shuffled by --seed, then sorted by their share of "
            "pain images; each goes to the fold with the fewest subjects of its dataset, then the fewest "
            "subjects, then the fewest images of its majority class, ties broken at random",
            "the paper fixes 3 UNIFESP subjects per fold but not how subjects were dealt; stratifying by each "
            "subject's pain share spreads the classes evenly over the folds.",
        ),
        Choice(
            "feature_cache_dtype",
            f"the frozen layers' outputs cached once per image as {profile.feature_dtype}, cast to float32 "
            "batch by batch",
            "the paper trains the whole model each step; the frozen layers give the same output in every fold "
            "and epoch, so caching it saves their cost. float16 halves its memory at the paper's sizes (vgg16: "
            "about 4 GB for 10,000 images) and rounds activations to about 3 significant digits, as "
            "mixed_float16 computes them on a GPU anyway.",
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
