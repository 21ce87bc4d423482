"""Verify a published release folder against its manifest: every listed file is present and
unchanged, no unlisted file was added, and the record count matches the records table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.errors import ReleaseError
from tasks.manifest import sha256_file

MANIFEST_NAME = "manifest.json"
RECORDS_PATH = "data/records.parquet"
REQUIRED_MANIFEST_KEYS = ("version", "count_records", "files")
REQUIRED_FILE_KEYS = ("path", "bytes", "sha256", "rows")


@dataclass(frozen=True)
class VerifyReport:
    """The result of checking one release folder against its manifest.

    `changed` pairs a path with the properties that differ from the manifest, comma-separated
    from `sha256`, `bytes` and `rows`. The pair (`manifest.json`, `count_records`) means the
    manifest's record count differs from the rows of data/records.parquet.
    """

    folder: Path
    version: str
    count_files_checked: int
    changed: list[tuple[str, str]]
    missing: list[str]
    extra: list[str]

    @property
    def is_intact(self) -> bool:
        """True when no file changed, went missing or was added."""
        return not (self.changed or self.missing or self.extra)

    def describe(self) -> str:
        """Render the outcome as plain lines for the command line and logs."""
        if self.is_intact:
            return (
                f"release {self.version} at {self.folder}: all {self.count_files_checked} "
                "files match the manifest"
            )
        lines = [f"release {self.version} at {self.folder} does not match its manifest:"]
        lines += [f"  changed  {path} ({what})" for path, what in self.changed]
        lines += [f"  missing  {path}" for path in self.missing]
        lines += [f"  extra    {path} (not listed in the manifest)" for path in self.extra]
        return "\n".join(lines)


def read_manifest(folder: Path) -> dict:
    """Read the manifest of the release in `folder` and check its layout.

    Raise ReleaseError when the folder or its manifest is missing, or the manifest is not
    valid JSON or lacks a required key.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReleaseError(
            f"release folder {folder} not found; pass the folder of one release, "
            "such as releases/1.0.0"
        )
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ReleaseError(
            f"release folder {folder} has no {MANIFEST_NAME}, so it is not a release; "
            "pass the folder of one release, such as releases/1.0.0"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReleaseError(
            f"{path} is not valid JSON ({error}); restore the release folder from a backup "
            "or publish the release again"
        ) from error
    _check_manifest_layout(path, manifest)
    return manifest


def verify_release(folder: Path) -> VerifyReport:
    """Recompute the size, SHA-256 and Parquet row count of every file the manifest lists.

    Report changed, missing and unlisted files by path, and a `count_records` that differs
    from the rows of data/records.parquet. Raise ReleaseError when `folder` has no readable
    manifest.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)

    changed: list[tuple[str, str]] = []
    missing: list[str] = []
    records_rows: int | None = None
    for entry in manifest["files"]:
        path = folder / entry["path"]
        if not path.is_file():
            missing.append(entry["path"])
            continue
        rows = _parquet_rows(path) if entry["rows"] is not None else None
        differences = _differences(entry, path, rows)
        if differences:
            changed.append((entry["path"], ", ".join(differences)))
        if entry["path"] == RECORDS_PATH:
            records_rows = rows

    if records_rows is not None and records_rows != manifest["count_records"]:
        changed.append((MANIFEST_NAME, "count_records"))

    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p != folder / MANIFEST_NAME
    )
    return VerifyReport(
        folder=folder,
        version=str(manifest["version"]),
        count_files_checked=len(manifest["files"]),
        changed=changed,
        missing=missing,
        extra=[path for path in on_disk if path not in listed],
    )


def _check_manifest_layout(path: Path, manifest: object) -> None:
    if not isinstance(manifest, dict):
        raise ReleaseError(
            f"{path} is invalid: it contains a JSON {type(manifest).__name__} where a JSON "
            "object is expected; publish the release again"
        )
    absent = [key for key in REQUIRED_MANIFEST_KEYS if key not in manifest]
    if absent:
        raise ReleaseError(
            f"{path} is missing the keys {', '.join(absent)}; publish the release again"
        )
    if not isinstance(manifest["files"], list):
        raise ReleaseError(
            f"{path}: key `files` must be a list of files; publish the release again"
        )
    for position, entry in enumerate(manifest["files"], start=1):
        absent = [
            key for key in REQUIRED_FILE_KEYS if not isinstance(entry, dict) or key not in entry
        ]
        if absent:
            raise ReleaseError(
                f"{path}: file {position} of `files` is missing {', '.join(absent)}; "
                "publish the release again"
            )
        # A listed path must stay inside the release folder, so that verifying never reads
        # or reports on files elsewhere.
        relative = Path(entry["path"])
        if relative.is_absolute() or ".." in relative.parts:
            raise ReleaseError(
                f"{path}: file path {entry['path']!r} is outside the release folder; "
                "paths must be relative to it, such as data/records.parquet"
            )


def _parquet_rows(path: Path) -> int | None:
    """Return the row count in the Parquet footer, or None when the footer cannot be read."""
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError):
        return None


def _differences(entry: dict, path: Path, rows: int | None) -> list[str]:
    differences = []
    if sha256_file(path) != entry["sha256"]:
        differences.append("sha256")
    if path.stat().st_size != entry["bytes"]:
        differences.append("bytes")
    if entry["rows"] is not None and rows != entry["rows"]:
        differences.append("rows")
    return differences
