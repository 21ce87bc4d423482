"""Steps that several flows share, each a short composition of tasks."""

from __future__ import annotations

from pathlib import Path

from tasks.load import BatchReport, ingest_batch
from tasks.load_images import ingest_image_collection
from tasks.spec import CollectionSpec


def ingest_every_batch(spec: CollectionSpec, warehouse: Path) -> list[BatchReport]:
    """Ingest a table one batch (task) per source file, or a photo collection as one batch."""
    if spec.source.has_images:
        return [ingest_image_collection(spec, warehouse)]
    return [ingest_batch(spec, path, warehouse) for path in spec.source.files]
