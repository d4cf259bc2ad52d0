"""bench/bench_ncnn.py: its variant names parse to the settings its workers get."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_ncnn import parse_variant, vector_flags

DEFAULTS = argparse.Namespace(batch=8, epochs=20, size=80, lr=1e-4)


def test_variant_names_set_threads_processes_and_profile_settings() -> None:
    assert parse_variant("2x1", DEFAULTS) == {
        "threads": 2, "processes": 1, "batch": 8, "epochs": 20, "size": 80, "lr": 1e-4}
    assert (parse_variant("1x2", DEFAULTS)["threads"], parse_variant("1x2", DEFAULTS)["processes"]) == (1, 2)
    assert parse_variant("2x1:b4e10", DEFAULTS) == {
        "threads": 2, "processes": 1, "batch": 4, "epochs": 10, "size": 80, "lr": 1e-4}
    assert parse_variant("2x1:s64e12l2e-4", DEFAULTS) == {
        "threads": 2, "processes": 1, "batch": 8, "epochs": 12, "size": 64, "lr": 2e-4}


def test_vector_flags_name_only_vector_extensions() -> None:
    flags = vector_flags().split()
    assert flags and all(flag.startswith(("avx", "fma")) or flag == "unknown" for flag in flags)
