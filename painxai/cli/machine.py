"""``painxai doctor`` (what this machine offers: TensorFlow's build, GPUs, oneDNN's ISA, face models, weights,
caches) and ``painxai serve`` (the dashboard, its models loaded before the server starts)."""

from __future__ import annotations

from pathlib import Path

import typer

from painxai.cli.common import console, progress_bar, user_errors


def doctor() -> None:
    """Print TensorFlow's build, the GPUs it sees, oneDNN's instruction set, mixed precision, the face model
    files and pretrained weights found, and the cache sizes."""
    from painxai.training.machine import machine_report

    with user_errors(), console.status("Asking TensorFlow and oneDNN…"):
        report = machine_report()
    build = "CUDA build" if report.cuda_build else "CPU-only build"
    gpus = ", ".join(report.gpus) if report.gpus else "none visible"
    cap = f" (capped by ONEDNN_MAX_CPU_ISA={report.isa_cap})" if report.isa_cap else ""
    lines = [
        f"TensorFlow       {report.tensorflow}, {build}",
        f"GPUs             {gpus}",
        f"oneDNN ISA       {report.onednn_isa}{cap}",
        f"mixed precision  {'on (mixed_float16) for the paper profile' if report.mixed_precision else 'off (float32)'}",
        "face models      " + ", ".join(f"{key} {state}" for key, state in report.face_models.items()),
        "weights          " + ", ".join(f"{name} {state}" for name, state in report.weights.items()),
        "caches           " + ", ".join(f"{what} {size / 1e6:.0f} MB" for what, size in report.caches.items()),
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not report.gpus:
        hint = ("this TensorFlow is built for the CPU: on a machine with an NVIDIA GPU, `make setup GPU=1`"
                if not report.cuda_build else "TensorFlow has CUDA but sees no GPU: check the driver (nvidia-smi)")
        console.print(f"No GPU: the demo runs on the CPU; the paper profile is for a GPU ({hint}).",
                      highlight=False, soft_wrap=True)
    if any(state != "ok" for state in report.face_models.values()):
        console.print("A face model file is not usable: run `painxai faces fetch-models`.", highlight=False)


def serve(
    context: typer.Context,
    run: Path = typer.Option(Path("artifacts/demo"), help="The run the dashboard opens first."),
    app_file: Path = typer.Option(Path("app.py"), help="The dashboard's entry script (app.py of the checkout)."),
) -> None:
    """Serve the dashboard, its run's models loaded and warmed first (a progress bar), so that the first photo
    does not wait for them. Options after the named ones go to `streamlit run` (e.g. --server.port 8502)."""
    from painxai.dependencies import load_native_first

    load_native_first()  # the app's scripts run in this process, where TensorFlow is about to load
    with user_errors():
        if not app_file.is_file():
            raise typer.BadParameter(f"{app_file} not found: run this from the painxai folder, or pass --app-file")
        _load_models(run)
    from streamlit.web import cli as streamlit_cli

    # The server runs in this process, so the app's scripts find the models _load_models loaded.
    streamlit_cli.main.main(
        ["run", str(app_file), *context.args, "--", "--run", str(run)], prog_name="streamlit", standalone_mode=True
    )


def _load_models(run_path: Path) -> None:
    """Load and warm the run's fold ensembles before the server starts, one progress line per model, so that
    the dashboard's first photo finds every model ready (README.md gives the measured difference). A run that
    cannot be opened (or is not there yet) is left to the dashboard, which says why.
    """
    import os
    import time

    from painxai.errors import PainxaiError
    from painxai.inference.warm import STORE
    from painxai.runs.reader import Run

    if os.environ.get("PAINXAI_WARM", "1") == "0" or not (run_path / "run.json").is_file():
        return
    try:
        run = Run(run_path)
    except PainxaiError:
        return
    started = time.perf_counter()
    with progress_bar(f"loading the models of {run_path}") as progress:
        import keras  # noqa: F401 - here, before the loading thread: two threads importing Keras at once break

        models = run.models()
        thread = STORE.warm(run, models, on_error=lambda model, error: console.print(f"{model} not loaded: {error}"))
        while thread.is_alive():
            progress(sum(STORE.loaded(run, model) for model in models), len(models))
            thread.join(timeout=0.5)
        progress(len(models), len(models))
    console.print(f"Models ready in {time.perf_counter() - started:.0f} s: {', '.join(models)}.",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` and ``serve`` to the main app."""
    app.command("doctor")(doctor)
    app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(serve)
