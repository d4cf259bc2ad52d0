"""Test helpers shared by several test modules (import as ``from helpers.runs import build_run``)."""
