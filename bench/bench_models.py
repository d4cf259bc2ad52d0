"""Benchmark of the five models' forward pass (issue 4), on CPU.

Forward latency of each model at its paper input size (Table 1), batch 1 and 16, random weights
(speed does not depend on them), inference mode. Two ways, in the same process on the same model:
a ``tf.function`` around ``model(x, training=False)`` (what training and the dashboard use), and the
baseline ``model.predict(x)``, which adds Keras's per-call data-adapter and loop overhead.
TensorFlow is limited to ``--threads`` intra-op threads (default 2, the project machine's cores).

Run: ``TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/bench_models.py [--repeats 3] [--threads 2] [--models ...]``
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from benchlib import machine, median_seconds
from painxai.models import SPECS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads (cores used)")
    args = parser.parse_args()

    import tensorflow as tf

    from painxai.models import build

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print(f"machine: {machine()}; TensorFlow {tf.__version__}, {args.threads} intra-op thread(s); "
          f"median of {args.repeats} warm calls")
    print(f"{'model':<13} {'input':>9} {'batch':>5} {'tf.function ms':>15} {'predict ms':>11} {'speed-up':>8} "
          f"{'ms/image':>9}")
    rng = np.random.default_rng(0)
    for name in args.models:
        model = build(name, weights=None)
        forward = tf.function(lambda images, model=model: model(images, training=False), reduce_retracing=True)
        side = SPECS[name].paper_input_size
        for batch in args.batches:
            images = tf.constant(rng.uniform(-1, 1, (batch, side, side, 3)).astype(np.float32))
            compiled = median_seconds(lambda images=images, forward=forward: forward(images).numpy(), args.repeats)
            baseline = median_seconds(
                lambda images=images, model=model, batch=batch: model.predict(images, batch_size=batch, verbose=0),
                args.repeats)
            print(f"{name:<13} {side:>4}x{side:<4} {batch:>5} {compiled * 1e3:>15.1f} {baseline * 1e3:>11.1f} "
                  f"{baseline / compiled:>7.2f}x {compiled * 1e3 / batch:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
