"""docker/: Docker cannot run here, so the files are checked by reading them.

tests/integration/test_replicas.py runs the same topology with processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from perci_sim.api.rate_limit import RateLimiter

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def test_dockerfile_is_two_layers_non_root_with_a_healthcheck() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    deps = text.index("pip install -r /tmp/requirements.txt")
    app = text.index("COPY perci_sim ./perci_sim")
    assert deps < app  # dependencies first: the app layer changes without reinstalling them
    assert "USER 10001" in text
    assert "/v1/health" in text.split("HEALTHCHECK", 1)[1]
    assert "PERCI_HOST=0.0.0.0" in text


def test_compose_runs_postgres_migration_two_replicas_and_a_proxy() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "migrate", "broker-a", "broker-b", "proxy"}
    assert services["postgres"]["healthcheck"]
    assert services["migrate"]["command"] == ["perci-sim", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("broker-a", "broker-b"):
        broker = services[name]
        assert broker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = broker["environment"]
        assert env["PERCI_DATABASE_URL"].startswith("postgresql://")
        assert "${POSTGRES_PASSWORD" in env["PERCI_DATABASE_URL"]  # from the environment
        assert env["PERCI_BROKER_KEY_FILE"] == "/run/secrets/broker_key"
        assert broker["secrets"] == ["broker_key"]
        assert env["PERCI_HOST"] == "0.0.0.0"
        # Behind nginx the client's address comes from X-Forwarded-For (rate limits).
        assert RateLimiter(trusted_proxies=env["PERCI_TRUSTED_PROXIES"].split(","))
        assert broker["healthcheck"]
    proxy = services["proxy"]
    assert {d: c["condition"] for d, c in proxy["depends_on"].items()} == {
        "broker-a": "service_healthy",
        "broker-b": "service_healthy",
    }
    assert "${PERCI_BROKER_KEY_FILE" in _compose()["secrets"]["broker_key"]["file"]


def test_nginx_balances_both_replicas_and_upgrades_the_feed() -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    assert "server broker-a:8700" in conf
    assert "server broker-b:8700" in conf
    feed = conf.split("location = /v1/feed", 1)[1].split("location /", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in feed
    assert "proxy_set_header Connection $connection_upgrade;" in feed
    assert "proxy_http_version 1.1;" in feed
