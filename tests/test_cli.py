"""The command line: exit codes and messages, with no traceback, for the cases users meet."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.conftest import FAIRCURATE, OFFLINE_ENV, SMALL_SPEC, SMALL_SUITE


def faircurate(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FAIRCURATE), *arguments],
        cwd=cwd,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_gates_exit_one_when_blocked(make_collection, tmp_path):
    suite = {
        **SMALL_SUITE,
        "expectations": [
            {
                "type": "expect_groups_to_have_min_count",
                "kwargs": {"attribute": "race", "min_count": 3},
                "severity": "critical",
            },
        ],
    }
    spec_path = make_collection(suite=suite)
    assert (
        faircurate("ingest", str(spec_path), "--warehouse", "w.duckdb", cwd=tmp_path).returncode
        == 0
    )

    result = faircurate("gates", str(spec_path), "--warehouse", "w.duckdb", cwd=tmp_path)

    assert result.returncode == 1
    assert "BLOCKED" in result.stdout
    assert "B (observed 1)" in result.stdout
    assert "no release may be published" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_blocked_run_prints_gate_summary(make_collection, tmp_path):
    suite = {
        **SMALL_SUITE,
        "expectations": [
            {
                "type": "expect_groups_to_have_min_count",
                "kwargs": {"attribute": "race", "min_count": 3},
                "severity": "critical",
            },
        ],
    }
    spec_path = make_collection(suite=suite)

    result = faircurate("run", str(spec_path), "--warehouse", "w.duckdb", cwd=tmp_path)

    assert result.returncode == 1
    assert "Gates [" in result.stdout
    assert "release blocked: 1 blocking expectation failed" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "releases").exists()


def test_invalid_version_fails_before_prefect(make_collection, tmp_path):
    spec_path = make_collection()

    result = faircurate("run", str(spec_path), "--version", "1.0", cwd=tmp_path)

    assert result.returncode == 1
    assert "release version '1.0' is invalid" in result.stderr
    assert not (tmp_path / "warehouse").exists()


def test_existing_version_fails_before_prefect(make_collection, tmp_path):
    spec_path = make_collection()
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)

    result = faircurate("release", str(spec_path), "--version", "1.0.0", cwd=tmp_path)

    assert result.returncode == 1
    assert "release 1.0.0 already exists" in result.stderr
    assert not (tmp_path / "warehouse").exists()


def test_check_spec_reports_missing_data(make_collection, tmp_path):
    spec_path = make_collection()
    (tmp_path / "people.csv").unlink()

    result = faircurate("check-spec", str(spec_path), cwd=tmp_path)

    assert result.returncode == 1
    assert "people.csv: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_flag_prints_version(tmp_path):
    result = faircurate("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("faircurate 0.1.0")


def test_withdraw_file_and_trace(tmp_path):
    from tests.fhibe_fixture import build_fhibe_collection
    from tests.fhibe_spec import write_fhibe_spec

    spec_path = write_fhibe_spec(tmp_path, build_fhibe_collection(tmp_path / "release"))
    assert faircurate("run", str(spec_path), cwd=tmp_path).returncode == 0
    (tmp_path / "withdrawals.csv").write_text("subject_id\ns03\n")

    withdrawn = faircurate("withdraw", str(spec_path), "--file", "withdrawals.csv", cwd=tmp_path)
    unknown = faircurate("withdraw", str(spec_path), "s99", cwd=tmp_path)
    traced = faircurate("subject-releases", str(spec_path), "s03", cwd=tmp_path)

    assert withdrawn.returncode == 0
    assert "1 withdrawal recorded" in withdrawn.stdout
    assert "Releases that contained them: 1.0.0" in withdrawn.stdout
    assert unknown.returncode == 1
    assert "s99" in unknown.stderr
    assert "Traceback" not in unknown.stdout + unknown.stderr
    assert traced.stdout.strip() == "releases that contained subject s03: 1.0.0"


def test_dry_run_prints_version_writes_nothing(make_collection, tmp_path):
    spec_path = make_collection()

    result = faircurate("run", str(spec_path), "--warehouse", "w.duckdb", "--dry-run", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (
        "Dry run: release 1.0.0 (the first release) would hold 5 records; no release was written"
        in result.stdout
    )
    assert not (tmp_path / "releases" / "1.0.0").exists()


def test_ingest_landing_needs_landing(make_collection, tmp_path):
    spec_path = make_collection()

    result = faircurate("ingest-landing", str(spec_path), cwd=tmp_path)

    assert result.returncode == 1
    assert "key `landing`: missing; declare the landing folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_landing_rejection_exits_one(make_collection, tmp_path):
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "broken.csv").write_text("nothing,here\n1,2\n")
    spec_path = make_collection(
        spec=SMALL_SPEC + "landing:\n  folder: landing\n  settle_seconds: 0\n"
    )

    result = faircurate("ingest-landing", str(spec_path), cwd=tmp_path)

    assert result.returncode == 1
    assert "1 landed file(s) rejected" in result.stderr
    assert "broken.csv: input file" in result.stderr


def test_serve_port_in_use(make_collection, tmp_path):
    spec_path = make_collection()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = subprocess.run(
            [str(FAIRCURATE), "serve", str(spec_path), "--port", str(port)],
            cwd=tmp_path,
            env={**env, **OFFLINE_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use; pass another --port" in result.stderr


def test_out_of_memory_named(adult_spec, tmp_path):
    assert (
        faircurate("ingest", str(adult_spec), "--warehouse", "w.duckdb", cwd=tmp_path).returncode
        == 0
    )

    result = subprocess.run(
        [str(FAIRCURATE), "gates", str(adult_spec), "--warehouse", "w.duckdb"],
        cwd=tmp_path,
        env={**os.environ, **OFFLINE_ENV, "FAIRCURATE_DUCKDB_MEMORY_LIMIT": "32MB"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 1
    assert "error: DuckDB ran out of memory" in result.stderr
    assert "Raise FAIRCURATE_DUCKDB_MEMORY_LIMIT" in result.stderr
