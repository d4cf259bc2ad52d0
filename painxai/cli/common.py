"""Helpers shared by the command modules: clean errors instead of tracebacks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from painxai.errors import PainxaiError

console = Console(stderr=True)


@contextlib.contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn every ``PainxaiError`` (bad files, bad requests; plus ``kinds``) into a one-line message and exit 2."""
    try:
        yield
    except (PainxaiError, *kinds, FileNotFoundError) as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False, markup=True)
        raise typer.Exit(2) from None
