"""For tests that run the broker as a process: a free port, its health check, its stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    """True when the broker at ``url`` answers ``GET /v1/health`` with status ok."""
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=1.0) as resp:
            return resp.status == 200 and json.load(resp).get("status") == "ok"
    except (OSError, ValueError):
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """Ctrl-C a broker process (a clean shutdown); kill it if it has not exited in
    ``timeout`` seconds.  Returns its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return process.returncode
