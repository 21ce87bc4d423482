"""Start a Prefect server on 127.0.0.1 for as long as a block of code runs, and stop it by its
process id afterwards. Schedules need a real server: Prefect's temporary one runs no scheduler.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.errors import FaircurateError
from tasks.offline import TELEMETRY_SETTINGS

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 15


class ServerError(FaircurateError):
    """The local Prefect server could not be started."""


@contextmanager
def local_prefect_server(
    port: int, log_path: Path, home: Path | None = None, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `prefect server start` on 127.0.0.1:`port` and yield its API URL.

    `home` sets PREFECT_HOME (the server's database lives there); `settings` adds Prefect
    settings such as a shorter scheduler loop. The server's output goes to `log_path`.
    """
    _require_free_port(port)
    env = {**os.environ, **TELEMETRY_SETTINGS, **(settings or {})}
    env.pop("PREFECT_API_URL", None)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    prefect = Path(sys.executable).parent / "prefect"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A session of its own, so stopping the server also stops any process it started.
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", HOST, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api_url = f"http://{HOST}:{port}/api"
    try:
        _wait_until_healthy(api_url, process, log_path)
        yield api_url
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """Send SIGTERM to the process's group, then SIGKILL if it has not exited in time."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _require_free_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As uvicorn does, so that connections of a server stopped a moment ago do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise ServerError(
                f"port {port} on {HOST} is in use; pass another --port, or set PREFECT_API_URL "
                "to use the Prefect server already running there"
            ) from None


def _wait_until_healthy(api_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                f"`prefect server start` exited with status {process.returncode}; its output "
                f"is in {log_path}"
            )
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if json.load(response) is True:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.5)
    stop_process_group(process)
    raise ServerError(
        f"the Prefect server on {api_url} did not respond within {START_TIMEOUT_SECONDS} s; its "
        f"output is in {log_path}"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that no process listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
