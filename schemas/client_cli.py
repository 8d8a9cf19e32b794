"""The command-line helpers ``perci-authority`` and ``perci-platform`` share.

Common options (``--credentials``, ``--broker``, ``--json``), the error
convention (one line on stderr and an exit code), JSON and table output, and
the ``watch`` subcommand.  ``rich`` is imported only when a table is printed,
so that importing the SDKs never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any

from perci_schemas.client_errors import ClientError, InputError, UsageError
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import Accepted, EventView, Receipt, format_time
from perci_schemas.credentials import CREDENTIALS_ENV

__all__ = [
    "UsageError",
    "add_watch_arguments",
    "cli_main",
    "common_options",
    "print_accepted",
    "print_events",
    "print_json",
    "print_record",
    "print_table",
    "watch_and_print",
]


def common_options() -> argparse.ArgumentParser:
    """Return a parent parser with ``--credentials``, ``--broker`` and ``--json``.

    The options are accepted both before and after the subcommand.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--credentials",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"credentials file written by `perci-sim init` (default: ${CREDENTIALS_ENV})",
    )
    parent.add_argument(
        "--broker", metavar="URL", default=argparse.SUPPRESS, help="override broker_url"
    )
    parent.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine output"
    )
    return parent


def cli_main(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> int:
    """Parse ``argv`` and run ``command``; map errors to one stderr line and an exit code.

    Exit codes: 0 ok, 1 error (broker problem, client error, file error),
    2 usage error, 130 interrupted.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    for name, default in (("credentials", None), ("broker", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (ClientError, InputError, OSError) as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def print_json(data: Any) -> None:
    """Print ``data`` (JSON values, dataclasses, datetimes) as indented JSON."""
    print(json.dumps(data, indent=2, default=_jsonable, ensure_ascii=False))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a table to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console = Console()
    if not console.is_terminal:  # piped: do not fold ids at an assumed 80 columns
        console = Console(width=240)
    console.print(table)


def print_record(title: str, record: Mapping[str, Any]) -> None:
    """Print one record as a two-column table of fields and values."""
    print_table(title, ("field", "value"), [(k, _cell(v)) for k, v in record.items()])


def print_accepted(what: str, accepted: Accepted | Receipt, *, as_json: bool) -> None:
    """Report a document the broker accepted, with its receipt."""
    if as_json:
        print_json(accepted)
        return
    receipt = accepted.receipt if isinstance(accepted, Accepted) else accepted
    record: dict[str, Any] = {}
    if isinstance(accepted, Accepted):
        record |= {"order_id": accepted.order["order_id"], "state": accepted.order["state"]}
        record["deadline_at"] = accepted.order.get("deadline_at")
    record |= {
        "event": f"#{receipt.seq} {receipt.event_id}",
        "received_at": receipt.received_at,
        "document_sha256": receipt.document_sha256,
        "receipt": "verified (broker key " + receipt.kid + ")",
    }
    print_record(f"{what} accepted", record)


def print_events(events: Sequence[EventView], *, title: str = "events") -> None:
    """Print events as a table."""
    print_table(
        title,
        ("seq", "received_at", "kind", "order_id", "actor"),
        [(e["seq"], e["received_at"], e["kind"], e.get("order_id"), e["actor"]) for e in events],
    )


async def watch_and_print(client: BrokerClient, args: argparse.Namespace) -> int:
    """Print the live feed, one line (or JSON object) per event, until ``--count``."""
    seen = 0
    async with aclosing(client.watch(after=args.after)) as feed:
        async for event in feed:
            if args.json:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            else:
                print(
                    f"{event['seq']:>6}  {event['received_at']}  {event['kind']:<30} "
                    f"order={event.get('order_id') or '-'}  actor={event['actor']}",
                    flush=True,
                )
            seen += 1
            if args.count is not None and seen >= args.count:
                break
    return 0


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--after`` and ``--count`` to a ``watch`` subcommand."""
    parser.add_argument("--after", type=int, default=0, metavar="SEQ", help="resume after SEQ")
    parser.add_argument("--count", type=_positive, metavar="N", help="stop after N events")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
