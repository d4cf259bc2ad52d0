"""Model commands: ``painxai models summary`` and ``painxai weights status|fetch|import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from painxai.cli.common import console, user_errors
from painxai.errors import RequestError
from painxai.models import SPECS

models_app = typer.Typer(
    help=f"The registered CNNs ({', '.join(SPECS)}): architectures, sizes, Grad-CAM and fine-tuned layers."
)
#: The models with a pretrained base file and the kinds of those files, for help texts.
PRETRAINED_NAMES = ", ".join(name for name, spec in SPECS.items() if spec.base_weights is not None)
BASE_WEIGHTS = ", ".join(dict.fromkeys(spec.base_weights for spec in SPECS.values() if spec.base_weights is not None))
weights_app = typer.Typer(help=f"Pretrained base weights ({BASE_WEIGHTS}): status, fetch, import.")


def _model_names(model: list[str] | None) -> list[str]:
    names = list(model) if model else list(SPECS)
    unknown = [name for name in names if name not in SPECS]
    if unknown:
        raise RequestError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(SPECS)}")
    return names


def model_summary(name: str, size: str) -> dict[str, Any]:
    """Facts of model ``name`` built (randomly initialised) at its ``paper`` or ``demo`` input size.

    ``total_params`` counts every weight; ``head_params`` those trained in phase 1 (base frozen);
    ``trainable_params`` those trained in phase 2 (head + Table-1 conv layers; all for N-CNN).
    """
    from painxai.models import build, default_input_shape, set_trainable_phase

    spec = SPECS[name]
    model = build(name, input_shape=default_input_shape(name, size), weights=None)
    trainable = {}
    for phase in (1, 2):
        set_trainable_phase(model, phase)
        trainable[phase] = sum(int(variable.numpy().size) for variable in model.trainable_weights)
    return {
        "name": name,
        "title": spec.title,
        "base_weights": spec.base_weights,
        "input_shape": list(model.input_shape[1:]),
        "total_params": model.count_params(),
        "head_params": trainable[1],
        "trainable_params": trainable[2],
        "output": spec.output,
        "preprocessing": spec.preprocessing,
        "last_conv_layer": spec.last_conv_layer,
        "last_conv_shape": list(model.get_layer(spec.last_conv_layer).output.shape[1:]),
        "explained_layer": spec.explained_layer,
        "explained_shape": list(model.get_layer(spec.explained_layer).output.shape[1:]),
        "phase2_cut_layer": spec.phase2_cut_layer,
        "finetune_layers": list(spec.finetune_layers),
        "finetune_companions": list(spec.finetune_companions),
    }


def summary(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
    size: str = typer.Option("paper", help="Input size: 'paper' (Table 1) or 'demo' (the reduced CPU size)."),
    model: list[str] = typer.Option(None, help="Only these models (repeatable); default every registered one."),
) -> None:
    """Build each model with random weights and print its size, parameters and layers of interest."""
    with user_errors():
        if size not in ("paper", "demo"):
            raise RequestError(f"--size must be 'paper' or 'demo', got {size!r}")
        rows = [model_summary(name, size) for name in _model_names(model)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"models at the {size} input size")
    for column in ("model", "input", "total", "phase-1 trainable", "phase-2 trainable", "last conv",
                   "maps explain",
                   "fine-tuned layers"):
        table.add_column(column)
    for row in rows:
        layers = row["finetune_layers"] + [f"+{name}" for name in row["finetune_companions"]]
        table.add_row(row["name"], "x".join(map(str, row["input_shape"])), f"{row['total_params']:,}",
                      f"{row['head_params']:,}", f"{row['trainable_params']:,}",
                      f"{row['last_conv_layer']} {tuple(row['last_conv_shape'])}",
                      f"{row['explained_layer']} {tuple(row['explained_shape'])}",
                      f"{len(row['finetune_layers'])}: " + ", ".join(layers))
    console.print(table)


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Which pretrained weights are on this machine, and where."""
    from painxai.models import weights_status

    statuses = weights_status()
    if as_json:
        typer.echo(json.dumps([{"name": s.name, "base_weights": s.base_weights, "ready": s.ready,
                                "path": str(s.path) if s.path else None, "size_bytes": s.size_bytes}
                               for s in statuses], indent=2))
        return
    table = Table(title="pretrained weights")
    for column in ("model", "weights", "status", "file"):
        table.add_column(column)
    for state in statuses:
        if state.base_weights is None:
            label, where = "not needed", "trained from scratch"
        elif state.path is None or state.size_bytes is None:  # both None together
            label, where = "[red]missing[/]", f"painxai weights fetch --model {state.name}"
        else:
            label, where = "[green]ready[/]", f"{state.path} ({state.size_bytes / 1e6:.0f} MB)"
        table.add_row(state.name, state.base_weights or "-", label, where)
    console.print(table)


def fetch(
    model: list[str] = typer.Option(None, help="Only these models (repeatable); default every pretrained one."),
) -> None:
    """Download the original weights (keras-vggface release, Keras's ImageNet file), check and keep them."""
    from painxai.models import WeightsFileError, fetch_weights

    with user_errors():
        names = [name for name in _model_names(model) if SPECS[name].base_weights is not None]
    failed = []
    for name in names:
        console.print(f"{name}: downloading {SPECS[name].weights_url}")
        try:
            path = fetch_weights(name)
        except (ConnectionError, WeightsFileError) as error:
            console.print(f"[bold red]{name}:[/] {error}", highlight=False)
            failed.append(name)
            continue
        console.print(f"{name}: ready at {path}")
    if failed:
        raise typer.Exit(2)


def import_file(
    file: Path = typer.Argument(..., help="A weight file downloaded elsewhere (e.g. rcmalli_vggface_tf_notop_*.h5)."),
    model: str = typer.Option(..., help=f"The model it belongs to: {PRETRAINED_NAMES}."),
) -> None:
    """Check that FILE loads strictly into MODEL's base, then keep it under its canonical name."""
    from painxai.models import import_weights

    with user_errors():
        path = import_weights(file, model)
    console.print(f"{model}: {file} checked and installed as {path}")


def register(app: typer.Typer) -> None:
    """Add the ``models`` and ``weights`` command groups to the main app."""
    models_app.command()(summary)
    weights_app.command()(status)
    weights_app.command()(fetch)
    weights_app.command("import")(import_file)
    app.add_typer(models_app, name="models")
    app.add_typer(weights_app, name="weights")
