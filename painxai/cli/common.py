"""Helpers shared by the command modules: clean errors instead of tracebacks, and progress bars."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.progress import Progress

from painxai.errors import PainxaiError

console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn every ``PainxaiError`` (bad files, bad requests) and a missing file into a one-line message, exit 2.

    Any other exception is a bug and keeps its traceback.
    """
    try:
        yield
    except (PainxaiError, FileNotFoundError) as error:
        # soft_wrap: one line however long (the terminal wraps it), so the message stays one line in logs.
        console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on the terminal, handed to the library as its ``progress(done, total)`` callback.

    The library reports progress through plain callbacks and never draws itself (it serves the dashboard
    too); the bar stays on screen when the work is done.
    """
    with Progress(console=console, transient=False) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)
