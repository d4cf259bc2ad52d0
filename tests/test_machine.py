"""The machine checks: the paper profile refuses a CPU-only machine unless asked, its projection, `painxai doctor`
and `painxai serve`."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_projection_is_the_arithmetic_documented_in_bench_readme() -> None:
    """bench/README.md's table (10 folds of the paper's 483 images, 20 augmented copies each) is the source."""
    from painxai.training.projection import cpu_projection

    table = (ROOT / "bench" / "README.md").read_text().split("## Projection of the paper profile", 1)[1]
    documented = {m: float(h) for m, h in re.findall(r"^\| (\w+)[^|]*\|[^|]*\|[^|]*\|[^|]*\| about ([\d.]+) h \|$",
                                                       table, flags=re.MULTILINE)}
    assert set(documented) == {"vgg16", "resnet50", "senet50", "inception_v3", "ncnn"}
    projection = cpu_projection(list(documented), n_images=483, k=10, folds=10, augment_per_image=20,
                                validation_fraction=0.1)
    for model, hours in documented.items():
        assert projection.hours[model] == pytest.approx(hours, rel=0.15), model
    one_fold = cpu_projection(["vgg16"], 483, 10, 1, 20, 0.1)
    assert one_fold.total_hours == pytest.approx(projection.hours["vgg16"] / 10)
    assert "hours on this machine's CPU" in projection.describe()


def test_the_paper_profile_without_a_gpu_stops_before_any_work(tiny_twin, tmp_path) -> None:
    from typer.testing import CliRunner

    from painxai.cli import app

    out = tmp_path / "run"
    arguments = ["train", "--manifest", str(tiny_twin["manifest"]), "--folds", str(tiny_twin["folds"]),
                 "--models", "resnet50", "--profile", "paper", "--weights", "none", "--out", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "sees no GPU" in text and "CPU-only build" in text and "resnet50" in text and "hours" in text
    assert "make setup GPU=1" in text and "--allow-cpu" in text and "Traceback" not in text
    assert not out.exists()


def test_the_cpu_check_leaves_other_profiles_and_gpu_machines_alone(tiny_twin, tmp_path, monkeypatch) -> None:
    import painxai.training.fit as fit
    from painxai.cli.train import check_gpu
    from painxai.training.profiles import TrainConfig

    demo = TrainConfig(tiny_twin["manifest"], tiny_twin["folds"], tmp_path / "a", models=("ncnn",), profile="demo")
    check_gpu(demo, allow_cpu=False)  # the demo is made for the CPU
    monkeypatch.setattr(fit, "gpu_present", lambda: True)
    paper = TrainConfig(tiny_twin["manifest"], tiny_twin["folds"], tmp_path / "b", models=("ncnn",), profile="paper")
    check_gpu(paper, allow_cpu=False)


@pytest.mark.parametrize(("cap", "expected"), [("AVX2", "AVX2"), ("SSE41", "SSE4.1")])
def test_the_onednn_probe_reads_the_isa_in_use(cap, expected, monkeypatch) -> None:
    """Each cap gives its own answer: the probe reads oneDNN's log, not the CPU's flags."""
    from painxai.training.machine import onednn_isa

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert expected in onednn_isa()


def test_doctor_prints_the_machine(monkeypatch) -> None:
    from typer.testing import CliRunner

    import painxai.training.machine as machine
    from painxai.cli import app

    monkeypatch.setattr(machine, "onednn_isa", lambda: "Intel AVX2")  # probed above; 5-10 s each
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for label in ("TensorFlow", "GPUs", "oneDNN ISA", "mixed precision", "face models", "weights", "caches"):
        assert re.search(rf"^{label} +\S", result.output, flags=re.MULTILINE), label
    assert "CPU-only build" in result.output and "none visible" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_loads_the_models_before_the_server_starts(tmp_path) -> None:
    """`painxai serve` (what `make serve` runs) loads the run's models before the server is up, passes
    Streamlit's options through, and serves the app."""
    import urllib.request

    from helpers.runs import build_run

    run = build_run(tmp_path / "artifacts" / "run", ("ncnn",), k=2, weights="random")
    port = _free_port()
    command = [str(Path(sys.executable).with_name("painxai")), "serve", "--run", str(run), "--server.headless",
               "true", "--server.address", "127.0.0.1", "--server.port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer")
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    ready = output.find("Models ready in")
    assert ready >= 0 and "s: ncnn." in output[ready:], output
    assert ready < output.find(f"127.0.0.1:{port}"), output  # before the server says where it is
    assert "Traceback" not in output
