"""The `aval` command line, built on the SDK."""

from aval.clients.cli.main import main

__all__ = ["main"]
