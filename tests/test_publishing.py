"""Publishing: version rules, the publish lock, and crashes at every step of a publish."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from flows.pipeline import run
from tasks.errors import ReleaseError
from tasks.failpoints import FAILPOINT_VARIABLE
from tasks.manifest import sha256_file
from tasks.release_registry import ReleaseChange, next_version, publish_lock
from tests.conftest import FAIRCURATE, OFFLINE_ENV


def faircurate(*arguments: str, cwd: Path, failpoint: str | None = None):
    """Run the command in its own process group and kill what it leaves when it dies.

    A process killed at a failpoint leaves its Prefect server child running with the output
    open. Killing the group afterwards stops that child, as a crash of the machine would.
    """
    env = {**os.environ, **OFFLINE_ENV}
    if failpoint:
        env[FAILPOINT_VARIABLE] = failpoint
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [str(FAIRCURATE), *arguments],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        returncode = process.wait(timeout=300)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(process.args, returncode, stdout.read(), stderr.read())


def assert_release_intact(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == listed | {"manifest.json"}
    for entry in manifest["files"]:
        assert sha256_file(folder / entry["path"]) == entry["sha256"], entry["path"]


@pytest.mark.parametrize(
    ("change", "bump"),
    [
        pytest.param(ReleaseChange(0, 0, False, False), None, id="nothing_changed"),
        pytest.param(ReleaseChange(0, 3, False, False), "patch", id="only_removals"),
        pytest.param(ReleaseChange(2, 3, False, False), "minor", id="additions"),
        pytest.param(ReleaseChange(0, 0, False, True), "minor", id="spec_changed"),
        pytest.param(ReleaseChange(0, 3, True, False), "major", id="schema_changed"),
    ],
)
def test_change_picks_bump(change, bump):
    assert change.bump == bump


@pytest.mark.parametrize(
    ("latest", "bump", "expected"),
    [
        pytest.param(None, "minor", "1.0.0", id="first"),
        pytest.param("1.4.2", "patch", "1.4.3", id="patch"),
        pytest.param("1.4.2", "minor", "1.5.0", id="minor"),
        pytest.param("1.4.2", "major", "2.0.0", id="major"),
    ],
)
def test_next_version_follows_bump(latest, bump, expected):
    assert next_version(latest, bump) == expected


def test_explicit_bump_publishes_again(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()
    arguments = (str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))
    run(*arguments)
    again = run(*arguments, None, "major")
    assert again.release.version == "2.0.0"
    assert again.release.is_new


def test_lock_rejects_second_publisher(prefect_server, make_collection, tmp_path):
    spec_path = make_collection()
    warehouse = tmp_path / "w.duckdb"
    releases = tmp_path / "releases"
    run(str(spec_path), str(warehouse), str(releases))

    with publish_lock(releases):
        result = faircurate(
            "release",
            str(spec_path),
            "--warehouse",
            str(warehouse),
            "--releases",
            str(releases),
            "--bump",
            "patch",
            cwd=tmp_path,
        )

    assert result.returncode == 1
    assert "another release is being published" in result.stderr
    assert "Traceback" not in result.stderr


def test_lock_in_process_raises(tmp_path):
    with (
        publish_lock(tmp_path),
        pytest.raises(ReleaseError, match="wait for it to finish"),
        publish_lock(tmp_path),
    ):
        pass


@pytest.mark.parametrize(
    ("failpoint", "visible_after_crash"),
    [
        pytest.param("release_data_written", False, id="while_writing"),
        pytest.param("release_before_rename", False, id="before_rename"),
        pytest.param("release_after_rename", True, id="before_registering"),
        pytest.param("release_after_register", True, id="before_latest_link"),
    ],
)
def test_crash_leaves_no_partial_release(make_collection, tmp_path, failpoint, visible_after_crash):
    spec_path = make_collection()
    release = tmp_path / "releases" / "1.0.0"

    crashed = faircurate("run", str(spec_path), cwd=tmp_path, failpoint=failpoint)

    assert crashed.returncode == -9
    assert release.exists() == visible_after_crash
    if visible_after_crash:
        assert_release_intact(release)

    rerun = faircurate("run", str(spec_path), cwd=tmp_path)

    assert rerun.returncode == 0, rerun.stderr
    assert_release_intact(release)
    assert not list((tmp_path / "releases").glob(".building-*"))
    assert (tmp_path / "releases" / "latest").resolve() == release
    listing = faircurate("releases", str(spec_path), cwd=tmp_path)
    rows = [line for line in listing.stdout.splitlines() if line.startswith("1.0.0 ")]
    assert len(rows) == 1
