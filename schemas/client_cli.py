"""The command-line helpers ``perci-authority`` and ``perci-platform`` share.

Common options (``--credentials``, ``--broker``, ``--json``), the error
convention (one line on stderr and an exit code), JSON and table output, the
``watch`` subcommand, and the role check: each CLI serves several credential
roles (``perci-authority``: authority, court, Europol; ``perci-platform``: HSP,
content provider) and lets each run only the subcommands its role may use.
``rich`` is imported only when a table is printed, so that importing the SDKs
never imports it.
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
from typing import Any, TypeVar

from perci_schemas.client_errors import ClientError, InputError, UsageError
from perci_schemas.client_support import BrokerClient
from perci_schemas.client_views import Accepted, EventView, Receipt, format_time
from perci_schemas.credentials import CREDENTIALS_ENV, Credentials

ClientT = TypeVar("ClientT", bound=BrokerClient)

#: A CLI's role table: credential role -> the subcommands that role may run.
RoleCommands = Mapping[str, frozenset[str]]

__all__ = [
    "RoleCommands",
    "UsageError",
    "add_watch_arguments",
    "cli_main",
    "common_options",
    "open_client",
    "print_accepted",
    "print_events",
    "print_json",
    "print_record",
    "print_table",
    "require_command_for_role",
    "roles_epilog",
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


def require_command_for_role(
    prog: str,
    command: str,
    credentials: Credentials,
    table: RoleCommands,
    *,
    elsewhere: Mapping[str, str] | None = None,
) -> None:
    """Refuse ``command`` unless the credentials' role may run it (before any request).

    ``elsewhere`` maps roles this CLI does not serve to the CLI that does.

    Raises:
        InputError: one line naming the role(s) that may run ``command`` (exit 1).
    """
    role, who = credentials.role, credentials.participant_id
    allowed = table.get(role)
    if allowed is None:
        served = " or ".join(table)
        hint = f"; use {elsewhere[role]}" if elsewhere and role in elsewhere else ""
        raise InputError(
            f"credentials of {who!r} are for role {role!r}; {prog} takes credentials of "
            f"role {served}{hint}"
        )
    if command not in allowed:
        roles = [r for r, commands in table.items() if command in commands]
        raise InputError(
            f"{command} is for role {' or '.join(roles) or '(none)'}; {who!r} is a {role} "
            f"(its commands: {', '.join(sorted(allowed))})"
        )


def roles_epilog(table: RoleCommands) -> str:
    """The ``--help`` epilog listing each role's subcommands."""
    lines = ["commands by the role of the credentials:"]
    lines += [f"  {role}: {', '.join(sorted(commands))}" for role, commands in table.items()]
    return "\n".join(lines)


def open_client(
    cls: type[ClientT], credentials: Credentials, broker_url: str | None = None
) -> ClientT:
    """A client of class ``cls`` for already loaded credentials (``broker_url`` overrides).

    Raises:
        InputError: ``cls`` does not accept credentials of this role.
    """
    accepted = cls.accepted_roles()
    if accepted and credentials.role not in accepted:
        raise InputError(
            f"credentials of {credentials.participant_id!r} are for role {credentials.role!r}, "
            f"not {' or '.join(repr(r) for r in sorted(accepted))}"
        )
    return cls(
        broker_url or credentials.broker_url,
        credentials.participant_id,
        credentials.token,
        credentials.kid,
        credentials.key,
        profile=credentials.profile,
    )


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
