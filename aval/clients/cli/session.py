"""What the command modules share: the session of a gateway command, and how to add commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Protocol

from aval.clients.cli.messages import Messages
from aval.clients.cli.output import Printer
from aval.clients.sdk.client import Client

# The helper of `build_parser` that adds one (sub)command: (group, name, help key) -> parser.
AddCommand = Callable[[Any, str, str], argparse.ArgumentParser]


class Session(Protocol):
    """What a gateway command gets from the command line (``cli._Session``)."""

    @property
    def client(self) -> Client: ...

    @property
    def args(self) -> argparse.Namespace: ...

    @property
    def show(self) -> Printer: ...

    @property
    def t(self) -> Messages: ...
