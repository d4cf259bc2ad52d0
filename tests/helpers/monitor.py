"""A run whose models read pain in synthetic clips, built in seconds for the monitor tests.

A random-weight N-CNN (tests/helpers/runs.py) has informative random features but a random read-out; each
fold's ``logits`` layer (the only layer a fold file stores) is replaced by a logistic regression fitted on
the features of frames drawn from a *training* clip: the same newborn as the test clip, with the pain at
other times. So the monitor is tested on frames the read-out never saw.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from painxai.synth.video import ClipPlan, clip_frames

MODEL = "vgg16"  # 32 px crops in a test run; 512 random features before its read-out


def probe_run(root: Path, clip: ClipPlan, folds: int = 2) -> Path:
    """A run at ``root`` with one model (ncnn, 64 px, ``folds`` folds) whose read-out was fitted on a training
    clip of ``clip``'s newborn (pain from 20% to 55% of the clip instead of ``clip``'s windows)."""
    import keras
    from sklearn.linear_model import LogisticRegression

    from helpers.runs import SMALL_SIZES, build_run
    from painxai.faces.crop import crop_face
    from painxai.models import preprocess
    from painxai.runs import layout
    from painxai.runs.fold_weights import write_layer_weights
    from painxai.runs.reader import Run

    build_run(root, models=(MODEL,), k=folds, weights="random")
    training = replace(clip, seed=clip.seed + 1000, pain=((0.2 * clip.seconds, 0.55 * clip.seconds),),
                       occlusion=(0.0, 0.0))
    crops, labels = [], []
    for frame in clip_frames(training):
        if 0 < frame.truth["level"] < 1:
            continue  # the ramps are neither class
        box = tuple(frame.truth[key] for key in ("x0", "y0", "x1", "y1"))
        crops.append(crop_face(frame.image, box, SMALL_SIZES[MODEL], 0.25)[0])
        labels.append(int(frame.truth["pain"]))
    ensemble = Run(root).ensemble(MODEL)
    tail = ensemble.tails[0]
    features_of = keras.Model(tail.inputs, tail.get_layer("logits").input)
    features = np.asarray(features_of(ensemble.trunk(preprocess(MODEL, np.stack(crops)), training=False)))
    # Random features are tiny and of unequal scale: standardise them for the fit, then fold the scaling back in.
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    probe = LogisticRegression(C=1.0, max_iter=5000).fit((features - mean) / scale, labels)
    weight = (probe.coef_[0] / scale).astype(np.float32)
    bias = np.float32(probe.intercept_[0] - float((probe.coef_[0] * mean / scale).sum()))
    # A one-unit read-out is a sigmoid: the probe as it is; a two-unit softmax is the sigmoid of the difference.
    if tail.get_layer("logits").get_weights()[0].shape[1] == 1:
        layers = {"logits": [weight[:, None], np.array([bias], np.float32)]}
    else:
        layers = {"logits": [np.stack([-weight / 2, weight / 2], axis=1), np.array([-bias / 2, bias / 2], np.float32)]}
    for fold in ensemble.folds:
        write_layer_weights(layout.fold_dir(root, MODEL, fold) / layout.TRAINED_WEIGHTS, layers)
    keras.backend.clear_session()
    return root
