"""The `aval` command line, built on the SDK."""

from aval.clients.cli.program import main

__all__ = ["main"]
