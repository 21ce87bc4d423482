"""Deployments on a real Prefect server: `prefect server start` on 127.0.0.1, with a temporary
PREFECT_HOME.

`faircurate serve` ingests a dropped batch on its schedule and alerts a local webhook. A release
deployment triggered through the API publishes. The deployments of deployments/prefect.yaml run
on a process worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from tasks.local_server import free_port, local_prefect_server, stop_process_group
from tests.conftest import FAIRCURATE, SMALL_ROWS, SMALL_SPEC

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFECT = Path(sys.executable).parent / "prefect"
WAIT_SECONDS = 240
# The scheduler and the runner look every second instead of every minute and ten seconds.
FAST_LOOPS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
    "PREFECT_RUNNER_POLL_FREQUENCY": "1",
}
SERVED_SPEC = SMALL_SPEC.replace("  files: [people.csv]\n", "  files: []\n") + (
    "landing:\n"
    "  folder: landing\n"
    "  settle_seconds: 0\n"
    "  schedule: {interval_seconds: 10}\n"
    "alerts:\n"
    '  channels: ["{url}"]\n'
)


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """Yield the API URL of a Prefect server on 127.0.0.1 that is stopped by its process id."""
    home = tmp_path_factory.mktemp("prefect-home")
    with local_prefect_server(
        free_port(), home / "server.log", home=home, settings=FAST_LOOPS
    ) as api_url:
        yield api_url


def start(command: list[str], api_url: str, cwd: Path, log: Path, **env: str):
    """Start a command against the real server, in a process group of its own."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **FAST_LOOPS, "PREFECT_API_URL": api_url, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(condition, what: str, log: Path):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(1)
    pytest.fail(f"no {what} within {WAIT_SECONDS} s; output:\n{log.read_text()[-3000:]}")


def deployment_exists(api_url: str, name: str) -> bool:
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except Exception:  # the Prefect client raises ObjectNotFound until serve registers it
            return False
        return True


def test_served_deployments(real_server, make_collection, tmp_path, webhook):
    url, received = webhook
    (tmp_path / "landing").mkdir()
    spec_path = make_collection(spec=SERVED_SPEC.replace("{url}", url))
    log = tmp_path / "serve.log"
    serving = start(
        [str(FAIRCURATE), "serve", str(spec_path), "--warehouse", "w.duckdb"],
        real_server,
        tmp_path,
        log,
    )
    try:
        wait_for(lambda: deployment_exists(real_server, "release/small-release"), "deployment", log)
        (tmp_path / "landing" / "batch-01.csv").write_text(SMALL_ROWS)

        # No command is run: the scheduled deployment finds the batch and gates it.
        alert = wait_for(
            lambda: next((m for m in received if "race failed as a warning" in m["title"]), None),
            "gate alert at the webhook",
            log,
        )
        with temporary_settings({PREFECT_API_URL: real_server}):
            flow_run = run_deployment("release/small-release", timeout=WAIT_SECONDS)
    finally:
        stop_process_group(serving)

    assert "B (observed 0.25)" in alert["message"]
    assert flow_run.state.is_completed(), flow_run.state
    manifest = json.loads((tmp_path / "releases" / "1.0.0" / "manifest.json").read_text())
    assert manifest["count_records"] == 5
    assert serving.returncode is not None


def test_worker_runs_deployment_file(real_server, make_collection, tmp_path):
    spec_path = make_collection()
    warehouse, releases = tmp_path / "w.duckdb", tmp_path / "releases"
    ingested = subprocess.run(
        [str(FAIRCURATE), "ingest", str(spec_path), "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
    )
    assert ingested.returncode == 0, ingested.stderr
    log = tmp_path / "worker.log"
    checkout = {"FAIRCURATE_CHECKOUT": str(PROJECT_ROOT)}
    for command in (
        [str(PREFECT), "work-pool", "create", "faircurate", "--type", "process"],
        [
            str(PREFECT),
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/prefect.yaml",
        ],
    ):
        done = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PREFECT_API_URL": real_server, **checkout},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    parameters = {
        "spec_path": str(spec_path),
        "warehouse": str(warehouse),
        "releases_dir": str(releases),
    }
    with temporary_settings({PREFECT_API_URL: real_server}):
        flow_run = run_deployment("release/adult-release", parameters=parameters, timeout=0)
    worker = start(
        [str(PREFECT), "worker", "start", "--pool", "faircurate", "--run-once"],
        real_server,
        PROJECT_ROOT,
        log,
        **checkout,
    )
    try:
        state = wait_for(lambda: finished_state(real_server, flow_run.id), "finished run", log)
    finally:
        stop_process_group(worker)

    assert state.is_completed(), f"{state}\n{log.read_text()[-3000:]}"
    assert json.loads((releases / "1.0.0" / "manifest.json").read_text())["count_records"] == 5


def finished_state(api_url: str, flow_run_id):
    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state if state is not None and state.is_final() else None


def test_serve_stops_its_own_server(make_collection, tmp_path):
    spec_path = make_collection()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with log.open("wb") as output:
        serving = subprocess.Popen(
            [str(FAIRCURATE), "serve", str(spec_path), "--port", str(port)],
            cwd=tmp_path,
            env={**env, "PREFECT_HOME": str(tmp_path / "prefect-home")},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for(lambda: deployment_exists(api_url, "release/small-release"), "deployment", log)
    finally:
        stop_process_group(serving)

    assert serving.returncode == 0, log.read_text()[-3000:]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
