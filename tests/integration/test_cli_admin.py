"""`perci-sim init`, participant administration and `verify-log`, through `main()`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from perci_schemas import keys
from perci_sim.__main__ import main
from perci_sim.bootstrap import DEMO_PARTICIPANTS


@pytest.fixture(name="home")
def _home(tmp_path: Path) -> Path:
    home = tmp_path / "setup"
    assert main(["init", str(home)]) == 0
    return home


def _participants(home: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["participants", "list", "--home", str(home), "--json"]) == 0
    rows: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return rows


class TestInit:
    def test_creates_registry_keys_and_credentials(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Three authorities and three HSPs of different Member States, each with a key."""
        rows = _participants(home, capsys)
        by_role: dict[str, set[str]] = {}
        for row in rows:
            by_role.setdefault(str(row["role"]), set()).add(str(row["member_state"]))
        assert len(by_role["authority"]) >= 3
        assert len(by_role["hsp"]) >= 3
        for participant in DEMO_PARTICIPANTS:
            path = home / "credentials" / f"{participant.id}.json"
            creds = json.loads(path.read_text())
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert creds["kid"] == f"{participant.id}#1"
            assert keys.load_private(creds["private_jwk"]).alg == participant.alg
        assert (home / "broker-key.jwk.json").exists()

    def test_refuses_an_existing_setup(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A second init never overwrites keys: one line, exit 1."""
        capsys.readouterr()
        assert main(["init", str(home)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("perci-sim: error:")
        assert err.count("\n") == 1


class TestKeys:
    def test_rotate_then_revoke(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Rotation adds key #2 and revokes #1; revoking #2 leaves none active."""
        assert main(["participants", "rotate-key", "de-bka", "--home", str(home)]) == 0
        creds = json.loads((home / "credentials" / "de-bka.json").read_text())
        assert creds["kid"] == "de-bka#2"
        bka = next(r for r in _participants(home, capsys) if r["id"] == "de-bka")
        assert bka["keys"] == [
            {"kid": "de-bka#1", "alg": "EdDSA", "status": "revoked"},
            {"kid": "de-bka#2", "alg": "EdDSA", "status": "active"},
        ]
        assert main(["participants", "revoke-key", "de-bka#2", "--home", str(home)]) == 0
        bka = next(r for r in _participants(home, capsys) if r["id"] == "de-bka")
        assert all(k["status"] == "revoked" for k in bka["keys"])  # type: ignore[attr-defined]

    def test_unknown_key_is_one_line_error(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Revoking a key that does not exist fails cleanly."""
        capsys.readouterr()
        assert main(["participants", "revoke-key", "nobody#9", "--home", str(home)]) == 1
        assert "nobody#9" in capsys.readouterr().err

    def test_add_hsp_needs_a_host_language(
        self, home: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Art. 15(2): an HSP established in DE designating only English is refused."""
        args = ["participants", "add", "--home", str(home), "--id", "hsp-delta"]
        args += ["--role", "hsp", "--name", "Delta GmbH", "--member-state", "DE"]
        assert main([*args, "--languages", "en"]) == 1
        assert main([*args, "--languages", "de,en", "--alg", "ES256"]) == 0
        delta = next(r for r in _participants(home, capsys) if r["id"] == "hsp-delta")
        assert delta["languages"] == ["de", "en"]


def test_verify_log_on_a_fresh_setup(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty log verifies."""
    assert main(["verify-log", "--home", str(home)]) == 0
    assert "hash chain intact" in capsys.readouterr().out


def test_commands_need_a_setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Administration on a folder without a setup explains what to do."""
    assert main(["participants", "list", "--home", str(tmp_path / "none")]) == 1
    assert "perci-sim init" in capsys.readouterr().err
