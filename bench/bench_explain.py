"""Benchmark of the explanations (issue 6), on CPU.

1. Grad-CAM of each of the five models at its paper input size on one crop, warm: our compiled
   ``gradcam`` against tf-keras-vis 0.8.7's ``Gradcam`` (the baseline, same process, same model).
2. The fold ensemble, 5 models x F folds (default 10): the shared trunk once, then every fold's tail;
   time warm, and the resident memory the 5 trunks + 5 F tails add once loaded.
3. With a demo run (``--run``, default ``artifacts/demo``): region shares and pointing-game hits of
   each model's fold-mean pain map on the run's pain images, against the twin's ground-truth masks.

Random weights are used for 1 and 2 (speed does not depend on them). Run:
``TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/bench_explain.py [--folds 10] [--repeats 3] [--run DIR]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchlib import machine, median_seconds, rss_mib

MODELS = ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn")


def bench_single(repeats: int) -> None:
    """Grad-CAM per model at paper size, ours vs tf-keras-vis."""
    import keras
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

    from painxai.explain import gradcam
    from painxai.models import SPECS, build, preprocess

    print("\n1. Grad-CAM, one crop, paper input size, warm (median of", repeats, "runs)")
    print(f"{'model':<14}{'size':>6}{'ours (s)':>11}{'tf-keras-vis (s)':>18}{'speed-up':>10}{'max |diff| / max':>18}")
    for name in MODELS:
        spec = SPECS[name]
        size = spec.paper_input_size
        model = build(name, input_shape=(size, size, 3), weights=None, seed=0)
        crop = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
        ours_s = median_seconds(lambda model=model, crop=crop: gradcam(model, crop), repeats)
        logits_model = keras.Model(model.inputs[0], model.get_layer("logits").output)
        visualiser = Gradcam(logits_model, clone=False)
        score = CategoricalScore([1]) if spec.output == "softmax2" else BinaryScore([True])
        inputs = preprocess(name, crop)

        def theirs(visualiser=visualiser, score=score, inputs=inputs, layer=spec.last_conv_layer):
            return visualiser(score, inputs, penultimate_layer=layer, seek_penultimate_conv_layer=False,
                              expand_cam=False, normalize_cam=False)

        theirs_s = median_seconds(theirs, repeats)
        # Agreement at the layer's resolution (their upsampling differs: scipy zoom, corners aligned).
        from painxai.explain.cam import GradCAM

        ours_low = GradCAM(model, spec.last_conv_layer).compute(inputs).low_res
        reference = np.asarray(theirs())
        scale = max(float(np.abs(reference).max()), 1e-12)
        diff = float(np.abs(ours_low - reference).max()) / scale
        print(f"{name:<14}{size:>6}{ours_s:>11.3f}{theirs_s:>18.3f}{theirs_s / ours_s:>9.1f}x{diff:>18.1e}")
        del model, logits_model, visualiser
        keras.backend.clear_session()


def bench_ensemble(folds: int, repeats: int) -> None:
    """5 models x ``folds`` tails sharing one trunk each: memory and warm time."""
    import keras

    from painxai.explain.ensemble import ensemble_explain
    from painxai.models import SPECS, build, split_model
    from painxai.runs.reader import FoldEnsemble

    print(f"\n2. Fold ensemble, 5 models x {folds} folds, one crop per model, paper sizes")
    before = rss_mib()
    ensembles, crops = [], []
    for name in MODELS:
        spec = SPECS[name]
        size = spec.paper_input_size
        network = build(name, input_shape=(size, size, 3), weights=None, seed=0)
        cut = spec.phase2_cut_layer
        trunk, template = (None, network) if cut is None else split_model(network, cut)
        tails = [keras.models.clone_model(template) for _ in range(folds)]
        ensembles.append(FoldEnsemble(name=name, folds=list(range(folds)), trunk=trunk, tails=tails, size=size))
        crops.append(np.random.default_rng(1).integers(0, 256, (1, size, size, 3), dtype=np.uint8))
    loaded = rss_mib()
    print(f"memory: {loaded - before:.0f} MiB more resident after loading 5 trunks + {5 * folds} tails "
          f"(process RSS {loaded:.0f} MiB)")
    start = time.perf_counter()
    for ensemble, crop in zip(ensembles, crops, strict=True):
        ensemble_explain(ensemble, crop)
    print(f"first call (traces {5 * folds} compiled functions): {time.perf_counter() - start:.1f} s")
    total = 0.0
    for ensemble, crop in zip(ensembles, crops, strict=True):
        seconds = median_seconds(lambda ensemble=ensemble, crop=crop: ensemble_explain(ensemble, crop), repeats)
        total += seconds
        print(f"  {ensemble.name:<14}{seconds:.3f} s for {folds} folds")
    print(f"warm total: {total:.2f} s (target <= 3 s); load average now {os.getloadavg()[0]:.1f}")
    # The baseline without sharing: each fold runs the trunk again (what 50 separate models would cost).
    from painxai.explain.cam import forward
    from painxai.models import preprocess

    trunk_total = 0.0
    for ensemble, crop in zip(ensembles, crops, strict=True):
        if ensemble.trunk is not None:
            inputs = preprocess(ensemble.name, crop)
            trunk_total += median_seconds(lambda trunk=ensemble.trunk, inputs=inputs: forward(trunk, inputs), repeats)
    print(f"trunk passes: {trunk_total:.3f} s once; without sharing they would cost about "
          f"{trunk_total * folds:.2f} s ({folds}x)")


def bench_demo_run(run_dir: Path) -> None:
    """Region shares and pointing game of each model's fold-mean pain map on the run's pain images."""

    from painxai.data.images import load_image
    from painxai.data.regions import CUE_REGIONS, mask_path, read_label_map
    from painxai.explain.attribution import aggregate_shares, cue_share, pointing_game
    from painxai.inference.assess import assess_model
    from painxai.runs.reader import Run

    run = Run(run_dir)
    manifest = run.manifest()
    pain = manifest[(manifest["label"] == "pain") & manifest["path"].map(lambda p: mask_path(p).is_file())]
    print(f"\n3. Demo run {run_dir}: {len(pain)} pain image(s) with ground-truth region masks")
    if pain.empty:
        return
    print(f"{'model':<14}{'cue share mean ± std':>22}{'pointing game':>15}   largest regions")
    for name in run.models():
        ensemble = run.ensemble(name)
        shares, hits = [], []
        for _, row in pain.iterrows():
            image = load_image(row["path"])
            label_map = read_label_map(row["path"], image.shape)
            result = assess_model(image, row["face_box"], ensemble, label_map=label_map)
            shares.append(result.shares)
            hits.append(pointing_game(result.photo_map, label_map, CUE_REGIONS))
        cue = np.array([cue_share(s) for s in shares], dtype=float)
        cue = cue[np.isfinite(cue)]
        summary = aggregate_shares(shares)
        top = sorted(summary, key=lambda r: -np.nan_to_num(summary[r]["mean"]))[:3]
        top_text = ", ".join(f"{r} {summary[r]['mean']:.2f}" for r in top)
        cue_text = f"{cue.mean():.2f} ± {cue.std():.2f}" if cue.size else "n/a (empty maps)"
        print(f"{name:<14}{cue_text:>22}{np.mean(hits):>14.2f}   {top_text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=10, help="folds per model for the ensemble benchmark")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--run", type=Path, default=Path("artifacts/demo"), help="demo run for part 3")
    parser.add_argument("--skip", nargs="*", default=(), choices=("single", "ensemble", "demo"))
    args = parser.parse_args()
    import tensorflow as tf

    print("machine:", machine())
    print(f"tensorflow {tf.__version__}, intra-op threads {tf.config.threading.get_intra_op_parallelism_threads()}")
    if "single" not in args.skip:
        bench_single(args.repeats)
    if "ensemble" not in args.skip:
        bench_ensemble(args.folds, args.repeats)
    if "demo" not in args.skip:
        if (args.run / "run.json").is_file():
            bench_demo_run(args.run)
        else:
            print(f"\n3. no demo run at {args.run}: region shares on trained models skipped")


if __name__ == "__main__":
    main()
