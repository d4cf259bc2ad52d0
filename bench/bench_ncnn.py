"""N-CNN demo training speed: per-fold time and accuracy of variants, interleaved (A, B, A, B).

Each fold trains in a fresh worker process through the trainer's own code (``prepare_model`` +
``train_fold``, demo profile, random seed 0) on the twin's original images, so thread settings that
must be fixed before TensorFlow starts can differ between variants. A variant is
``threads x processes``: ``2x1`` trains one fold at a time with two intra-op threads (the trainer's
default on 2 cores); ``1x2`` trains two folds at once in two processes with one thread each. A variant
may add demo-profile settings after ``:``: ``b`` batch, ``e`` epoch cap, ``s`` input side, ``l`` learning
rate, e.g. ``2x1:b4e10`` (batch 4, 10 epochs) or ``2x1:s80``.

Usage: ``python bench/bench_ncnn.py --data data/twin --folds 2,5 --variants 2x1,1x2,2x1:b4e10,2x1:s80
[--epochs 20] [--rounds 2] [--isa AVX2]`` (``--isa`` sets ``ONEDNN_MAX_CPU_ISA`` in the workers, to
emulate a CPU without AVX-512 on one that has it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_model, machine, vector_flags


def worker(args: argparse.Namespace) -> None:
    """Train the folds in ``args.worker_folds`` one after the other; print one JSON line per fold."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import dataclasses
    import tempfile

    from painxai.data.folds import read_folds
    from painxai.data.manifest import read_manifest
    from painxai.models import SPECS
    from painxai.training.features import prepare_model
    from painxai.training.fit import Reporter
    from painxai.training.pool import build_pool, fold_indices
    from painxai.training.profiles import PROFILES
    from painxai.training.protocol import train_fold

    # The input side is the spec's (profiles name "demo", not a number): this worker's copy only.
    SPECS["ncnn"] = dataclasses.replace(SPECS["ncnn"], demo_input_size=args.size)
    profile = dataclasses.replace(
        PROFILES["demo"], ncnn_max_epochs=args.epochs, ncnn_batch_size=args.batch, ncnn_lr=args.lr
    )
    data_dir = Path(args.data)
    manifest = read_manifest(data_dir / "manifest.csv")
    folds = read_folds(data_dir / "folds.json", manifest)
    cache = Path(args.cache)
    pool = build_pool(manifest, args.size, [], 0, 0, cache)
    with tempfile.TemporaryDirectory() as out:
        data, _ = prepare_model("ncnn", profile, pool, manifest, Path(out), "none", 0, Reporter(), cache)
        for fold in args.worker_folds:
            indices = fold_indices(pool, folds, fold, profile.validation_fraction, 0, manifest)
            started, cpu_started = time.perf_counter(), time.process_time()
            _rows, prob, epochs = train_fold(data, profile, pool, indices, fold, 0, Reporter())
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            accuracy = float(((prob >= 0.5) == (pool.labels[indices.test] == 1)).mean())
            print("RESULT " + json.dumps({"fold": fold, "seconds": seconds, "cpu_seconds": cpu, "accuracy": accuracy,
                                          "epochs": sum(epochs.values())}), flush=True)


def parse_variant(text: str, args: argparse.Namespace) -> dict:
    """``"2x1:b4e10s70l2e-4"`` -> threads, processes, batch, epochs, size, lr (unset ones from ``args``)."""
    import re

    layout, _, settings = text.partition(":")
    threads, processes = (int(x) for x in layout.split("x"))
    values = {"b": args.batch, "e": args.epochs, "s": args.size, "l": args.lr}
    for key, value in re.findall(r"([besl])([0-9.e-]+?)(?=[bsl]|e\d|$)", settings):
        values[key] = value
    return {"threads": threads, "processes": processes, "batch": int(values["b"]), "epochs": int(values["e"]),
            "size": int(values["s"]), "lr": float(values["l"])}


def run_variant(args: argparse.Namespace, variant: dict, folds: list[int]) -> tuple[float, list]:
    """Train ``folds`` split over the variant's worker processes; (wall seconds, results)."""
    threads, processes = variant["threads"], variant["processes"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if args.isa:
        env["ONEDNN_MAX_CPU_ISA"] = args.isa
    groups = [folds[i::processes] for i in range(processes)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", "--threads", str(threads), "--data", args.data,
             "--cache", args.cache, "--epochs", str(variant["epochs"]), "--size", str(variant["size"]),
             "--batch", str(variant["batch"]),
             "--lr", str(variant["lr"]), "--worker-folds", ",".join(map(str, group))],
            env=env, stdout=subprocess.PIPE, text=True,
        )
        for group in groups if group
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        results += [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
    return time.perf_counter() - started, sorted(results, key=lambda r: r["fold"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/twin", help="a twin folder with manifest.csv and folds.json")
    parser.add_argument("--cache", default=None, help="face-crop cache (default: $PAINXAI_HOME/cache)")
    parser.add_argument("--folds", default="2,5")
    parser.add_argument("--variants", default="2x1,1x2")
    parser.add_argument("--epochs", type=int, default=None, help="epoch cap (default: the demo profile's)")
    parser.add_argument("--size", type=int, default=None, help="input side (default: SPECS demo size)")
    parser.add_argument("--batch", type=int, default=None, help="batch (default: the demo profile's)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--isa", default="", help="ONEDNN_MAX_CPU_ISA for the workers (e.g. AVX2)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker-folds", type=lambda s: [int(x) for x in s.split(",")], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cache is None:
        from painxai.paths import home

        args.cache = str(home() / "cache")
    from painxai.training.profiles import PROFILES

    args.epochs = args.epochs or PROFILES["demo"].ncnn_max_epochs
    args.batch = args.batch or PROFILES["demo"].ncnn_batch_size
    if args.size is None:
        from painxai.models import SPECS

        args.size = SPECS["ncnn"].demo_input_size
    if args.worker:
        worker(args)
        return
    print(f"machine: {machine()}\nCPU: {cpu_model()}; vector flags: {vector_flags()}")
    print(f"oneDNN ISA cap: {args.isa or 'none (all the CPU has)'}; N-CNN by default {args.size} px, batch "
          f"{args.batch}, {args.epochs} epochs, lr {args.lr:g}; folds {args.folds}; demo profile otherwise")
    folds = [int(x) for x in args.folds.split(",")]
    for round_ in range(args.rounds):
        for name in args.variants.split(","):
            load = os.getloadavg()[0]
            wall, results = run_variant(args, parse_variant(name, args), folds)
            per_fold = " ".join(
                f"f{r['fold']} {r['seconds']:.1f}s (cpu {r['cpu_seconds']:.0f}s) acc {r['accuracy']:.3f}"
                for r in results
            )
            mean_acc = sum(r["accuracy"] for r in results) / max(len(results), 1)
            print(f"round {round_} {name:>10}: wall {wall:6.1f} s for {len(results)} folds "
                  f"({wall / max(len(results), 1):.1f} s/fold, mean acc {mean_acc:.3f}); load {load:.1f}; {per_fold}",
                  flush=True)


if __name__ == "__main__":
    main()
