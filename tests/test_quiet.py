"""A quiet terminal: native libraries' log lines are held back, our own messages are not."""

from __future__ import annotations

import os
import subprocess
import sys

from painxai.native_logs import is_native_line, native_stderr

# Lines seen in `make run`'s terminal before (TensorFlow, absl, glog, LiteRT/MediaPipe).
NATIVE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796087684.890068   17778 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1796087684.924626   17778 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "INFO: [cpu_registry.cc:75] XNNPACK CPU accelerator registered.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: Logging before InitGoogle() is written to STDERR",
    "W0000 00:00:1796087940.041813   25397 inference_runner_litert.cc:1418] Input tensor memory is not aligned",
]
OURS = [
    "warning: vgg16: pretrained VGGFace weights not found, using a seeded random initialisation",
    "error: 'photo.png' is not an image, or not in a format that can be read",
    "INFO is a word we may print too, without the colon-space prefix",
    "       vgg16 fold 0: accuracy 0.083, F1 0.000, AUC 0.545, 4 epochs (2+2), 10.0 s",
]


def test_native_lines_are_recognised_and_ours_are_not():
    assert all(is_native_line(line) for line in NATIVE)
    assert not any(is_native_line(line) for line in OURS)


def test_native_stderr_holds_back_native_lines_and_keeps_ours(capfd):
    with native_stderr():
        for line in [*NATIVE, *OURS]:
            os.write(2, (line + "\n").encode())
    written = capfd.readouterr().err.splitlines()
    assert written == OURS


def _stderr_lines(script: str) -> list[str]:
    """What ``script`` writes to stderr in a fresh interpreter with no log variables set (as a user starts
    ``painxai``); it must succeed."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr.splitlines()


def test_tensorflow_and_mediapipe_print_nothing_of_their_own():
    """A fresh interpreter (as `painxai` and app.py start): import TensorFlow, run the face detector and the
    landmarks; stderr holds only what we print."""
    script = (
        "import sys\n"
        "from painxai import quiet_native_logs\n"
        "quiet_native_logs()\n"
        "from skimage.data import astronaut\n"
        "from painxai.inference.gate import screen_photo\n"
        "import tensorflow as tf\n"
        "assert screen_photo(astronaut()).accepted\n"
        "tf.function(lambda x: x + 1)(tf.constant(1.0))\n"
        "print('ours', file=sys.stderr)\n"
    )
    assert _stderr_lines(script) == ["ours"]


def test_augmentation_workers_print_nothing_of_their_own(tmp_path):
    """Spawned augmentation workers start without the parent's import hook; their start-up installs it, so
    TensorFlow's load-time lines (seen in `make run` before) stay off the terminal."""
    script = (
        "import sys\n"
        "from painxai import quiet_native_logs\n"
        "quiet_native_logs()\n"
        "from painxai.data.manifest import read_manifest\n"
        "from painxai.synth.twin import generate_twin\n"
        "from painxai.training import augment, augment_cache\n"
        f"twin = generate_twin({str(tmp_path / 'twin')!r}, size_scale=0.1, workers=1)\n"
        "manifest = read_manifest(twin.manifest_path).head(4)\n"
        "augment_cache.MIN_IMAGES_PER_WORKER = 1  # two workers even for four images\n"
        "settings = augment.AugmentSettings(per_image=1, crop_size=64)\n"
        "done = augment_cache.augment_manifest(manifest, None, settings, seed=0, workers=2)\n"
        "assert len(done.images) == 4, len(done.images)\n"
        "print('ours', file=sys.stderr)\n"
    )
    assert _stderr_lines(script) == ["ours"]
