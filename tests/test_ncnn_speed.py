"""N-CNN demo speed: bench/bench_ncnn.py parses its variants; a resume at another input size is refused."""

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


def test_resume_refuses_a_model_trained_at_another_input_size(tmp_path: Path) -> None:
    """A demo run made when N-CNN trained at 80 px cannot be continued at today's size (its
    initial.weights.h5 would not fit); once its model folder is deleted, it can."""
    import pytest

    from painxai.runs import layout
    from painxai.training.profiles import PROFILES, TrainError, input_size
    from painxai.training.protocol import check_input_sizes

    demo = PROFILES["demo"]
    old = {"model_settings": {"ncnn": {"input_size": 80}, "vgg16": {"input_size": input_size(demo, "vgg16")}}}
    weights = layout.initial_weights(tmp_path, "ncnn")
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"")
    with pytest.raises(TrainError, match="ncnn was trained at 80 px"):
        check_input_sizes(old, demo, ("vgg16", "ncnn"), tmp_path)
    check_input_sizes(old, demo, ("vgg16",), tmp_path)  # only the models asked are checked
    weights.unlink()
    check_input_sizes(old, demo, ("ncnn",), tmp_path)  # deleted: retrained from scratch


def test_resume_refuses_to_add_folds_trained_under_another_protocol(tmp_path: Path) -> None:
    """A demo run whose finished N-CNN folds trained in batches of 8 for 20 epochs cannot get more folds from
    this version (batches of 4, 12 epochs): its metrics would mix two trainings. A finished model, or one
    without a finished fold, is fine."""
    import pytest

    from painxai.runs import layout
    from painxai.training.profiles import PROFILES, TrainError, protocol_text
    from painxai.training.protocol import check_protocols

    demo = PROFILES["demo"]
    old_ncnn = "end to end, RMSprop lr 0.0001, batch 8, patience 10, epoch cap 20"
    assert protocol_text("ncnn", demo) != old_ncnn
    settings = {"ncnn": {"protocol": old_ncnn}, "vgg16": {"protocol": protocol_text("vgg16", demo)}}
    old = {"k": 2, "model_settings": settings}
    check_protocols(old, demo, [("ncnn", 0), ("ncnn", 1), ("vgg16", 1)], tmp_path)  # nothing finished yet
    done = layout.fold_dir(tmp_path, "ncnn", 0) / layout.DONE
    done.parent.mkdir(parents=True)
    done.write_text("done")
    assert layout.is_fold_done(tmp_path, "ncnn", 0)
    with pytest.raises(TrainError, match="ncnn's finished folds were trained with"):
        check_protocols(old, demo, [("ncnn", 1)], tmp_path)
    check_protocols(old, demo, [("vgg16", 1)], tmp_path)  # only models with folds left are checked
