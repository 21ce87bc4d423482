"""Describe every file of a release folder with its size, SHA-256 and row count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq

CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(
    folder: Path, exclude: tuple[str, ...] = (), known: list[dict] | None = None
) -> list[dict]:
    """List every file under `folder` (sorted by path) with bytes, sha256 and, for Parquet, rows.

    `exclude` names paths relative to `folder` to leave out, such as the manifest itself.
    Entries in `known` are reused for their paths, so files described before are not hashed
    again.
    """
    reused = {entry["path"]: entry for entry in known or []}
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative in exclude:
            continue
        if relative in reused:
            entries.append(reused[relative])
            continue
        entries.append(
            {
                "path": path.relative_to(folder).as_posix(),
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
                "rows": pq.read_metadata(path).num_rows if path.suffix == ".parquet" else None,
            }
        )
    return entries
