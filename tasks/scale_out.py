"""Pure computations that the flows fan out to a Dask cluster: normalising batches, checking images.

These tasks only read files and return frames. The flow's own process writes their results
to the warehouse, because DuckDB allows one writing process per file.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE

from tasks.adapters.delimited import read_delimited
from tasks.load import BatchReport, BatchSummary, load_batch
from tasks.media import MIN_SHARD_SIZE, SHARDS_PER_WORKER, check_images
from tasks.normalise import NormalisedBatch, normalise_batch
from tasks.settings import runner_settings
from tasks.spec import CollectionSpec


@dataclass(frozen=True)
class PreparedBatch:
    """A source file read and normalised on a worker, ready to load."""

    summary: BatchSummary
    normalised: NormalisedBatch


@task(name="prepare_batch", cache_policy=NO_CACHE)
def prepare_batch(spec: CollectionSpec, path: Path) -> PreparedBatch:
    """Read and normalise one source file, without touching the warehouse."""
    batch = read_delimited(path, spec.source)
    return PreparedBatch(BatchSummary.of(batch), normalise_batch(spec, batch))


@task(name="load_prepared_batch", cache_policy=NO_CACHE)
def load_prepared_batch(
    spec: CollectionSpec, prepared: PreparedBatch, warehouse: Path
) -> BatchReport:
    """Load a prepared batch in one transaction, as ingest_batch does."""
    return load_batch(spec, prepared.summary, warehouse, lambda: prepared.normalised)


def ingest_batches_on_workers(spec: CollectionSpec, warehouse: Path) -> list[BatchReport]:
    """Normalise the source files on the task runner and load them here, in file order.

    At most one file per worker is in flight, so the flow process keeps at most that many
    normalised batches. A file whose batch is already loaded is still normalised, then skipped.
    """
    files = list(spec.source.files)
    in_flight = runner_settings().dask_workers
    pending = deque()
    reports = []
    next_file = 0
    while next_file < len(files) or pending:
        while next_file < len(files) and len(pending) < in_flight:
            pending.append(prepare_batch.submit(spec, files[next_file]))
            next_file += 1
        prepared = pending.popleft().result()
        reports.append(load_prepared_batch(spec, prepared, warehouse))
    return reports


@task(name="check_image_shard", cache_policy=NO_CACHE)
def check_image_shard(root: Path, paths: list[str]) -> pl.DataFrame:
    """Check one shard of image files in the worker's own process."""
    return check_images(root, paths, workers=1)


def check_images_on_workers(root: Path, paths: list[str]) -> pl.DataFrame:
    """Check the image files in shards on the task runner; rows come back in input order."""
    workers = runner_settings().dask_workers
    size = max(MIN_SHARD_SIZE, math.ceil(len(paths) / (workers * SHARDS_PER_WORKER)))
    shards = [paths[start : start + size] for start in range(0, len(paths), size)]
    if not shards:
        return check_images(root, [])
    futures = check_image_shard.map(unmapped(root), shards)
    return pl.concat([future.result() for future in futures])
