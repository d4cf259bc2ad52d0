"""What this machine offers painxai's training and dashboard: ``painxai doctor`` prints it.

TensorFlow's build and the GPUs it sees decide whether the paper profile is practical (and whether it trains
in mixed precision); oneDNN's instruction set decides how fast the CPU path runs (an AVX2-only CPU is about
twice as slow as one with AVX-512 on the demo); the face model files and the pretrained weights decide what
can run at all; the caches are what a clean-up would free.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# One convolution in a fresh interpreter with oneDNN's verbose log on: its first line names the ISA in use,
# whatever ONEDNN_MAX_CPU_ISA capped it to (the only way to see that the cap took effect).
_ISA_PROBE = (
    "import os\nos.environ['ONEDNN_VERBOSE'] = '1'\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
    "import tensorflow as tf\ntf.nn.conv2d(tf.ones((1, 8, 8, 3)), tf.ones((3, 3, 3, 4)), 1, 'SAME')\n"
)


@dataclass(frozen=True)
class MachineReport:
    """The facts ``painxai doctor`` prints; sizes in bytes."""

    tensorflow: str
    cuda_build: bool
    gpus: list[str]
    onednn_isa: str
    isa_cap: str | None
    mixed_precision: bool
    face_models: dict[str, str]
    weights: dict[str, str]
    caches: dict[str, int] = field(default_factory=dict)


def onednn_isa(timeout: float = 120.0) -> str:
    """The instruction set oneDNN uses for TensorFlow's CPU kernels here, e.g. "Intel AVX2", read from its
    verbose log in a subprocess; "unknown" when the log names none (e.g. oneDNN is off)."""
    result = subprocess.run(
        [sys.executable, "-c", _ISA_PROBE], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )
    found = re.search(r"isa:([^,\n]+)", result.stdout + result.stderr)
    return found.group(1).strip() if found else "unknown"


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def machine_report() -> MachineReport:
    """Gather the facts (imports TensorFlow; about 5-10 s with the oneDNN probe)."""
    import tensorflow as tf

    from painxai import paths
    from painxai.faces.model_files import models_status
    from painxai.models.base_weights import weights_status

    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    return MachineReport(
        tensorflow=tf.__version__,
        cuda_build=bool(tf.test.is_built_with_cuda()),
        gpus=gpus,
        onednn_isa=onednn_isa(),
        isa_cap=os.environ.get("ONEDNN_MAX_CPU_ISA"),
        mixed_precision=bool(gpus),  # the paper profile's default: mixed_float16 exactly when a GPU is present
        face_models={key: str(state["state"]) for key, state in models_status().items()},
        weights={s.name: ("found" if s.path else "missing") for s in weights_status() if s.base_weights},
        caches={
            "face models": folder_size(paths.face_models_dir()),
            "pretrained weights": folder_size(paths.weights_dir()),
            "crops and augmentation": folder_size(paths.home() / "cache"),
        },
    )
