"""Run one benchmark job in a child process and read its wall time and peak resident memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Telemetry off in every child, because Prefect and GX otherwise try to reach their hosts.
OFFLINE_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


@dataclass
class JobResult:
    """One job run: its wall time, peak memory, the figures it printed, or why it stopped."""

    job: str
    arguments: list[str]
    wall_s: float
    peak_rss_mb: float
    figures: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def job_environment(prefect_home: Path) -> dict[str, str]:
    """Return the environment of every job: offline, with its own Prefect home folder."""
    environment = dict(os.environ) | OFFLINE_ENV
    environment["PREFECT_HOME"] = str(prefect_home)
    environment["PYTHONPATH"] = str(PROJECT_ROOT)
    return environment


def run_job(
    job: str, arguments: list[str], environment: dict[str, str], log: Path, timeout_s: float
) -> JobResult:
    """Run `python -m bench.jobs JOB ARGUMENTS` and measure it.

    The peak resident set size comes from wait4's rusage of this child alone, so a server or
    worker process the job starts is not counted. A job that runs past `timeout_s` is stopped
    with its process group, and its result carries the time and memory reached by then.
    """
    command = [sys.executable, "-m", "bench.jobs", job, *arguments]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        status, usage, timed_out = _wait(process.pid, timeout_s)
        wall = time.perf_counter() - started
    # Linux reports ru_maxrss in kibibytes.
    peak = usage.ru_maxrss / 1024
    result = JobResult(job, arguments, wall, peak)
    if timed_out:
        result.error = f"timed out after {timeout_s:.0f} s"
        return result
    code = os.waitstatus_to_exitcode(status)
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    if code != 0:
        # Prefect logs its server's stop after the error, so the last error line is shown.
        errors = [line for line in lines if "Error" in line or "Exception" in line]
        last_line = ""
        if errors:
            last_line = errors[-1]
        elif lines:
            last_line = lines[-1]
        result.error = f"exit status {code}: {last_line[-300:]} (log: {log})"
        return result
    figures = _figures(lines)
    if figures is None:
        result.error = f"no JSON result line in {log}"
    else:
        result.figures = figures
    return result


def _wait(pid: int, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        finished, status, usage = os.wait4(pid, os.WNOHANG)
        if finished:
            return status, usage, False
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            return status, usage, True
        time.sleep(0.05)


def _figures(lines: list[str]) -> dict | None:
    """Return the last line that is a JSON object; Prefect may log after the job prints it."""
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None
