"""Normalise raw string columns to the spec's types and categories, and find rows to quarantine.

All checks are Polars expressions over the whole batch. Each failed check adds a reason code
(`unknown_category:sex`) and a message that names the field and the value. A row with at least
one reason goes to quarantine, and every other row is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from tasks.adapters.delimited import RawBatch
from tasks.errors import InputFileError
from tasks.spec import CollectionSpec, FieldSpec

CONTENT_DIGEST = "content_digest"


def content_digests(raw_records: pl.Series) -> pl.Series:
    """Return the first 16 hex digits of each record's SHA-256, a stable content name."""
    digests = [
        hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if text is not None else None
        for text in raw_records.to_list()
    ]
    return pl.Series(CONTENT_DIGEST, digests, dtype=pl.String)


@dataclass(frozen=True)
class NormalisedBatch:
    """A batch split into rows to load and rows to quarantine; both keep the raw record."""

    loaded: pl.DataFrame
    quarantined: pl.DataFrame


@dataclass(frozen=True)
class _Check:
    code: str
    failed: pl.Expr
    message: pl.Expr


def normalise_batch(
    spec: CollectionSpec, batch: RawBatch, carried_columns: tuple[str, ...] = ()
) -> NormalisedBatch:
    """Cast, map and check every field of `batch`; return loaded and quarantined rows.

    `carried_columns` pass through to the loaded rows unchecked (an adapter's own keys, such
    as the image and subject of an appearance). Raises InputFileError when a column that the
    spec reads is not in the file.
    """
    _require_columns(spec, batch)
    expected_fields = len(batch.columns)
    is_malformed = pl.col("field_count") != expected_fields
    malformed = _Check(
        "malformed_line",
        is_malformed,
        pl.format(
            "line has {} fields; expected {} separated by {}",
            pl.col("field_count"),
            pl.lit(expected_fields),
            pl.lit(repr(spec.source.delimiter)),
        ),
    )
    checks: list[_Check] = []

    values: dict[str, pl.Expr] = {}
    schema = batch.rows.schema
    for field in spec.fields:
        if field.derived_from is None:
            value, field_checks = _source_value(spec, field, schema[field.column])
            values[field.name] = value
            checks.extend(field_checks)
    for field in spec.fields:
        if field.derived_from is not None:
            parent = spec.field(field.derived_from)
            value, field_checks = _derived_value(field, values[parent.name], parent.type)
            values[field.name] = value
            checks.extend(field_checks)

    record_id, id_checks = _record_id(spec, batch)
    checks.extend(id_checks)
    # The fields of a malformed line are shifted or missing, so it gets that reason alone.
    checks = [malformed] + [_Check(c.code, c.failed & ~is_malformed, c.message) for c in checks]

    rows = batch.rows
    if spec.source.id_column is None:
        rows = rows.with_columns(content_digests(rows["raw_record"]))
    # One with_columns call, so that every check reads the raw strings, not the cast values.
    checked = rows.with_columns(
        record_id.alias("record_id"),
        *(value.alias(name) for name, value in values.items()),
        pl.concat_list([pl.when(c.failed).then(pl.lit(c.code)) for c in checks])
        .list.drop_nulls()
        .alias("reason_codes"),
        pl.concat_list([pl.when(c.failed).then(c.message) for c in checks])
        .list.drop_nulls()
        .alias("reasons"),
    )
    is_clean = pl.col("reason_codes").list.len() == 0
    field_names = [f.name for f in spec.fields]
    loaded = checked.filter(is_clean).select(
        "record_id",
        pl.lit(batch.batch_id).alias("batch_id"),
        "source_line",
        *carried_columns,
        *field_names,
        "raw_record",
    )
    demographic = [f.name for f in spec.fields if f.role == "demographic"]
    # The demographic values a rejected row would have had, so coverage before quarantine
    # can be measured; null where a value could not be read.
    known_values = (
        pl.struct(demographic).struct.json_encode() if demographic else pl.lit(None, pl.String)
    )
    quarantined = checked.filter(~is_clean).select(
        pl.lit(batch.batch_id).alias("batch_id"),
        pl.lit(batch.source_name).alias("source_file"),
        "source_line",
        "reason_codes",
        "reasons",
        "raw_record",
        known_values.alias("demographic_values"),
    )
    return NormalisedBatch(loaded=loaded, quarantined=quarantined)


def _require_columns(spec: CollectionSpec, batch: RawBatch) -> None:
    needed = [(f.name, f.column) for f in spec.fields if f.column is not None]
    if spec.source.id_column:
        needed.append(("source.id_column", spec.source.id_column))
    for owner, column in needed:
        if column not in batch.columns:
            raise InputFileError(
                batch.path,
                f"column `{column}`, read by `{owner}` in the collection spec, is not in the "
                f"file (its columns: {', '.join(batch.columns)}); fix the spec or the file",
            )


def _source_value(
    spec: CollectionSpec, field: FieldSpec, dtype: pl.DataType
) -> tuple[pl.Expr, list[_Check]]:
    """Return the normalised value of a source field and its checks.

    Delimited files give strings, which are trimmed, read as missing when they are a missing
    token, and cast. Adapters for richer layouts give typed columns (integers, lists), which
    are checked as they are.
    """
    raw = pl.col(field.column)
    is_text = dtype == pl.String
    text = (
        pl.when(raw.is_in(["", *spec.missing_values])).then(None).otherwise(raw) if is_text else raw
    )
    checks: list[_Check] = []
    name = field.name

    if field.type == "integer":
        value = text.cast(pl.Int64, strict=False)
        checks.append(
            _Check(
                f"not_integer:{name}",
                text.is_not_null() & value.is_null(),
                pl.format(
                    "`{}`: {} is not an integer", pl.lit(name), _quoted(text.cast(pl.String))
                ),
            )
        )
        if field.minimum is not None:
            checks.append(
                _range_check(name, value, value < field.minimum, "below the minimum", field.minimum)
            )
        if field.maximum is not None:
            checks.append(
                _range_check(name, value, value > field.maximum, "above the maximum", field.maximum)
            )
    elif field.type == "category_list":
        value = text
        if field.categories:
            unknown = text.list.eval(
                pl.element().filter(~pl.element().is_in(list(field.categories)))
            )
            checks.append(
                _Check(
                    f"unknown_category:{name}",
                    text.is_not_null() & (unknown.list.len() > 0),
                    pl.format(
                        "`{}`: {} is not a category declared in the spec; add it to "
                        "`fields.{}.categories`",
                        pl.lit(name),
                        _quoted(unknown.list.join(", ")),
                        pl.lit(name),
                    ),
                )
            )
    elif field.type == "category":
        value = text.replace(field.aliases) if field.aliases else text
        if field.categories:
            checks.append(
                _Check(
                    f"unknown_category:{name}",
                    value.is_not_null() & ~value.is_in(list(field.categories)),
                    pl.format(
                        "`{}`: {} is not a category declared in the spec; add it to "
                        "`fields.{}.categories` or map it with `aliases`",
                        pl.lit(name),
                        _quoted(text),
                        pl.lit(name),
                    ),
                )
            )
    else:
        value = text

    if field.required:
        missing = text.is_null()
        if field.type == "category_list":
            missing = missing | (text.list.len() == 0)
        checks.append(
            _Check(
                f"missing_required:{name}",
                missing,
                pl.format("`{}`: value is missing but the field is required", pl.lit(name)),
            )
        )
    return value, checks


def _derived_value(
    field: FieldSpec, parent: pl.Expr, parent_type: str
) -> tuple[pl.Expr, list[_Check]]:
    name = field.name
    if field.bins:
        value = pl.lit(None, dtype=pl.String)
        for age_bin in reversed(field.bins):
            inside = parent >= age_bin.minimum
            if age_bin.maximum is not None:
                inside = inside & (parent <= age_bin.maximum)
            value = pl.when(inside).then(pl.lit(age_bin.label)).otherwise(value)
        failed = parent.is_not_null() & value.is_null()
        message = pl.format(
            "`{}`: {} is outside every bin of `{}`",
            pl.lit(field.derived_from),
            parent.cast(pl.String),
            pl.lit(name),
        )
        return value, [_Check(f"outside_bins:{name}", failed, message)]

    if parent_type == "category_list":
        return _grouped_list_value(field, parent)
    value = parent.replace_strict(field.groups, default=None, return_dtype=pl.String)
    failed = parent.is_not_null() & value.is_null() & ~parent.is_in(list(field.unassigned))
    message = pl.format(
        "`{}`: {} has no group in `fields.{}.groups`; map it or list it under `unassigned`",
        pl.lit(field.derived_from),
        _quoted(parent),
        pl.lit(name),
    )
    return value, [_Check(f"unmapped_value:{name}", failed, message)]


def _grouped_list_value(field: FieldSpec, parent: pl.Expr) -> tuple[pl.Expr, list[_Check]]:
    """Map every selected value of a multi-select field to its group.

    Selections that all fall in one group give that group. Selections in several groups give
    the field's `multiple` label, or missing when it has none. Unassigned values are ignored.
    """
    assigned = parent.list.eval(pl.element().filter(~pl.element().is_in(list(field.unassigned))))
    groups = assigned.list.eval(
        pl.element().replace_strict(field.groups, default=None, return_dtype=pl.String)
    )
    distinct = groups.list.drop_nulls().list.unique()
    several = pl.lit(field.multiple_label) if field.multiple_label else pl.lit(None, pl.String)
    value = (
        pl.when(distinct.list.len() == 1)
        .then(distinct.list.first())
        .when(distinct.list.len() > 1)
        .then(several)
        .otherwise(None)
    )
    unmapped = groups.list.eval(pl.element().is_null()).list.any()
    message = pl.format(
        "`{}`: a selected value has no group in `fields.{}.groups`",
        pl.lit(field.derived_from),
        pl.lit(field.name),
    )
    return value, [_Check(f"unmapped_value:{field.name}", parent.is_not_null() & unmapped, message)]


def _record_id(spec: CollectionSpec, batch: RawBatch) -> tuple[pl.Expr, list[_Check]]:
    if spec.source.id_column is None:
        # Without an id column a record is named by its file and content, so a corrected
        # file keeps the ids of its unchanged lines. Identical lines are numbered in order.
        occurrence = pl.col(CONTENT_DIGEST).cum_count().over(CONTENT_DIGEST)
        return (
            pl.format("{}:{}-{}", pl.lit(batch.source_name), pl.col(CONTENT_DIGEST), occurrence),
            [],
        )

    raw = pl.col(spec.source.id_column)
    record_id = pl.when(raw.is_in(["", *spec.missing_values])).then(None).otherwise(raw)
    first_line = pl.col("source_line").min().over(record_id)
    checks = [
        _Check(
            "missing_id",
            record_id.is_null(),
            pl.format("`{}`: id is missing", pl.lit(spec.source.id_column)),
        ),
        _Check(
            "duplicate_id",
            record_id.is_not_null() & (pl.col("source_line") != first_line),
            pl.format(
                "`{}`: id {} already appears on line {} of this file",
                pl.lit(spec.source.id_column),
                _quoted(record_id),
                first_line,
            ),
        ),
    ]
    return record_id, checks


def _range_check(name: str, value: pl.Expr, failed: pl.Expr, relation: str, limit: int) -> _Check:
    return _Check(
        f"out_of_range:{name}",
        failed,
        pl.format(
            "`{}`: {} is {} {}",
            pl.lit(name),
            value.cast(pl.String),
            pl.lit(relation),
            pl.lit(limit),
        ),
    )


def _quoted(expr: pl.Expr) -> pl.Expr:
    return pl.lit("'") + expr.fill_null("") + pl.lit("'")


def check_counts(batch: RawBatch, normalised: NormalisedBatch) -> None:
    """Raise if loaded plus quarantined rows do not add up to the rows read."""
    rows_read = batch.rows.height
    accounted = normalised.loaded.height + normalised.quarantined.height
    if rows_read != accounted:
        message = f"{batch.path}: {rows_read} rows read but {accounted} loaded or quarantined"
        raise RuntimeError(message)
