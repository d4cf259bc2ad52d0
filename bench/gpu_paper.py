"""GPU benchmark of the paper profile: one model, one fold, full settings, then a projection of 5 x 10.

One prepared script for a machine with a GPU:

1. builds the synthetic twin (the paper's 56 subjects, 483 images) and its 10 folds;
2. runs ``painxai train --profile paper`` for ``--model`` on fold 0 at full settings (paper input size,
   20 augmented samples per training image, patience 5 then 10, no epoch cap, mixed precision), with
   pretrained weights when they are installed, else seeded random ones (said in the output);
3. prints images/s of each phase (steady state: epochs after the first, which includes tracing), the
   cached-feature pass, the augmentation pool, peak GPU memory, and the projected wall time of the full
   protocol (5 models x 10 folds).

With ``--probe-others`` each other model then runs fold 0 with 2 + 2 epochs (its steady-state epoch
times), so the projection covers all five; without it only the measured model is projected.
The projection uses the paper's mean epochs per model (Table 2: 34, 44, 40, 47, 33), of which 10 in
phase 1 (an assumption, printed), unless the measured fold finished on patience (then its own counts).

A phase is stopped after ``--phase-budget-s`` seconds (and at least 3 epochs), so a random-weight run
that keeps improving cannot exhaust the machine: the output says when that happened.

    python bench/gpu_paper.py [--model resnet50] [--out /tmp/gpu_paper] [--probe-others]
    python bench/gpu_paper.py --tiny      # CPU check of the script itself (about 1 min; 6 with --probe-others)

``--tiny`` runs the same steps on the smallest twin (6 subjects, 50 images) with 2 folds, 1 augmented
sample per image and epoch caps 1 (head) / 2 (fine-tuning): it checks that the script works, its
figures mean nothing. It needs the project installed with a GPU build of TensorFlow
(``pip install tensorflow[and-cuda]`` in place of tensorflow-cpu) for the real run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchlib import machine

MODELS = ("vgg16", "resnet50", "senet50", "inception_v3", "ncnn")
PAPER_EPOCHS = {"vgg16": 34, "resnet50": 44, "senet50": 40, "inception_v3": 47, "ncnn": 33}
ASSUMED_PHASE1_EPOCHS = 10


def gpu_setup() -> list[str]:
    """Let TensorFlow grow GPU memory on demand (so the peak is what training needs); the GPUs' names."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name) for gpu in gpus]


def peak_gpu_mib() -> float | None:
    """Peak memory TensorFlow's allocator used on the first GPU since the start (MiB), or None without one."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


class Timing:
    """A :class:`painxai.training.fit.Reporter` that timestamps every epoch and message."""

    def __new__(cls) -> object:
        from painxai.training.fit import Reporter

        class Recorder(Reporter):
            def __init__(self) -> None:
                self.epochs: dict[str, list[float]] = {}
                self.last = time.perf_counter()

            def message(self, text: str) -> None:
                print(f"  {text}", flush=True)

            def fold_started(self, model: str, fold: int, max_epochs: int | None) -> None:
                self.last = time.perf_counter()

            def epoch_done(self, model: str, fold: int, phase: str, epoch: int, logs: dict[str, float]) -> None:
                now = time.perf_counter()
                self.epochs.setdefault(phase, []).append(now - self.last)
                self.last = now
                print(f"  {model} {phase} epoch {epoch}: {self.epochs[phase][-1]:.1f} s, "
                      f"val_loss {logs.get('val_loss', float('nan')):.4f}", flush=True)

        return Recorder()


def budget_callback(seconds: float, cut: list[str]) -> object:
    """Stops a phase once it has run ``seconds`` and at least 3 epochs; appends a line to ``cut``."""
    import keras

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.started, self.seen = time.perf_counter(), 0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seen += 1
            if self.seen >= 3 and time.perf_counter() - self.started > seconds:
                self.model.stop_training = True
                cut.append(f"a phase stopped by the {seconds:.0f} s budget after {self.seen} epochs")

    return Budget()


def weights_choice(model: str) -> str:
    """"pretrained" when the model's base weights are installed, else "none" (also for N-CNN, which has none)."""
    from painxai.models import SPECS, weights_status

    status = {s.name: s for s in weights_status()}[model]
    return "pretrained" if SPECS[model].base_weights is not None and status.ready else "none"


def run_fold(model: str, twin: Path, folds: Path, out: Path, overrides: dict, budget: float, name: str) -> dict:
    """Train ``model`` on fold 0 with the paper profile into ``out/run-<name>-<model>`` (the augmentation
    cache ``out/cache`` is shared); returns the measured figures."""
    from painxai.training.profiles import TrainConfig
    from painxai.training.protocol import train

    weights = weights_choice(model)
    run_dir = out / f"run-{name}-{model}"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time (the augmentation cache stays)
    cut: list[str] = []
    timing = Timing()
    config = TrainConfig(
        manifest=twin, folds=folds, out=run_dir, models=(model,), profile="paper", fold=0, weights=weights,
        cache_dir=out / "cache", **overrides,
    )
    print(f"{model}: paper profile, fold 0, weights {weights}, options {overrides or 'none (full settings)'}")
    started = time.perf_counter()
    train(config, reporter=timing, extra_callbacks=[budget_callback(budget, cut)])
    wall = time.perf_counter() - started
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / model / "fold_0" / "metrics.json").read_text())
    pool_images = run["data"]["augmented_samples"] + len((run_dir / "manifest.csv").read_text().splitlines()) - 1
    steady = {phase: statistics.median(times[1:]) if len(times) > 1 else times[0]
              for phase, times in timing.epochs.items()}
    return {
        "model": model, "weights": weights, "wall_s": wall,
        "pool_s": run["timings"]["last_invocation"]["pool_seconds"], "pool_images": pool_images,
        "feature_s": run["model_settings"][model]["feature_seconds"], "n_train": metrics["n_train"],
        "epochs": {phase: len(times) for phase, times in timing.epochs.items()}, "epoch_s": steady,
        "first_epoch_s": {phase: times[0] for phase, times in timing.epochs.items()}, "cut": cut,
        "precision": run["timings"]["last_invocation"]["precision"], "accuracy": metrics["accuracy"],
        "batchnorm": batchnorm_setting(model, run["profile_settings"].get("finetune_batchnorm", "frozen")),
    }


def batchnorm_setting(model: str, setting: str) -> str:
    """The profile's phase-2 BatchNorm setting, or that ``model`` has no BatchNorm after its Table-1 layers."""
    from painxai.models import SPECS

    return setting if SPECS[model].finetune_batchnorm else "none in this model"


def projected_fold_seconds(figures: dict, use_own_epochs: bool) -> tuple[float, str]:
    """One fold's training time of a measured model and how its epoch counts were chosen."""
    model, epoch_s = figures["model"], figures["epoch_s"]
    if "end_to_end" in epoch_s:
        epochs = figures["epochs"]["end_to_end"] if use_own_epochs else PAPER_EPOCHS[model]
        return epochs * epoch_s["end_to_end"], f"{epochs} end-to-end epochs"
    if use_own_epochs:
        head, finetune = figures["epochs"].get("head", 0), figures["epochs"].get("finetune", 0)
        source = "this fold's epochs"
    else:
        head, finetune = ASSUMED_PHASE1_EPOCHS, PAPER_EPOCHS[model] - ASSUMED_PHASE1_EPOCHS
        source = f"paper's {PAPER_EPOCHS[model]} epochs, {ASSUMED_PHASE1_EPOCHS} of them in phase 1 (assumed)"
    return head * epoch_s.get("head", 0.0) + finetune * epoch_s.get("finetune", 0.0), f"{head} + {finetune}: {source}"


def report(figures: dict, full_fold: bool) -> float:
    """Print one model's figures; returns its projected seconds for 10 folds (features once)."""
    n_train = figures["n_train"]
    print(
        f"\n{figures['model']} ({figures['weights']} weights, {figures['precision']}, BatchNorm in phase 2: "
        f"{figures['batchnorm']}): wall "
        f"{figures['wall_s']:.0f} s, {n_train} training images per epoch, test accuracy {figures['accuracy']:.3f}"
    )
    print(f"  augmentation pool: {figures['pool_images']} images in {figures['pool_s']:.1f} s (cached afterwards)")
    if figures["feature_s"]:
        print(f"  cached features: {figures['pool_images'] / figures['feature_s']:.3g} images/s "
              f"({figures['feature_s']:.1f} s, once per model for all folds)")
    for phase, seconds in figures["epoch_s"].items():
        print(f"  {phase}: {n_train / seconds:.3g} images/s ({seconds:.2f} s per epoch after the first; first "
              f"{figures['first_epoch_s'][phase]:.1f} s), {figures['epochs'][phase]} epochs")
    for line in figures["cut"]:
        print(f"  note: {line}")
    use_own = full_fold and not figures["cut"]
    fold_s, how = projected_fold_seconds(figures, use_own)
    total = figures["feature_s"] + 10 * fold_s
    print(f"  projected: {fold_s / 60:.1f} min per fold ({how}); 10 folds {total / 3600:.2f} h")
    return total


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50", choices=MODELS)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gpu_paper"))
    parser.add_argument("--phase-budget-s", type=float, default=240.0)
    parser.add_argument("--probe-others", action="store_true", help="also time 2 + 2 epochs of the other models")
    parser.add_argument("--tiny", action="store_true", help="CPU check: tiny twin and epoch caps")
    args = parser.parse_args()

    gpus = gpu_setup()
    print(f"machine: {machine()}; GPU: {', '.join(gpus) or 'none'}")
    if not gpus and not args.tiny:
        print("no GPU: the paper profile at full settings is for a GPU (use --tiny to check this script on CPU)")
        sys.exit(2)
    from painxai.data.folds import write_folds
    from painxai.synth.twin import generate_twin

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    twin_dir = args.out / ("twin-tiny" if args.tiny else "twin")
    twin = generate_twin(twin_dir, seed=0, size_scale=0.02 if args.tiny else 1.0)
    folds = args.out / ("folds-tiny.json" if args.tiny else "folds.json")
    write_folds(twin.manifest_path, folds, k=2 if args.tiny else 10, seed=0)
    print(f"twin: {twin.n_images} images and folds in {time.perf_counter() - started:.1f} s")

    full = {} if not args.tiny else {"max_epochs_head": 1, "max_epochs_finetune": 2, "augment_per_image": 1}
    measured = run_fold(args.model, twin.manifest_path, folds, args.out, full, args.phase_budget_s, "full")
    totals = {args.model: report(measured, full_fold=not args.tiny)}
    if args.probe_others:
        probe = {"max_epochs_head": 2, "max_epochs_finetune": 2, **({"augment_per_image": 1} if args.tiny else {})}
        for model in MODELS:
            if model != args.model:
                figures = run_fold(model, twin.manifest_path, folds, args.out, probe, args.phase_budget_s, "probe")
                totals[model] = report(figures, full_fold=False)
    peak = peak_gpu_mib()
    print(f"\npeak GPU memory: {'n/a (no GPU)' if peak is None else f'{peak:.0f} MiB'}")
    missing = [m for m in MODELS if m not in totals]
    print(f"projected full protocol ({len(totals)} of 5 models x 10 folds): {sum(totals.values()) / 3600:.2f} h"
          + (f"; not measured: {', '.join(missing)} (use --probe-others)" if missing else ""))


if __name__ == "__main__":
    main()
