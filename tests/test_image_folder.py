"""The image-folder adapter reads its metadata table as CSV, Parquet or JSON Lines."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tasks.adapters.image_folder import read_image_folder
from tasks.errors import InputFileError
from tasks.spec import SourceSpec

METADATA = pl.DataFrame(
    {
        "file": ["a/one.png", "a/two.png", "b/three.png"],
        "person": ["p1", "p1", "p2"],
        "note": ["x", "y", "z"],
    }
)


def folder_source(tmp_path: Path, suffix: str, subject_column: str | None = "person") -> SourceSpec:
    path = tmp_path / f"metadata{suffix}"
    if suffix == ".csv":
        METADATA.write_csv(path)
    elif suffix == ".parquet":
        METADATA.write_parquet(path)
    else:
        METADATA.write_ndjson(path)
    return SourceSpec(
        format="image_folder",
        files=(path,),
        delimiter=",",
        header=True,
        comment_prefix=None,
        columns=(),
        id_column="record_id",
        root=tmp_path,
        metadata=path,
        image_column="file",
        subject_column=subject_column,
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_metadata_formats_read_alike(tmp_path, suffix):
    batch = read_image_folder(folder_source(tmp_path, suffix))

    assert batch.appearances["record_id"].to_list() == [
        "a/one.png:p1",
        "a/two.png:p1",
        "b/three.png:p2",
    ]
    assert batch.appearances["subject_id"].to_list() == ["p1", "p1", "p2"]
    assert batch.images["path"].to_list() == ["a/one.png", "a/two.png", "b/three.png"]
    assert batch.has_consent_records is False


def test_csv_lines_count_the_header(tmp_path):
    batch = read_image_folder(folder_source(tmp_path, ".csv"))
    assert batch.appearances["source_line"].to_list() == [2, 3, 4]


def test_subject_defaults_to_image(tmp_path):
    batch = read_image_folder(folder_source(tmp_path, ".csv", subject_column=None))
    assert batch.appearances["subject_id"].to_list() == ["a/one.png", "a/two.png", "b/three.png"]


def test_missing_column_names_file(tmp_path):
    source = folder_source(tmp_path, ".csv", subject_column="subject")
    with pytest.raises(
        InputFileError, match="column `subject` named in the spec is not in the table"
    ):
        read_image_folder(source)
