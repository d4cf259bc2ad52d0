"""The one base class of every error that painxai reports to a user.

A ``PainxaiError`` is a problem with the user's input or files (a bad manifest line, a missing weights
file, a damaged run folder), never a bug: its message names the file (and line, where there is one) and
says what to do. The command line and the dashboard catch this type once and show the message; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class PainxaiError(Exception):
    """A problem with the user's input or files, with a message that says what to do."""


class RequestError(PainxaiError):
    """A request that cannot be met as asked: an unknown model, method or class name, an option out of its
    range, a face box outside the photo. Programming errors (wrong array shapes or types) stay ValueError."""
