"""Read a delimited text file (CSV and its relatives) into a frame of raw string columns.

Every physical line keeps its line number and its text, so a row that fails a later check can
be quarantined with the record exactly as it was written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tasks.errors import InputFileError
from tasks.spec import SourceSpec


@dataclass(frozen=True)
class RawBatch:
    """One source file split into lines and fields, before any value is checked."""

    batch_id: str
    path: Path
    size_bytes: int
    columns: tuple[str, ...]
    rows: pl.DataFrame
    lines_skipped: dict[str, int]
    source_file: str | None = None

    @property
    def source_name(self) -> str:
        """The file name that quarantine rows record: `source_file`, else the path's name."""
        return self.source_file or self.path.name


def read_delimited(path: Path, source: SourceSpec) -> RawBatch:
    """Split a delimited file into lines and fields; the batch id is the SHA-256 of its bytes.

    `rows` has `source_line`, `raw_record`, `field_count` and one trimmed string column per
    source column (null where the line has too few fields). Blank lines, comment lines and the
    header are not rows; they are counted in `lines_skipped`.
    """
    if not path.is_file():
        raise InputFileError(path, "file not found; check `source.files` in the collection spec")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(
            path, f"byte {error.start} is not valid UTF-8; convert the file to UTF-8"
        ) from None

    lines = (
        pl.Series("raw_record", [text])
        .str.split("\n")
        .explode()
        .to_frame()
        .with_row_index("source_line", offset=1)
        .with_columns(pl.col("raw_record").str.strip_suffix("\r"))
    )
    if text.endswith("\n"):
        lines = lines.head(lines.height - 1)

    is_blank = pl.col("raw_record").str.strip_chars() == ""
    is_comment = (
        pl.col("raw_record").str.starts_with(source.comment_prefix)
        if source.comment_prefix
        else pl.lit(False)
    )
    skipped = {
        "blank": int(lines.select(is_blank.sum()).item()),
        "comment": int(lines.select((is_comment & ~is_blank).sum()).item()),
    }
    lines = lines.filter(~is_blank & ~is_comment)

    columns = source.columns
    if source.header:
        if lines.height == 0:
            raise InputFileError(path, "has no header line; add one or set source.header: false")
        header = lines.item(0, "raw_record")
        columns = tuple(c.strip() for c in header.split(source.delimiter))
        lines = lines.slice(1)
        skipped["header"] = 1

    split = pl.col("raw_record").str.split(source.delimiter)
    rows = lines.with_columns(
        split.list.len().alias("field_count"),
        *(
            split.list.get(i, null_on_oob=True).str.strip_chars().alias(column)
            for i, column in enumerate(columns)
        ),
    )
    _require_some_row_fits(path, source, columns, rows)
    return RawBatch(
        batch_id=hashlib.sha256(data).hexdigest(),
        path=path,
        size_bytes=len(data),
        columns=columns,
        rows=rows,
        lines_skipped=skipped,
    )


def _require_some_row_fits(
    path: Path, source: SourceSpec, columns: tuple[str, ...], rows: pl.DataFrame
) -> None:
    """Reject a file in which no line splits into the declared fields: its layout is wrong.

    A file with some fitting lines is loaded, and the other lines are quarantined one by one.
    """
    if rows.height == 0 or (rows["field_count"] == len(columns)).any():
        return
    first = rows.row(0, named=True)
    raise InputFileError(
        path,
        f"none of its {rows.height:,} lines splits on {source.delimiter!r} into the "
        f"{len(columns)} fields of the collection spec (line {first['source_line']} has "
        f"{first['field_count']}); check the file's delimiter and columns against `source`",
    )
