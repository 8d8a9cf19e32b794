"""`perci-sim` on each storage backend: `db upgrade|current`, the refusal of an
unmigrated database by a real `serve` process, and a real broker on PostgreSQL running
an order end to end through the SDKs (PostgreSQL needs ``PERCI_TEST_DATABASE_URL``,
else it skips).  Commands other than `serve` run in-process (`main()` in a thread).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import postgres_database
from process_helpers import free_port, healthy

from authority_client import AuthorityClient
from perci_sim.__main__ import main
from perci_sim.bootstrap import credentials_path
from perci_sim.storage.schema import head_revision
from platform_client import PlatformClient

pytestmark = pytest.mark.slow

TIMEOUT = 30.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERCI_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _perci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "perci_sim", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=TIMEOUT,
        check=False,
    )


async def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `perci-sim ARGS` in-process; return its exit code, stdout and stderr."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_serve_refuses_an_outdated_database(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One clear line and a non-zero exit, from `serve` and the admin commands."""
    home = tmp_path / "home"
    db_args = ("--home", str(home), "--database-url", database_url)
    code, _, err = await _cli(capsys, "init", str(home), "--database-url", database_url)
    assert code == 0, err
    code, out, err = await _cli(capsys, "db", "current", *db_args)
    assert (code, out.strip()) == (0, f"{head_revision()} (head)"), err
    # An older revision than this code's.
    from sqlalchemy import text

    from perci_sim.storage.db import open_database

    db = await open_database(database_url, create=False)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    finally:
        await db.close()

    served = _perci("serve", *db_args, "--port", str(free_port()))
    assert served.returncode == 1
    expected = (
        f"perci-sim: error: database at revision 0000, expected {head_revision()}: "
        "run `perci-sim db upgrade`"
    )
    assert served.stderr.strip() == expected, served.stderr
    assert served.stdout == ""
    code, _, err = await _cli(capsys, "participants", "list", *db_args)
    assert (code, err.strip()) == (1, expected)
    code, out, _ = await _cli(capsys, "db", "current", *db_args)
    assert code == 1
    assert out.strip() == f"0000 (expected {head_revision()}: run `perci-sim db upgrade`)"


async def test_db_upgrade_migrates_a_new_database(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`db upgrade --database-url` on an empty database, then again (nothing to do)."""
    code, out, err = await _cli(capsys, "db", "current", "--database-url", database_url)
    assert (code, out.strip()) == (
        1,
        f"none (expected {head_revision()}: run `perci-sim db upgrade`)",
    )
    code, out, err = await _cli(capsys, "db", "upgrade", "--database-url", database_url)
    assert code == 0, err
    assert out.strip() == f"database upgraded from revision none to {head_revision()}"
    code, out, _ = await _cli(capsys, "db", "upgrade", "--database-url", database_url)
    assert out.strip() == f"database already at revision {head_revision()}"
    code, out, _ = await _cli(capsys, "db", "current", "--database-url", database_url)
    assert (code, out.strip()) == (0, f"{head_revision()} (head)")
    code, _, err = await _cli(capsys, "db", "upgrade", "--home", str(tmp_path / "none"))
    assert code == 1
    assert "holds no setup" in err


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


@pytest.mark.postgres
async def test_broker_process_on_postgresql(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """init + serve on PostgreSQL (PERCI_DATABASE_URL), an emergency order through the
    SDKs to Annex II, then verify-log over the same database."""
    home = tmp_path / "home"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    code, _, err = await _cli(
        capsys, "init", str(home), "--database-url", pg_url, "--broker-url", url
    )
    assert code == 0, err
    log = tmp_path / "broker.log"
    env = {**_env(), "PERCI_DATABASE_URL": pg_url}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220  (started once, polled below)
            [sys.executable, "-m", "perci_sim", "serve", "--home", str(home), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not healthy(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        bka = AuthorityClient.from_credentials(credentials_path(home, "de-bka"), broker_url=url)
        alpha = PlatformClient.from_credentials(credentials_path(home, "hsp-alpha"), broker_url=url)
        async with bka, alpha:
            order = await bka.prepare_order(
                hsp_id="hsp-alpha",
                urls=["https://hsp-alpha.example/v/1"],
                reasons=["a", "d"],
                details="Instructions for making explosives, with calls to attack.",
                emergency_justification="Livestreamed attack in progress.",
            )
            order_id = (await bka.issue_order(order)).order["order_id"]
            (in_inbox,) = await alpha.inbox()
            verified = await alpha.verify_order(in_inbox)
            await alpha.acknowledge(order_id)
            await alpha.send_feedback(order_id, order=verified, reinstatable=True)
            assert (await bka.get_order(order_id))["state"] == "executed"
            kinds = [event["kind"] for event in await bka.history(order_id)]
            assert kinds[0] == "order_received"
            assert kinds[-1] == "feedback_received"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=TIMEOUT)
    assert process.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    code, out, err = await _cli(capsys, "verify-log", "--home", str(home), "--database-url", pg_url)
    assert code == 0, out + err
    assert "hash chain intact" in out
