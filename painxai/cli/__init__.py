"""The ``painxai`` command line: one Typer app; each area registers its commands from its own module.

Heavy packages (TensorFlow, MediaPipe) are imported inside the commands, so ``painxai --help``
answers at once.
"""

from __future__ import annotations

import typer

from painxai import quiet_native_logs
from painxai.cli import audit, augment, check, data, explain, faces, machine, models, monitor, report, train
from painxai.cli.common import user_errors

app = typer.Typer(
    name="painxai",
    help="Explainable CNNs for neonatal pain assessment: data, training, reports and explanations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

data.register(app)
augment.register(app)
report.register(app)
check.register(app)
faces.register(app)
train.register(app)
explain.register(app)
audit.register(app)
models.register(app)
monitor.register(app)
machine.register(app)


def main() -> None:
    """Console-script entry point: a PainxaiError that a command did not turn into its message already (e.g.
    a package missing from this environment, met outside the command's own handler) is one line, exit 2."""
    quiet_native_logs()
    try:
        with user_errors():
            app()
    except typer.Exit as stop:  # user_errors' exit, raised here outside any command
        raise SystemExit(stop.exit_code) from None
