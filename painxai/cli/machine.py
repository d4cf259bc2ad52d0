"""``painxai doctor`` (what this machine offers: TensorFlow's build, GPUs, oneDNN's ISA, face models, weights,
caches) and ``painxai serve`` (the dashboard, its models loading from the moment the server starts)."""

from __future__ import annotations

from pathlib import Path

import typer

from painxai.cli.common import console, user_errors


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
    """Serve the dashboard with the run's models loading from the moment the server starts (not when the first
    browser opens it), so that a photo uploaded at once waits only for the models still loading. Options
    after the named ones go to `streamlit run` (e.g. --server.port 8502)."""
    with user_errors():
        if not app_file.is_file():
            raise typer.BadParameter(f"{app_file} not found: run this from the painxai folder, or pass --app-file")
        _start_loading(run)
    from streamlit.web import cli as streamlit_cli

    # The server runs in this process, so the app's scripts find the models that _start_loading is loading.
    streamlit_cli.main.main(
        ["run", str(app_file), *context.args, "--", "--run", str(run)], prog_name="streamlit", standalone_mode=True
    )


def _start_loading(run_path: Path) -> None:
    """Open the run and start loading and warming its fold ensembles in a background thread; a run that cannot
    be opened (or is not there yet) is left to the dashboard, which says why."""
    import os

    from painxai.errors import PainxaiError
    from painxai.inference.warm import STORE
    from painxai.runs.reader import Run

    if os.environ.get("PAINXAI_WARM", "1") == "0" or not (run_path / "run.json").is_file():
        return
    try:
        run = Run(run_path)
    except PainxaiError:
        return
    with console.status("Starting TensorFlow…"):
        # Imported here, before the loading thread starts: two threads importing Keras at once meet
        # half-initialised modules (see app_pages/_shared.start_warming).
        import keras  # noqa: F401
    STORE.warm(run, run.models(), on_error=lambda model, error: console.print(f"{model} not loaded: {error}"))
    console.print(f"Loading the models of {run_path} in the background: {', '.join(run.models())}.",
                  highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` and ``serve`` to the main app."""
    app.command("doctor")(doctor)
    app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(serve)
