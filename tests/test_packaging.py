"""The distribution: a wheel installed outside the checkout works on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel and install it into a fresh venv outside the repository."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheels = list((work / "dist").glob("perci_sim-*.whl"))
    assert len(wheels) == 1
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheels[0])],
        check=True,
        capture_output=True,
        cwd=work,
    )
    return env_dir


def _run(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        args, capture_output=True, text=True, cwd=env_dir.parent, env=env, check=False
    )


@pytest.mark.slow
class TestInstalledWheel:
    def test_console_scripts_answer_help(self, installed: Path) -> None:
        """The three console scripts exist and print their help."""
        for script in ("perci-sim", "perci-authority", "perci-platform"):
            result = _run(installed, str(installed / "bin" / script), "--help")
            assert result.returncode == 0, result.stderr
            assert "usage:" in result.stdout

    def test_schemas_load_from_the_wheel(self, installed: Path) -> None:
        """The JSON Schemas and the OpenAPI file are package data, not checkout files."""
        code = (
            "import perci_schemas, pathlib;"
            "from perci_schemas import validation;"
            "import importlib.resources as r;"
            "assert 'site-packages' in perci_schemas.__file__, perci_schemas.__file__;"
            "validation.load_schema('removal_order');"
            "assert r.files('perci_schemas').joinpath('openapi.yaml').is_file();"
            "print(len(validation.SCHEMA_NAMES))"
        )
        result = _run(installed, str(installed / "bin" / "python"), "-c", code)
        assert result.returncode == 0, result.stderr
        assert int(result.stdout.strip()) >= 10

    def test_migrations_ship_in_the_wheel(self, installed: Path) -> None:
        """`perci-sim init` migrates its database from the wheel's own Alembic scripts."""
        home = installed.parent / "home"
        perci = str(installed / "bin" / "perci-sim")
        result = _run(installed, perci, "init", str(home))
        assert result.returncode == 0, result.stderr
        result = _run(installed, perci, "db", "current", "--home", str(home))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith("(head)"), result.stdout

    def test_dashboard_assets_ship_in_the_wheel(self, installed: Path) -> None:
        """The web dashboard serves its scripts, style and messages from the wheel (no CDN)."""
        code = (
            "import importlib.resources as r;"
            "web = r.files('perci_sim.web');"
            "names = ['app.js', 'common.js', 'sign.js', 'chart.js', 'preview.js', 'style.css'];"
            "missing = [n for n in names if not web.joinpath('static', n).is_file()];"
            "assert not missing, missing;"
            "from perci_sim.web.i18n import catalogue;"
            "print(catalogue('en').t('login.title'))"
        )
        result = _run(installed, str(installed / "bin" / "python"), "-c", code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Sign in"
