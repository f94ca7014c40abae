"""`python -m aval.service.ai.advisor_demo`: serve the demo advisor, or print its evaluation."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aval.service.ai.advisor_demo.dataset import DatasetError, load_dataset, shipped_dataset
from aval.service.ai.advisor_demo.servicer import AdvisorStartError, start_demo_advisor
from aval.service.ai.advisor_demo.training import DemoModel, train_demo_model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m aval.service.ai.advisor_demo",
        description="Triage of citizens' street reports into municipal services: a small "
        "linear model trained at start-up, served as an aval.v1.Advisor.",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:50061",
        metavar="HOST:PORT",
        help="address to serve on (port 0: any free port); default %(default)s",
    )
    parser.add_argument(
        "--evaluate",
        action="store_true",
        help="train, print the held-out accuracy and the confusion matrix, and exit",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="CSV",
        help="train on this file (columns text,service) instead of the shipped data set",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop at the end of standard input, i.e. when the process that started this one "
        "and holds the pipe ends (used by `aval serve --demo`)",
    )
    return parser.parse_args(argv)


async def _watch_parent(stop: asyncio.Event) -> None:
    """Sets `stop` at the end of standard input: the parent holds the other end of the pipe,
    which closes when it ends, even killed."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    stop.set()


async def serve(listen: str, model: DemoModel, *, exit_with_parent: bool = False) -> None:
    """Serves until SIGTERM or SIGINT (or the parent's end), then lets calls in flight finish."""
    server, port = await start_demo_advisor(listen, model=model)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(_watch_parent(stop)) if exit_with_parent else None
    host = listen.rsplit(":", 1)[0]
    print(f"model {model.version}, held-out accuracy {model.evaluation.accuracy:.3f}")
    print(f"listening on {host}:{port}", flush=True)
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await server.stop(grace=2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        dataset = load_dataset(args.data) if args.data else shipped_dataset()
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = train_demo_model(dataset)
    if args.evaluate:
        print(model.evaluation.report())
        print(
            f"\ntrained on {len(dataset.training)} rows and evaluated on {len(dataset.test)} "
            f"in {model.training_seconds * 1000:.0f} ms"
        )
        return 0
    try:
        asyncio.run(serve(args.listen, model, exit_with_parent=args.exit_with_parent))
    except AdvisorStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
