"""Read a release folder in the FHIBE layout into checked frames, quarantining every failed row.

Files read, relative to the release folder `root` (the folder that contains `data/`):

- `data/processed/fhibe_downsampled/fhibe_downsampled.csv`: one row per subject per image.
- `data/raw/fhibe_downsampled/<subject_id>/<image_id>/main_<image_id>.png` and
  `main_annos_<image_id>.json`.
- `data/annotator_metadata/annotator_demographics.csv` and `QAannotator_demographics.csv`.
- `data/consent/consent_events.csv`, which is optional. The public FHIBE release does not ship
  it, and a collection without it has no consent records.

Assumptions, because FHIBE documents only the file names and the JSON file's top-level keys
(`image`, `image_annotation`, `subject_annotation`):

- An image's folder is under the id of its primary subject (the row with `is_primary` True).
- `image` is an object with optional `width` and `height` (integers) and `camera_make` and
  `camera_model` (strings). `image_annotation` must be present but is not read.
- `subject_annotation` is a list of objects with `subject_id` and `annotations`, a list of
  objects with `attribute`, `value` (any JSON value), `annotator_id` and `qa_annotator_id`
  (a string, null or absent).
- Multi-select cells of subjects and annotators (pronoun, ancestry, nationality) are
  stringified Python lists of numbered values such as "['0. She/her/hers']".

List cells are parsed with `ast.literal_eval`, which evaluates only literals, so a cell never
runs code. Cells are trimmed and an empty cell is null. `location_country` and `location_region`
in the output are the country and region that the country map gives for the free-text country.
The subject's free-text region is not kept.

A row that fails a check is quarantined with one reason code and one message per failure, and
it never reaches the output frames. An image enters `images` only when every one of its
appearance rows passed. So `images` never contains an image with one of its people, its image
file or its annotation file missing.

Reason codes for any CSV file:

- `malformed_line`: the line has more or fewer fields than the header.
- `missing_required:<column>`, `not_integer:<column>`, `unknown_category:<column>`.
- `invalid_literal:<column>`: the cell is not a Python list of strings.
- `invalid_numbered_value:<column>`: a value is not `<integer>. <label>`.
- `invalid_date:<column>`: the cell is not a valid YYYY-MM-DD date.

Reason codes for `fhibe_downsampled.csv` only:

- `invalid_id:<column>`: the id cannot safely name a folder.
- `not_boolean:is_primary`, `unknown_country`.
- `duplicate_appearance`: the second and later rows of one image and subject.
- `primary_subject_count`: the image does not have exactly one primary row.
- `image_missing`, `image_empty`, `annotations_missing`: a file of the image is missing or empty.
- `annotations_unreadable`: the image's JSON file is quarantined as `malformed_json`.
- `annotation_subject_mismatch`: the JSON file annotates a subject without a row for the image.
- `image_incomplete`: another row of the same image failed.

Reason codes for the annotator files are `not_number:pay_per_hour`, `out_of_range:pay_per_hour`,
`invalid_currency` and `duplicate_annotator`. A JSON file that is not UTF-8 JSON or lacks the
structure above gets `malformed_json`, with a null `source_line`.

Not checked here:

- image pixels, because only the file's presence and non-zero size are checked;
- ISO 4217 membership, because only the three-capital form of `currency` is checked;
- the range of ages and the age of majority;
- options that exclude others, such as "Prefer not to say" together with a pronoun;
- whether the annotator ids in the JSON files appear in the annotator files.

Image folders that no CSV row refers to are not read.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tasks.errors import InputFileError
from tasks.log import stage_logger

METADATA_CSV = "data/processed/fhibe_downsampled/fhibe_downsampled.csv"
ANNOTATOR_CSV = "data/annotator_metadata/annotator_demographics.csv"
QA_ANNOTATOR_CSV = "data/annotator_metadata/QAannotator_demographics.csv"
CONSENT_CSV = "data/consent/consent_events.csv"
RAW_IMAGES_DIR = "data/raw/fhibe_downsampled"

APPEARANCE_COLUMNS = (
    "subject_id",
    "image_id",
    "is_primary",
    "age",
    "pronoun",
    "ancestry",
    "nationality",
    "natural_skin_color",
    "location_country",
    "location_region",
    "user_hour_captured",
    "capture_date",
)
ANNOTATOR_COLUMNS = (
    "annotator_id",
    "annotator_age",
    "annotator_pronoun",
    "annotator_ancestry",
    "annotator_country",
    "pay_per_hour",
    "currency",
)
CONSENT_COLUMNS = (
    "subject_id",
    "event",
    "form_version",
    "scopes",
    "signed_on",
    "jurisdiction",
    "country_of_residence",
)
HOUR_WINDOWS = ("00:00-05:59", "06:00-11:59", "12:00-17:59", "18:00-23:59")
CONSENT_EVENT_TYPES = ("granted", "withdrawn")

NUMBERED_VALUE = r"^(\d+)\.\s+(\S.*)$"
# Ids become folder names, so they may not contain separators or start with a dot.
SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
CURRENCY_CODE = r"^[A-Z]{3}$"
JSON_RAW_RECORD_CHARS = 2000
SHOWN_VALUE_CHARS = 200

# Column names that the adapter adds to the frames it builds, so a CSV header may not use them.
RESERVED_COLUMNS = frozenset(
    {
        "record_id",
        "source_line",
        "raw_record",
        "field_count",
        "reason_codes",
        "reasons",
        "natural_skin_color_code",
    }
)

QUARANTINE_SCHEMA = {
    "batch_id": pl.String,
    "source_file": pl.String,
    "source_line": pl.Int64,
    "reason_codes": pl.List(pl.String),
    "reasons": pl.List(pl.String),
    "raw_record": pl.String,
}
IMAGE_SCHEMA = {
    "image_id": pl.String,
    "primary_subject_id": pl.String,
    "path": pl.String,
    "json_path": pl.String,
    "width": pl.Int64,
    "height": pl.Int64,
    "camera_make": pl.String,
    "camera_model": pl.String,
}
ANNOTATION_SCHEMA = {
    "image_id": pl.String,
    "subject_id": pl.String,
    "attribute": pl.String,
    "value": pl.String,
    "annotator_id": pl.String,
    "qa_annotator_id": pl.String,
    "supplied_by": pl.String,
}
FILE_REASON_SCHEMA = {
    "image_id": pl.String,
    "__file_codes": pl.List(pl.String),
    "__file_messages": pl.List(pl.String),
}


@dataclass(frozen=True)
class FhibeBatch:
    """One FHIBE release folder read into frames, with the rows that failed a check.

    `batch_id` is the SHA-256 over the relative path and bytes of every metadata file read, in
    path order: the CSV files and the JSON files, but not the image files. `rows_read` maps each
    file's path relative to `root` to its data rows. A CSV file counts its rows without the
    header and blank lines, and a JSON file counts 1.
    """

    batch_id: str
    root: Path
    appearances: pl.DataFrame
    images: pl.DataFrame
    annotations: pl.DataFrame
    annotators: pl.DataFrame
    consent_events: pl.DataFrame
    quarantine: pl.DataFrame
    rows_read: dict[str, int]
    has_consent_records: bool


@dataclass(frozen=True)
class _CsvTable:
    """A CSV file split into records, with every field a trimmed string or null when empty."""

    relative_path: str
    data: bytes
    columns: tuple[str, ...]
    rows: pl.DataFrame

    @property
    def name(self) -> str:
        return self.relative_path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class _Check:
    code: str
    failed: pl.Expr
    message: pl.Expr


@dataclass(frozen=True)
class _AnnotationFile:
    """The parts of one `main_annos_<image_id>.json` file that the adapter keeps."""

    image_fields: dict[str, Any]
    annotations: list[dict[str, str | None]]


@dataclass(frozen=True)
class _ImageFiles:
    """Results of checking the image and JSON files of the located images."""

    file_reasons: pl.DataFrame
    images: pl.DataFrame
    annotations: pl.DataFrame
    json_files: dict[str, bytes]
    json_quarantine: pl.DataFrame


class _LayoutError(ValueError):
    """A JSON annotation file is not valid JSON or does not have the assumed structure."""


def normalise_country_key(text: str) -> str:
    """Return the lookup key for a free-text country: lower-case, trimmed, single spaces."""
    return " ".join(text.split()).lower()


def read_fhibe(root: Path, country_map: dict[str, tuple[str, str]]) -> FhibeBatch:
    """Read and check the FHIBE release folder `root` and return its frames and quarantine.

    `country_map` maps a free-text country to (country, region). Its keys are normalised with
    `normalise_country_key`, as is the text in `location_country`, so "  NUGERIA " finds the
    key "nugeria". A country text without a key is quarantined as `unknown_country`.

    Raises InputFileError when a CSV file other than the consent file is missing, is not UTF-8
    or lacks a column, and ValueError when two keys of `country_map` normalise to one key with
    different values.
    """
    root = Path(root)
    lookup = _normalise_country_map(country_map)
    metadata = _read_csv_table(root, METADATA_CSV, APPEARANCE_COLUMNS)
    annotator_tables = [
        (_read_csv_table(root, ANNOTATOR_CSV, ANNOTATOR_COLUMNS), "annotator"),
        (_read_csv_table(root, QA_ANNOTATOR_CSV, ANNOTATOR_COLUMNS), "qa"),
    ]
    has_consent_records = (root / CONSENT_CSV).is_file()
    consent = _read_csv_table(root, CONSENT_CSV, CONSENT_COLUMNS) if has_consent_records else None

    checked = _check_appearance_rows(metadata, lookup)
    checked = _add_duplicate_and_primary_checks(checked, metadata.name)
    image_files = _check_image_files(root, _locate_images(checked))
    checked = _add_image_file_checks(checked, image_files.file_reasons)
    checked = _add_incomplete_image_check(checked)
    appearances, appearance_quarantine = _split_appearances(checked, metadata)

    annotator_frames = [_check_annotator_rows(table, role) for table, role in annotator_tables]
    consent_frames = _check_consent_rows(consent) if consent is not None else None

    passed_images = appearances.select("image_id").unique()
    images = image_files.images.join(
        passed_images, on="image_id", how="semi", maintain_order="left"
    )
    annotations = image_files.annotations.join(
        passed_images, on="image_id", how="semi", maintain_order="left"
    )

    tables = [metadata, *(table for table, _ in annotator_tables)]
    if consent is not None:
        tables.append(consent)
    files_read = {table.relative_path: table.data for table in tables} | image_files.json_files
    batch_id = _batch_id(files_read)
    rows_read = {table.relative_path: table.rows.height for table in tables}
    rows_read |= dict.fromkeys(sorted(image_files.json_files), 1)

    quarantine_parts = [
        appearance_quarantine,
        *(quarantined for _, quarantined in annotator_frames),
        image_files.json_quarantine,
    ]
    if consent_frames is not None:
        quarantine_parts.append(consent_frames[1])
    quarantine = _combine_quarantine(batch_id, quarantine_parts)

    batch = FhibeBatch(
        batch_id=batch_id,
        root=root,
        appearances=appearances,
        images=images,
        annotations=annotations,
        annotators=pl.concat([loaded for loaded, _ in annotator_frames]),
        consent_events=consent_frames[0] if consent_frames is not None else _empty_consent(),
        quarantine=quarantine,
        rows_read=rows_read,
        has_consent_records=has_consent_records,
    )
    check_fhibe_counts(batch)
    _log_batch(batch)
    return batch


def _combine_quarantine(batch_id: str, parts: list[pl.DataFrame]) -> pl.DataFrame:
    return (
        pl.concat(parts)
        .with_columns(pl.lit(batch_id).alias("batch_id"))
        .select(list(QUARANTINE_SCHEMA))
        .sort("source_file", "source_line", nulls_last=True)
    )


def _log_batch(batch: FhibeBatch) -> None:
    appearance_rows_quarantined = batch.quarantine.filter(
        pl.col("source_file") == METADATA_CSV
    ).height
    json_files = sum(1 for path in batch.rows_read if path.endswith(".json"))
    stage_logger().info(
        "FHIBE batch %s (%s): %d appearance rows read, %d loaded, %d quarantined; "
        "%d images, %d annotation files read, %d quarantine rows in all",
        batch.batch_id[:12],
        batch.root,
        batch.rows_read[METADATA_CSV],
        batch.appearances.height,
        appearance_rows_quarantined,
        batch.images.height,
        json_files,
        batch.quarantine.height,
    )


def check_fhibe_counts(batch: FhibeBatch) -> None:
    """Raise RuntimeError unless every row read was either loaded or quarantined.

    For each CSV file, its data rows must equal its loaded rows plus its quarantined rows. Each
    JSON file has at most one quarantine row, every image with an appearance must be in
    `images`, and every quarantine row must have one message per reason code.
    """
    quarantined = dict(batch.quarantine.group_by("source_file").len().iter_rows())
    loaded = {
        METADATA_CSV: batch.appearances.height,
        ANNOTATOR_CSV: batch.annotators.filter(pl.col("role") == "annotator").height,
        QA_ANNOTATOR_CSV: batch.annotators.filter(pl.col("role") == "qa").height,
    }
    if batch.has_consent_records:
        loaded[CONSENT_CSV] = batch.consent_events.height

    problems = []
    for source_file, loaded_rows in loaded.items():
        rows_read = batch.rows_read.get(source_file, 0)
        quarantined_rows = quarantined.get(source_file, 0)
        if rows_read != loaded_rows + quarantined_rows:
            problems.append(
                f"{source_file}: {rows_read} rows read but {loaded_rows} loaded + "
                f"{quarantined_rows} quarantined"
            )
    for source_file, quarantined_rows in quarantined.items():
        if source_file not in batch.rows_read:
            problems.append(
                f"{source_file}: {quarantined_rows} rows quarantined from a file never read"
            )
        elif source_file not in loaded and quarantined_rows > batch.rows_read[source_file]:
            problems.append(f"{source_file}: {quarantined_rows} quarantine rows for one JSON file")
    missing_images = set(batch.appearances["image_id"]) - set(batch.images["image_id"])
    if missing_images:
        problems.append(f"appearances of images not in `images`: {sorted(missing_images)}")
    unpaired = batch.quarantine.filter(
        pl.col("reason_codes").list.len() != pl.col("reasons").list.len()
    )
    if unpaired.height:
        problems.append(f"{unpaired.height} quarantine rows without one message per reason code")
    if problems:
        raise RuntimeError(f"FHIBE batch {batch.batch_id[:12]}: " + "; ".join(problems))


# Reading files


def _read_csv_table(root: Path, relative_path: str, required: tuple[str, ...]) -> _CsvTable:
    """Split a CSV file into records, keeping each record's first line number and its text.

    Python's csv module splits the records, because a quoted cell may contain the delimiter or
    a line break, and it reports how many lines each record used.
    """
    path = root / relative_path
    if not path.is_file():
        raise InputFileError(
            path,
            "file not found; `root` must be a FHIBE release folder (the one containing `data/`) "
            f"with {relative_path}",
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(
            path, f"byte {error.start} is not valid UTF-8; convert the file to UTF-8"
        ) from None

    lines_seen: list[str] = []

    def track_lines(buffer: io.StringIO):
        for line in buffer:
            lines_seen.append(line)
            yield line

    reader = csv.reader(track_lines(io.StringIO(text, newline="")))
    header: tuple[str, ...] | None = None
    records: list[tuple[int, str, list[str]]] = []
    last_line = 0
    try:
        for fields in reader:
            first_line = last_line + 1
            last_line = reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if header is None:
                header = tuple(field.strip() for field in fields)
                continue
            raw_record = "".join(lines_seen[first_line - 1 : last_line]).rstrip("\r\n")
            records.append((first_line, raw_record, fields))
    except csv.Error as error:
        raise InputFileError(
            path, f"line {reader.line_num} cannot be split into CSV fields: {error}"
        ) from None

    if header is None:
        raise InputFileError(path, "file is empty; expected a header row and data rows")
    _check_header(path, header, required)
    return _CsvTable(relative_path, data, header, _records_frame(header, records))


def _check_header(path: Path, header: tuple[str, ...], required: tuple[str, ...]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise InputFileError(
            path,
            f"header has no column {', '.join(missing)} (its columns: {', '.join(header)}); "
            "add the column or check that this is the right file",
        )
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise InputFileError(path, f"header repeats column {', '.join(repeated)}; rename them")
    clashing = sorted(
        column
        for column in header
        if column in RESERVED_COLUMNS or column.startswith("__") or not column
    )
    if clashing:
        raise InputFileError(
            path,
            f"header column {', '.join(repr(c) for c in clashing)} is empty or a name the "
            "adapter adds to its frames; rename it",
        )


def _records_frame(
    header: tuple[str, ...], records: list[tuple[int, str, list[str]]]
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {"source_line": [], "raw_record": [], "field_count": []}
    columns |= {column: [] for column in header}
    for source_line, raw_record, fields in records:
        columns["source_line"].append(source_line)
        columns["raw_record"].append(raw_record)
        columns["field_count"].append(len(fields))
        for index, column in enumerate(header):
            value = fields[index].strip() if index < len(fields) else ""
            columns[column].append(value or None)
    schema = {"source_line": pl.Int64, "raw_record": pl.String, "field_count": pl.Int64}
    schema |= dict.fromkeys(header, pl.String)
    return pl.DataFrame(columns, schema=schema)


def _batch_id(files: dict[str, bytes]) -> str:
    """Hash each file's relative path, byte length and bytes, in path order."""
    digest = hashlib.sha256()
    for relative_path in sorted(files):
        data = files[relative_path]
        digest.update(relative_path.encode("utf-8") + b"\0")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def _normalise_country_map(country_map: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    lookup: dict[str, tuple[str, str]] = {}
    for text, target in country_map.items():
        key = normalise_country_key(text)
        if not key:
            raise ValueError(f"country map key {text!r} is blank; remove it")
        if key in lookup and lookup[key] != tuple(target):
            raise ValueError(
                f"country map keys normalise to {key!r} with different values "
                f"{lookup[key]} and {tuple(target)}; keep one of them"
            )
        lookup[key] = (target[0], target[1])
    return lookup


# Expressions shared by the checks of every CSV file


def _apply_checks(
    frame: pl.DataFrame, values: dict[str, pl.Expr], checks: list[_Check]
) -> pl.DataFrame:
    """Add the parsed values and the failed checks' codes and messages to `frame`.

    One with_columns call, so that every check reads the raw strings, not the parsed values.
    """
    return frame.with_columns(
        *(value.alias(name) for name, value in values.items()),
        pl.concat_list([pl.when(c.failed).then(pl.lit(c.code)) for c in checks])
        .list.drop_nulls()
        .alias("reason_codes"),
        pl.concat_list([pl.when(c.failed).then(c.message) for c in checks])
        .list.drop_nulls()
        .alias("reasons"),
    )


def _add_checks(frame: pl.DataFrame, checks: list[_Check]) -> pl.DataFrame:
    """Append the codes and messages of further failed checks to the existing reasons."""
    return frame.with_columns(
        pl.concat_list(
            [pl.col("reason_codes"), *(pl.when(c.failed).then(pl.lit(c.code)) for c in checks)]
        )
        .list.drop_nulls()
        .alias("reason_codes"),
        pl.concat_list([pl.col("reasons"), *(pl.when(c.failed).then(c.message) for c in checks)])
        .list.drop_nulls()
        .alias("reasons"),
    )


def _shown(text: pl.Expr) -> pl.Expr:
    """Quote a raw value for a message, cut to SHOWN_VALUE_CHARS characters."""
    cut = (
        pl.when(text.str.len_chars() > SHOWN_VALUE_CHARS)
        .then(text.str.slice(0, SHOWN_VALUE_CHARS) + pl.lit("..."))
        .otherwise(text)
    )
    return pl.lit('"') + cut.fill_null("") + pl.lit('"')


def _cell_message(file_name: str, column: str, text: pl.Expr, problem: str) -> pl.Expr:
    return pl.format(
        "{} line {}, `{}`: {} {}",
        pl.lit(file_name),
        pl.col("source_line"),
        pl.lit(column),
        _shown(text),
        pl.lit(problem),
    )


def _row_message(file_name: str, problem: pl.Expr) -> pl.Expr:
    return pl.format("{} line {}: {}", pl.lit(file_name), pl.col("source_line"), problem)


def _line_check(table: _CsvTable) -> _Check:
    expected = len(table.columns)
    return _Check(
        "malformed_line",
        pl.col("field_count") != expected,
        _row_message(
            table.name,
            pl.format(
                "line has {} fields; expected {}, so check its quoting and commas",
                pl.col("field_count"),
                pl.lit(expected),
            ),
        ),
    )


def _required_checks(file_name: str, columns: tuple[str, ...]) -> list[_Check]:
    return [
        _Check(
            f"missing_required:{column}",
            pl.col(column).is_null(),
            _row_message(file_name, pl.lit(f"`{column}` is empty but every row needs it")),
        )
        for column in columns
    ]


def _integer_value(file_name: str, column: str) -> tuple[pl.Expr, _Check]:
    text = pl.col(column)
    value = text.cast(pl.Int64, strict=False)
    check = _Check(
        f"not_integer:{column}",
        text.is_not_null() & value.is_null(),
        _cell_message(file_name, column, text, "is not an integer; write it in digits, as 34"),
    )
    return value, check


def _date_value(file_name: str, column: str) -> tuple[pl.Expr, _Check]:
    text = pl.col(column)
    value = (
        pl.when(text.str.contains(ISO_DATE))
        .then(text.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
    )
    check = _Check(
        f"invalid_date:{column}",
        text.is_not_null() & value.is_null(),
        _cell_message(file_name, column, text, "is not a valid date in the form YYYY-MM-DD"),
    )
    return value, check


def _category_check(file_name: str, column: str, allowed: tuple[str, ...]) -> _Check:
    text = pl.col(column)
    return _Check(
        f"unknown_category:{column}",
        text.is_not_null() & ~text.is_in(list(allowed)),
        _cell_message(file_name, column, text, f"is not one of: {', '.join(allowed)}"),
    )


def _literal_string_list(cell: str) -> list[str] | None:
    """Parse a stringified Python list of strings, or return None for anything else."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value]
    return None


def _string_list_value(
    file_name: str, column: str, *, numbered: bool
) -> tuple[pl.Expr, list[_Check]]:
    """Parse a list cell. With `numbered`, every element must be `<integer>. <label>`.

    The value is the list of labels (the number and its dot removed) for numbered cells and the
    list of strings otherwise.
    """
    text = pl.col(column)
    parsed = text.map_elements(
        _literal_string_list, return_dtype=pl.List(pl.String), skip_nulls=True
    )
    checks = [
        _Check(
            f"invalid_literal:{column}",
            text.is_not_null() & parsed.is_null(),
            _cell_message(
                file_name,
                column,
                text,
                "is not a Python list of strings; write it as ['first', 'second']",
            ),
        )
    ]
    if not numbered:
        return parsed, checks

    labels = parsed.list.eval(pl.element().str.extract(NUMBERED_VALUE, 2))
    checks.append(
        _Check(
            f"invalid_numbered_value:{column}",
            parsed.is_not_null() & (labels.list.drop_nulls().list.len() != parsed.list.len()),
            _cell_message(
                file_name,
                column,
                text,
                "has an element that is not a numbered value `<integer>. <label>`, "
                "such as '0. She/her/hers'",
            ),
        )
    )
    return labels, checks


def _numbered_value(file_name: str, column: str) -> tuple[pl.Expr, pl.Expr, _Check]:
    """Split a single `<integer>. <label>` cell into its code (Int64) and label."""
    text = pl.col(column)
    code = text.str.extract(NUMBERED_VALUE, 1).cast(pl.Int64, strict=False)
    label = text.str.extract(NUMBERED_VALUE, 2)
    check = _Check(
        f"invalid_numbered_value:{column}",
        text.is_not_null() & (code.is_null() | label.is_null()),
        _cell_message(
            file_name,
            column,
            text,
            "is not a numbered value `<integer>. <label>`, such as '3. III'",
        ),
    )
    return code, label, check


def _duplicate_check(code: str, keys: list[str], description: pl.Expr, file_name: str) -> _Check:
    """Fail every row whose key was already on an earlier line. A null in a key never matches."""
    has_key = pl.all_horizontal([pl.col(key).is_not_null() for key in keys])
    first_line = pl.col("source_line").min().over(keys)
    return _Check(
        code,
        has_key & (pl.col("source_line") != first_line),
        _row_message(
            file_name,
            pl.format(
                "{} already appears on line {}; remove one of the rows", description, first_line
            ),
        ),
    )


# Appearance rows of fhibe_downsampled.csv


def _check_appearance_rows(table: _CsvTable, lookup: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """Parse and check each row on its own. Later steps add checks across rows and files."""
    name = table.name
    checks = [_line_check(table), *_required_checks(name, ("subject_id", "image_id", "is_primary"))]
    checks += [
        _Check(
            f"invalid_id:{column}",
            pl.col(column).is_not_null() & ~pl.col(column).str.contains(SAFE_ID),
            _cell_message(
                name,
                column,
                pl.col(column),
                "is not a valid id; use letters, digits, '.', '_' and '-', starting with a "
                "letter or digit, because it names a folder",
            ),
        )
        for column in ("subject_id", "image_id")
    ]

    is_primary_text = pl.col("is_primary")
    is_primary = is_primary_text.str.to_lowercase().replace_strict(
        {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
    )
    checks.append(
        _Check(
            "not_boolean:is_primary",
            is_primary_text.is_not_null() & is_primary.is_null(),
            _cell_message(name, "is_primary", is_primary_text, "is not True or False"),
        )
    )

    age, age_check = _integer_value(name, "age")
    checks.append(age_check)
    values: dict[str, pl.Expr] = {"is_primary": is_primary, "age": age}
    for column in ("pronoun", "ancestry", "nationality"):
        values[column], list_checks = _string_list_value(name, column, numbered=True)
        checks += list_checks

    skin_code, skin_label, skin_check = _numbered_value(name, "natural_skin_color")
    values["natural_skin_color"] = skin_label
    values["natural_skin_color_code"] = skin_code
    checks.append(skin_check)

    country, region, country_check = _country_values(table, lookup)
    values["location_country"] = country
    values["location_region"] = region
    checks.append(country_check)

    checks.append(_category_check(name, "user_hour_captured", HOUR_WINDOWS))
    values["capture_date"], date_check = _date_value(name, "capture_date")
    checks.append(date_check)
    values["record_id"] = pl.format("{}:{}", pl.col("image_id"), pl.col("subject_id"))
    return _apply_checks(table.rows, values, checks)


def _country_values(
    table: _CsvTable, lookup: dict[str, tuple[str, str]]
) -> tuple[pl.Expr, pl.Expr, _Check]:
    """Map `location_country` through the country map, once per distinct text."""
    texts = table.rows["location_country"].drop_nulls().unique().to_list()
    keys = {text: normalise_country_key(text) for text in texts}
    known = {text: lookup[key] for text, key in keys.items() if key in lookup}
    text = pl.col("location_country")
    country = text.replace_strict(
        {t: target[0] for t, target in known.items()}, default=None, return_dtype=pl.String
    )
    region = text.replace_strict(
        {t: target[1] for t, target in known.items()}, default=None, return_dtype=pl.String
    )
    key = text.replace_strict(keys, default=None, return_dtype=pl.String)
    check = _Check(
        "unknown_country",
        text.is_not_null() & country.is_null(),
        pl.format(
            "{} line {}, `location_country`: {} (key {}) is not in the country map; add the key "
            "with its country and region, or correct the text",
            pl.lit(table.name),
            pl.col("source_line"),
            _shown(text),
            _shown(key),
        ),
    )
    return country, region, check


def _add_duplicate_and_primary_checks(frame: pl.DataFrame, file_name: str) -> pl.DataFrame:
    """Fail repeated (image_id, subject_id) rows and images without exactly one primary row.

    Only the first row of each (image_id, subject_id) counts towards the primary rows, so a
    repeated primary row fails as a duplicate and leaves its image intact.
    """
    has_key = pl.col("image_id").is_not_null() & pl.col("subject_id").is_not_null()
    first_line = pl.col("source_line").min().over("image_id", "subject_id")
    frame = frame.with_columns(
        (~has_key | (pl.col("source_line") == first_line)).alias("__is_first")
    ).with_columns(
        (pl.col("is_primary").fill_null(False) & pl.col("__is_first"))
        .sum()
        .over("image_id")
        .alias("__primary_rows")
    )
    image = _shown(pl.col("image_id"))
    checks = [
        _duplicate_check(
            "duplicate_appearance",
            ["image_id", "subject_id"],
            pl.format("image {} with subject {}", image, _shown(pl.col("subject_id"))),
            file_name,
        ),
        _Check(
            "primary_subject_count",
            pl.col("image_id").is_not_null() & (pl.col("__primary_rows") != 1),
            _row_message(
                file_name,
                pl.format(
                    "image {} has {} rows with is_primary True; mark exactly one subject of "
                    "each image as primary",
                    image,
                    pl.col("__primary_rows"),
                ),
            ),
        ),
    ]
    return _add_checks(frame, checks)


def _locate_images(frame: pl.DataFrame) -> pl.DataFrame:
    """Return each image with exactly one primary row: its primary subject and all its subjects.

    Images whose ids failed `invalid_id` are left out, because their ids cannot name a folder.
    """
    is_safe = pl.col("image_id").str.contains(SAFE_ID) & pl.col("subject_id").str.contains(SAFE_ID)
    primaries = frame.filter(
        pl.col("is_primary").fill_null(False)
        & pl.col("__is_first")
        & (pl.col("__primary_rows") == 1)
        & is_safe.fill_null(False)
    ).select("image_id", pl.col("subject_id").alias("primary_subject_id"))
    subjects = (
        frame.filter(pl.col("image_id").is_not_null() & pl.col("subject_id").is_not_null())
        .group_by("image_id")
        .agg(pl.col("subject_id").unique().alias("subject_ids"))
    )
    return primaries.join(subjects, on="image_id", how="left", maintain_order="left").sort(
        "image_id"
    )


def _check_image_files(root: Path, located: pl.DataFrame) -> _ImageFiles:
    """Check each located image's PNG file and parse its JSON file.

    A JSON file that fails to parse gets its own quarantine row, and the image's rows get
    `annotations_unreadable`. A missing or empty image file and a missing JSON file become
    reasons on the image's rows.
    """
    reason_rows: list[dict[str, Any]] = []
    image_rows: list[dict[str, Any]] = []
    annotation_rows: list[dict[str, Any]] = []
    json_files: dict[str, bytes] = {}
    json_quarantine: list[dict[str, Any]] = []

    for image_id, primary_subject_id, subject_ids in located.iter_rows():
        folder = f"{RAW_IMAGES_DIR}/{primary_subject_id}/{image_id}"
        image_path = f"{folder}/main_{image_id}.png"
        json_path = f"{folder}/main_annos_{image_id}.json"
        problems = _image_file_problems(root, image_path)

        annotation_file = root / json_path
        if not annotation_file.is_file():
            problems.append(
                (
                    "annotations_missing",
                    f"annotation file {json_path} is not found; restore it, because an image "
                    "is released only with its annotations",
                )
            )
            reason_rows.append(_file_reason_row(image_id, problems))
            continue

        data = annotation_file.read_bytes()
        json_files[json_path] = data
        try:
            parsed = _parse_annotation_file(data)
        except _LayoutError as error:
            json_quarantine.append(
                {
                    "batch_id": None,
                    "source_file": json_path,
                    "source_line": None,
                    "reason_codes": ["malformed_json"],
                    "reasons": [f"{json_path}: {error}; fix or replace the file"],
                    "raw_record": data.decode("utf-8", errors="replace")[:JSON_RAW_RECORD_CHARS],
                }
            )
            problems.append(
                (
                    "annotations_unreadable",
                    f"annotation file {json_path} is malformed (see its own quarantine row); "
                    "fix or replace it",
                )
            )
            reason_rows.append(_file_reason_row(image_id, problems))
            continue

        annotated = {row["subject_id"] for row in parsed.annotations}
        strangers = sorted(annotated - set(subject_ids))
        if strangers:
            problems.append(
                (
                    "annotation_subject_mismatch",
                    f"annotation file {json_path} annotates subject {', '.join(strangers)}, who "
                    f"has no row for image {image_id}; add the row or fix the file",
                )
            )
        reason_rows.append(_file_reason_row(image_id, problems))
        image_rows.append(
            {
                "image_id": image_id,
                "primary_subject_id": primary_subject_id,
                "path": image_path,
                "json_path": json_path,
                **parsed.image_fields,
            }
        )
        annotation_rows += [
            {"image_id": image_id, **row, "supplied_by": "annotator"} for row in parsed.annotations
        ]

    return _ImageFiles(
        file_reasons=pl.DataFrame(reason_rows, schema=FILE_REASON_SCHEMA),
        images=pl.DataFrame(image_rows, schema=IMAGE_SCHEMA),
        annotations=pl.DataFrame(annotation_rows, schema=ANNOTATION_SCHEMA),
        json_files=json_files,
        json_quarantine=pl.DataFrame(json_quarantine, schema=QUARANTINE_SCHEMA),
    )


def _image_file_problems(root: Path, image_path: str) -> list[tuple[str, str]]:
    image_file = root / image_path
    if not image_file.is_file():
        return [
            (
                "image_missing",
                f"image file {image_path} is not found; restore it or remove the image's rows "
                f"from {METADATA_CSV}",
            )
        ]
    if image_file.stat().st_size == 0:
        return [("image_empty", f"image file {image_path} is empty (0 bytes); restore the image")]
    return []


def _file_reason_row(image_id: str, problems: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "__file_codes": [code for code, _ in problems],
        "__file_messages": [message for _, message in problems],
    }


def _add_image_file_checks(frame: pl.DataFrame, file_reasons: pl.DataFrame) -> pl.DataFrame:
    """Append the image and JSON file problems of each image to every row of that image."""
    joined = frame.join(file_reasons, on="image_id", how="left", maintain_order="left")
    return joined.with_columns(
        pl.concat_list([pl.col("reason_codes"), pl.col("__file_codes").fill_null([])]).alias(
            "reason_codes"
        ),
        pl.concat_list([pl.col("reasons"), pl.col("__file_messages").fill_null([])]).alias(
            "reasons"
        ),
    ).drop("__file_codes", "__file_messages")


def _add_incomplete_image_check(frame: pl.DataFrame) -> pl.DataFrame:
    """Hold back every passing row of an image when another row of that image failed.

    Repeated rows are left out: the first row of an (image_id, subject_id) describes the image.
    """
    failed_line = pl.when(pl.col("__is_first") & (pl.col("reason_codes").list.len() > 0)).then(
        pl.col("source_line")
    )
    first_failed_line = failed_line.min().over("image_id")
    check = _Check(
        "image_incomplete",
        pl.col("image_id").is_not_null()
        & (pl.col("reason_codes").list.len() == 0)
        & first_failed_line.is_not_null(),
        pl.format(
            "{} line {}: image {} has another row quarantined (line {}), so this row is held "
            "back until that row is fixed",
            pl.lit(METADATA_CSV.rsplit("/", 1)[-1]),
            pl.col("source_line"),
            _shown(pl.col("image_id")),
            first_failed_line,
        ),
    )
    return _add_checks(frame, [check])


def _split_appearances(frame: pl.DataFrame, table: _CsvTable) -> tuple[pl.DataFrame, pl.DataFrame]:
    used = {*APPEARANCE_COLUMNS, "natural_skin_color_code"}
    extra_columns = [column for column in table.columns if column not in used]
    is_clean = pl.col("reason_codes").list.len() == 0
    appearances = frame.filter(is_clean).select(
        "record_id",
        "image_id",
        "subject_id",
        "is_primary",
        "age",
        "pronoun",
        "ancestry",
        "nationality",
        "natural_skin_color",
        "natural_skin_color_code",
        "location_country",
        "location_region",
        "user_hour_captured",
        "capture_date",
        "source_line",
        *extra_columns,
    )
    return appearances, _quarantine_rows(frame.filter(~is_clean), table)


def _quarantine_rows(frame: pl.DataFrame, table: _CsvTable) -> pl.DataFrame:
    return frame.select(
        pl.lit(None, dtype=pl.String).alias("batch_id"),
        pl.lit(table.relative_path).alias("source_file"),
        "source_line",
        "reason_codes",
        "reasons",
        "raw_record",
    )


# JSON annotation files


def _parse_annotation_file(data: bytes) -> _AnnotationFile:
    """Parse one `main_annos_<image_id>.json` file, raising _LayoutError that names the bad key."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise _LayoutError(f"byte {error.start} is not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise _LayoutError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise _LayoutError("JSON is nested too deeply to parse") from None

    if not isinstance(document, dict):
        raise _LayoutError(f"top level is a JSON {type(document).__name__}, not an object")
    missing = [k for k in ("image", "image_annotation", "subject_annotation") if k not in document]
    if missing:
        raise _LayoutError(f"top-level key {', '.join(missing)} is missing")

    image = document["image"]
    if not isinstance(image, dict):
        raise _LayoutError("`image` is not an object")
    image_fields: dict[str, Any] = {}
    for key in ("width", "height"):
        image_fields[key] = _optional(image, key, int, "image")
    for key in ("camera_make", "camera_model"):
        image_fields[key] = _optional(image, key, str, "image")

    subjects = document["subject_annotation"]
    if not isinstance(subjects, list):
        raise _LayoutError("`subject_annotation` is not a list")
    annotations: list[dict[str, str | None]] = []
    for index, subject in enumerate(subjects):
        where = f"subject_annotation[{index}]"
        if not isinstance(subject, dict):
            raise _LayoutError(f"`{where}` is not an object")
        subject_id = _required(subject, "subject_id", str, where)
        entries = _required(subject, "annotations", list, where)
        for number, entry in enumerate(entries):
            annotations.append(_annotation_row(subject_id, entry, f"{where}.annotations[{number}]"))
    return _AnnotationFile(image_fields=image_fields, annotations=annotations)


def _annotation_row(subject_id: str, entry: Any, where: str) -> dict[str, str | None]:
    if not isinstance(entry, dict):
        raise _LayoutError(f"`{where}` is not an object")
    if "value" not in entry:
        raise _LayoutError(f"`{where}.value` is missing")
    return {
        "subject_id": subject_id,
        "attribute": _required(entry, "attribute", str, where),
        # The value is kept as JSON text, so a string keeps its quotes and a box stays a list.
        "value": json.dumps(entry["value"], ensure_ascii=False),
        "annotator_id": _required(entry, "annotator_id", str, where),
        "qa_annotator_id": _optional(entry, "qa_annotator_id", str, where),
    }


def _required(container: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in container:
        raise _LayoutError(f"`{where}.{key}` is missing")
    value = _optional(container, key, kind, where)
    if value is None:
        raise _LayoutError(f"`{where}.{key}` is null")
    return value


def _optional(container: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = container.get(key)
    # bool is a subclass of int in Python, but true is not a width.
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _LayoutError(
            f"`{where}.{key}` is {json.dumps(value)[:SHOWN_VALUE_CHARS]}, not a JSON "
            f"{_JSON_TYPE_NAMES[kind]}"
        )
    return value


_JSON_TYPE_NAMES = {int: "integer", str: "string", list: "list", dict: "object"}


# Annotator and consent files


def _check_annotator_rows(table: _CsvTable, role: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check one annotator file and return its passing annotators and its quarantined rows."""
    name = table.name
    checks = [
        _line_check(table),
        *_required_checks(name, ("annotator_id", "pay_per_hour", "currency")),
    ]
    age, age_check = _integer_value(name, "annotator_age")
    checks.append(age_check)
    pronoun, pronoun_checks = _string_list_value(name, "annotator_pronoun", numbered=True)
    ancestry, ancestry_checks = _string_list_value(name, "annotator_ancestry", numbered=True)
    checks += pronoun_checks + ancestry_checks

    pay_text = pl.col("pay_per_hour")
    pay = pay_text.cast(pl.Float64, strict=False)
    currency = pl.col("currency")
    checks += [
        _Check(
            "not_number:pay_per_hour",
            pay_text.is_not_null() & (pay.is_null() | pay.is_nan() | pay.is_infinite()),
            _cell_message(name, "pay_per_hour", pay_text, "is not a number; write it as 12.50"),
        ),
        _Check(
            "out_of_range:pay_per_hour",
            pay < 0,
            _cell_message(name, "pay_per_hour", pay_text, "is negative; pay must be 0 or more"),
        ),
        _Check(
            "invalid_currency",
            currency.is_not_null() & ~currency.str.contains(CURRENCY_CODE),
            _cell_message(
                name, "currency", currency, "is not an ISO 4217 code of three capitals, as EUR"
            ),
        ),
        _duplicate_check(
            "duplicate_annotator",
            ["annotator_id"],
            pl.format("annotator {}", _shown(pl.col("annotator_id"))),
            name,
        ),
    ]
    values = {
        "role": pl.lit(role),
        "age": age,
        "pronoun": pronoun,
        "ancestry": ancestry,
        "country": pl.col("annotator_country"),
        "pay_per_hour": pay,
    }
    checked = _apply_checks(table.rows, values, checks)
    disclosed = (
        pl.col("age").is_not_null()
        | (pl.col("pronoun").list.len().fill_null(0) > 0)
        | (pl.col("ancestry").list.len().fill_null(0) > 0)
    )
    is_clean = pl.col("reason_codes").list.len() == 0
    annotators = checked.filter(is_clean).select(
        "annotator_id",
        "role",
        "age",
        "pronoun",
        "ancestry",
        "country",
        "pay_per_hour",
        "currency",
        disclosed.alias("has_disclosed_demographics"),
    )
    return annotators, _quarantine_rows(checked.filter(~is_clean), table)


def _check_consent_rows(table: _CsvTable) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check the consent file and return its passing events and its quarantined rows."""
    name = table.name
    checks = [
        _line_check(table),
        *_required_checks(name, ("subject_id", "event", "signed_on")),
        _category_check(name, "event", CONSENT_EVENT_TYPES),
    ]
    scopes, scope_checks = _string_list_value(name, "scopes", numbered=False)
    signed_on, date_check = _date_value(name, "signed_on")
    checks += [*scope_checks, date_check]
    checked = _apply_checks(table.rows, {"scopes": scopes, "signed_on": signed_on}, checks)
    is_clean = pl.col("reason_codes").list.len() == 0
    events = checked.filter(is_clean).select(*CONSENT_COLUMNS, "source_line")
    return events, _quarantine_rows(checked.filter(~is_clean), table)


def _empty_consent() -> pl.DataFrame:
    schema = dict.fromkeys(CONSENT_COLUMNS, pl.String)
    schema |= {"scopes": pl.List(pl.String), "signed_on": pl.Date, "source_line": pl.Int64}
    return pl.DataFrame(schema=schema)
