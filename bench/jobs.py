"""One measured job per process, started by bench/run.py, which reads its peak memory.

Usage: python -m bench.jobs JOB ARGUMENT...

Each job prints its stage times in seconds as one JSON object on a line of its own.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def pipeline(spec: str, warehouse: str) -> dict:
    """Run faircurate's ingest flow, then its gates flow (measure and validate)."""
    started = time.perf_counter()
    from flows.gates import check_gates
    from flows.ingest import ingest

    imported = time.perf_counter()
    batches = ingest(spec, warehouse)
    ingested = time.perf_counter()
    gates = check_gates(spec, warehouse)
    finished = time.perf_counter()
    return {
        "import_s": imported - started,
        "ingest_s": ingested - imported,
        "gates_s": finished - ingested,
        "rows_read": sum(b.rows_read for b in batches),
        "rows_loaded": sum(b.rows_loaded for b in batches),
        "rows_quarantined": sum(b.rows_quarantined for b in batches),
        "gate_outcome": gates.outcome,
    }


def duckdb_script(folder: str, database: str) -> dict:
    """Run the hand-written DuckDB loading and measurements."""
    started = time.perf_counter()
    from bench.baseline_duckdb import run_baseline
    from bench.composition import load_composition

    imported = time.perf_counter()
    files = sorted(Path(folder).glob("appearances-*.csv"))
    counts = run_baseline(Path(database), files, load_composition())
    return {"import_s": imported - started, "load_measure_s": time.perf_counter() - imported,
            "rows_read": counts["raw"], "rows_loaded": counts["records"]}  # fmt: skip


def stock_gx(folder: str) -> dict:
    """Read the raw rows into pandas and validate them with stock GX expectations."""
    started = time.perf_counter()
    from bench.baseline_gx import read_rows, validate_rows
    from bench.composition import load_composition

    imported = time.perf_counter()
    frame = read_rows(sorted(Path(folder).glob("appearances-*.csv")))
    read = time.perf_counter()
    expectations, successes = validate_rows(frame, load_composition())
    return {
        "import_s": imported - started,
        "read_s": read - imported,
        "validate_s": time.perf_counter() - read,
        "rows_read": len(frame),
        "expectations": expectations,
        "successes": successes,
    }


def bare_prefect() -> dict:
    """Run a Prefect flow of three trivial tasks."""
    started = time.perf_counter()
    from prefect import flow, task

    @task
    def first() -> int:
        return 1

    @task
    def second(value: int) -> int:
        return value + 1

    @task
    def third(value: int) -> int:
        return value * 2

    @flow(name="bare")
    def bare() -> int:
        return third(second(first()))

    imported = time.perf_counter()
    result = bare()
    return {"import_s": imported - started, "flow_s": time.perf_counter() - imported,
            "result": result}  # fmt: skip


def media_stage(root: str, paths_file: str) -> dict:
    """Check the images with the media stage's check_images, which uses every core."""
    from tasks.media import check_images

    paths = Path(paths_file).read_text().split()
    started = time.perf_counter()
    checked = check_images(Path(root), paths)
    return {"check_s": time.perf_counter() - started, "images": checked.height,
            "valid": int(checked["is_valid"].sum())}  # fmt: skip


def _decode_and_hash(paths: list[str]) -> int:
    import hashlib

    from PIL import Image

    for path in paths:
        data = Path(path).read_bytes()
        hashlib.sha256(data).hexdigest()
        with Image.open(path) as image:
            image.load()
    return len(paths)


def media_loop(root: str, paths_file: str) -> dict:
    """Only decode and hash the same files, in one process per core."""
    paths = [str(Path(root) / p) for p in Path(paths_file).read_text().split()]
    workers = os.cpu_count() or 1
    shards = [paths[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        count = sum(pool.map(_decode_and_hash, shards))
    return {"check_s": time.perf_counter() - started, "images": count}


JOBS = {
    "pipeline": pipeline,
    "duckdb": duckdb_script,
    "gx": stock_gx,
    "prefect": bare_prefect,
    "media-stage": media_stage,
    "media-loop": media_loop,
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in JOBS:
        print(f"usage: python -m bench.jobs {{{','.join(JOBS)}}} ARGUMENT...", file=sys.stderr)
        return 2
    result = JOBS[argv[0]](*argv[1:])
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
