"""Describe a release folder as a Croissant 1.1 JSON-LD document with Responsible AI properties.

Every Parquet table of the release becomes a `cr:FileObject` with its SHA-256 and size, and a
`cr:RecordSet` with one `cr:Field` per column, so that mlcroissant can validate the document and
load the records offline. The `rai:` properties quote the collection spec, the measurement tables
and the gate results of the release. A property with nothing true to say is left out.

Vocabularies: Croissant 1.1 (http://mlcommons.org/croissant/1.1) and the Croissant RAI 1.0
extension (http://mlcommons.org/croissant/RAI/1.0), with property names as in its vocabulary file
`croissant_rai.ttl`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import markdown as md
from tasks.datasheet_people import REMOVAL_TITLES
from tasks.errors import FaircurateError
from tasks.gates import MAX_GROUPS_SHOWN, SEVERITY_LABELS
from tasks.log import stage_logger
from tasks.manifest import sha256_file
from tasks.spec import CollectionSpec, FieldSpec

CROISSANT_SPEC = "http://mlcommons.org/croissant/1.1"
RAI_SPEC = "http://mlcommons.org/croissant/RAI/1.0"
PARQUET_MEDIA_TYPE = "application/x-parquet"

# The @context that mlcroissant 1.1.1 expects of a Croissant 1.1 document (the keys of its
# `make_context`), inline so that validation downloads nothing.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

REQUIRED_MANIFEST_KEYS = ("version", "published_at", "files")
RECORDS_PATH = "data/records.parquet"
# Descriptions of the columns that the warehouse adds to every record.
RESERVED_DESCRIPTIONS = {
    "record_id": "Identifier of the record: its value in the source id column, or the start "
    "of its batch id and its line number.",
    "batch_id": "Identifier of the ingest batch that loaded the record.",
    "source_line": "Line of the record in its source file.",
}
# The closest of the RAI vocabulary's recommended values for rai:dataCollectionType, per
# `supplied_by`.
# Derived fields are computed, not collected, so they add no collection type.
COLLECTION_TYPES = {
    "self-reported": "Self-reporting",
    "annotator": "Manual Human Curator",
    "exif": "Direct measurement",
}
SUPPLIED_PHRASES = {
    "self-reported": "self-reported",
    "annotator": "labelled by annotators",
    "exif": "read from the image's EXIF metadata",
    "derived": "derived",
}
# rai:dataCollectionTimeframe is an ISO 8601 date or interval, such as "1994" or "2020/2022".
# NOTE: mlcroissant 1.1.1 reads the property as `rai:dataCollectionTimeFrame` (capital F), so it
# does not load the vocabulary's spelling used here.
ISO_DATE = r"\d{4}(?:-\d{2}(?:-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?)?)?"
ISO_TIMEFRAME = re.compile(rf"^{ISO_DATE}(?:/{ISO_DATE})?$")
# faircurate's flag columns in the coverage tables, and what a true value means.
FLAG_MEANINGS = {
    "is_small": "small (fewer than {small} records)",
    "is_empty": "empty (no records)",
}
MEASUREMENT_COLUMNS = {
    "missingness": ("field", "count_records", "count_missing", "share_missing"),
    "quarantine_by_reason": ("source_file", "reason_code", "count_rows"),
    "privacy_findings": ("field", "kind", "count_rows"),
    "crowdwork_summary": ("measure", "value"),
}


class CroissantError(FaircurateError):
    """The release folder, its manifest or its measurements cannot be described in Croissant."""


@dataclass(frozen=True)
class ParquetTable:
    """One Parquet file of the release as the manifest lists it, checked against the folder."""

    relative_path: str
    path: Path
    sha256: str
    count_bytes: int
    count_rows: int | None


@dataclass(frozen=True)
class FailedGate:
    """One failed expectation read from the GX validation results of the release."""

    suite: str
    table: str
    severity: str
    expectation_type: str
    kwargs: dict[str, Any]
    result: dict[str, Any]
    reason: str | None
    exception: str | None


def build_croissant(
    spec: CollectionSpec,
    folder: Path,
    manifest: dict,
    measurements: dict[str, pl.DataFrame],
) -> dict:
    """Build the Croissant 1.1 JSON-LD document of the release in `folder`.

    `manifest` is the release's manifest.json and `measurements` its measurement tables by name.
    Only files inside `folder` are read: the Parquet schemas and the GX results under
    `validation/`. Raises CroissantError when the manifest is incomplete, names a file outside
    the folder or a missing file, or lists a SHA-256 or size that the file no longer has.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CroissantError(f"release folder {folder} not found; pass the folder of a release")
    _check_manifest(manifest, folder)
    tables = _parquet_tables(folder, manifest)
    failed_gates = _read_failed_gates(folder, manifest)

    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": spec.name,
        "description": _dataset_description(spec),
        "conformsTo": [CROISSANT_SPEC, RAI_SPEC],
    }
    about = spec.about
    optional = {
        "citeAs": about.get("citation"),
        "license": about.get("licence"),
        "url": about.get("homepage"),
    }
    document.update({key: value for key, value in optional.items() if value})
    document["version"] = manifest["version"]
    document["datePublished"] = manifest["published_at"]
    document.update(_rai_properties(spec, manifest, measurements, failed_gates))
    document["distribution"] = [_file_object(table) for table in tables]
    document["recordSet"] = _record_sets(spec, tables)

    stage_logger().info(
        "croissant for release %s: %d Parquet files, %d RAI properties",
        manifest["version"],
        len(tables),
        sum(key.startswith("rai:") for key in document),
    )
    return document


def _check_manifest(manifest: dict, folder: Path) -> None:
    if not isinstance(manifest, dict):
        raise CroissantError(
            f"manifest of {folder} is a {type(manifest).__name__}; pass the parsed manifest.json"
        )
    for key in REQUIRED_MANIFEST_KEYS:
        if not manifest.get(key):
            raise CroissantError(
                f"manifest of {folder} has no `{key}`; pass the manifest.json of a published "
                "release"
            )
    if not isinstance(manifest["files"], list):
        raise CroissantError(
            f"manifest of {folder} has an invalid `files`: expected a list of file entries"
        )


def _resolve_inside(folder: Path, relative_path: Any) -> Path:
    """Return the file that `relative_path` names, raising unless it lies inside `folder`."""
    if not isinstance(relative_path, str) or not relative_path:
        raise CroissantError(f"manifest of {folder} lists a file entry with no `path`")
    root = folder.resolve()
    path = (root / relative_path).resolve()
    if Path(relative_path).is_absolute() or not path.is_relative_to(root):
        raise CroissantError(
            f"manifest of {folder} lists `{relative_path}`, which is outside the release folder"
        )
    if not path.is_file():
        raise CroissantError(f"release file {root / relative_path} not found")
    return path


def _parquet_tables(folder: Path, manifest: dict) -> list[ParquetTable]:
    tables = []
    for entry in manifest["files"]:
        relative_path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(relative_path, str) or not relative_path.endswith(".parquet"):
            continue
        path = _resolve_inside(folder, relative_path)
        listed_sha256 = entry.get("sha256")
        actual_sha256 = sha256_file(path)
        if listed_sha256 != actual_sha256:
            raise CroissantError(
                f"release file {path} has sha256 {actual_sha256}, but the manifest lists "
                f"{listed_sha256}; the release was changed after publishing, so publish a new one"
            )
        count_bytes = path.stat().st_size
        if entry.get("bytes") != count_bytes:
            raise CroissantError(
                f"release file {path} has {count_bytes} bytes, but the manifest lists "
                f"{entry.get('bytes')}; the release was changed after publishing, so publish a "
                "new one"
            )
        tables.append(
            ParquetTable(relative_path, path, actual_sha256, count_bytes, entry.get("rows"))
        )
    if not tables:
        raise CroissantError(f"manifest of {folder} lists no Parquet file to describe")
    return tables


def _dataset_description(spec: CollectionSpec) -> str:
    text = spec.about.get("description") or spec.about["purpose"]
    return f"{spec.about['title']}. {' '.join(text.split())}"


def _file_object(table: ParquetTable) -> dict:
    return {
        "@type": "cr:FileObject",
        "@id": table.relative_path,
        "name": table.relative_path,
        "contentUrl": table.relative_path,
        "contentSize": f"{table.count_bytes} B",
        "encodingFormat": PARQUET_MEDIA_TYPE,
        "sha256": table.sha256,
    }


# Record sets and fields


def _record_sets(spec: CollectionSpec, tables: list[ParquetTable]) -> list[dict]:
    stems = [Path(t.relative_path).stem for t in tables]
    record_sets = []
    for table, stem in zip(tables, stems, strict=True):
        # Two tables with the same file name in different folders get their path as the id.
        record_set_id = (
            stem
            if stems.count(stem) == 1
            else table.relative_path.removesuffix(".parquet").replace("/", "_")
        )
        record_sets.append(_record_set(spec, table, record_set_id))
    return record_sets


def _record_set(spec: CollectionSpec, table: ParquetTable, record_set_id: str) -> dict:
    try:
        schema = pq.read_schema(table.path)
    except (OSError, pa.ArrowInvalid) as error:
        raise CroissantError(
            f"release file {table.path} is not a readable Parquet file: {error}"
        ) from None
    rows = "unknown" if table.count_rows is None else md.count(table.count_rows)
    is_records = table.relative_path == RECORDS_PATH
    if is_records:
        instances = spec.datasheet.get("composition", {}).get("instances")
        description = f"The released records ({rows} rows). {instances or ''}".strip()
        descriptions = {f.name: _field_description(f) for f in spec.fields}
        descriptions |= RESERVED_DESCRIPTIONS
    else:
        description = f"Table `{table.relative_path}` of the release ({rows} rows)."
        descriptions = {}

    record_set: dict[str, Any] = {
        "@type": "cr:RecordSet",
        "@id": record_set_id,
        "name": record_set_id,
        "description": description,
    }
    if is_records and "record_id" in schema.names and _is_unique(table.path, "record_id"):
        record_set["key"] = {"@id": f"{record_set_id}/record_id"}
    record_set["field"] = [
        _field(record_set_id, table.relative_path, column, descriptions.get(column.name))
        for column in schema
    ]
    return record_set


def _is_unique(path: Path, column: str) -> bool:
    values = pq.read_table(path, columns=[column]).column(column)
    return values.null_count == 0 and len(values.unique()) == len(values)


def _field(record_set_id: str, file_id: str, column: pa.Field, description: str | None) -> dict:
    notes = [description] if description else []

    data_type = _scalar_data_type(column.type)
    is_array = False
    if data_type is None and _is_list(column.type):
        data_type = _scalar_data_type(column.type.value_type)
        is_array = data_type is not None
    if data_type is None:
        # NOTE: mlcroissant 1.1.1 declares the column valid but fails to read non-null struct,
        # map or decimal values as text. faircurate's own tables have no such columns.
        data_type = "sc:Text"
        notes.append(
            f"Stored as Parquet type `{column.type}`, which has no Croissant data type, so it is "
            "declared as text."
        )

    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{record_set_id}/{column.name}",
        "name": column.name,
    }
    if notes:
        field["description"] = " ".join(notes)
    field["dataType"] = data_type
    if is_array:
        field["isArray"] = True
    field["source"] = {"fileObject": {"@id": file_id}, "extract": {"column": column.name}}
    return field


def _field_description(field: FieldSpec) -> str:
    summary = f"{field.role.capitalize()} field, {_supplied(field)}."
    return f"{summary} {field.description}" if field.description else summary


def _supplied(field: FieldSpec) -> str:
    if field.derived_from:
        return f"derived from `{field.derived_from}`"
    return SUPPLIED_PHRASES.get(field.supplied_by, f"supplied by {field.supplied_by}")


def _scalar_data_type(arrow_type: pa.DataType) -> str | None:
    """Return the Croissant data type of a scalar Arrow type, or None when none fits."""
    if pa.types.is_dictionary(arrow_type):
        return _scalar_data_type(arrow_type.value_type)
    for is_type, data_type in (
        (pa.types.is_boolean, "sc:Boolean"),
        (pa.types.is_integer, "sc:Integer"),
        (pa.types.is_floating, "sc:Float"),
        (pa.types.is_date, "sc:Date"),
        (pa.types.is_timestamp, "sc:DateTime"),
        (pa.types.is_time, "sc:Time"),
        (pa.types.is_string, "sc:Text"),
        (pa.types.is_large_string, "sc:Text"),
        (pa.types.is_string_view, "sc:Text"),
    ):
        if is_type(arrow_type):
            return data_type
    return None


def _is_list(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
        or pa.types.is_fixed_size_list(arrow_type)
    )


# Gate results


def _read_failed_gates(folder: Path, manifest: dict) -> list[FailedGate]:
    """Read the failed warning and blocking expectations from the release's GX results."""
    failed = []
    for entry in manifest["files"]:
        relative_path = entry.get("path") if isinstance(entry, dict) else None
        if not (
            isinstance(relative_path, str)
            and relative_path.startswith("validation/")
            and relative_path.endswith(".json")
        ):
            continue
        path = _resolve_inside(folder, relative_path)
        try:
            validation = json.loads(path.read_text(encoding="utf-8"))
            suite = validation.get("suite_name") or path.stem
            table = validation["meta"]["active_batch_definition"]["data_asset_name"]
            for item in validation["results"]:
                failed_gate = _failed_gate(suite, table, item)
                if failed_gate is not None:
                    failed.append(failed_gate)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise CroissantError(
                f"release file {path} is not a GX validation result: {error!r}"
            ) from None
    return failed


def _failed_gate(suite: str, table: str, item: dict) -> FailedGate | None:
    config = item["expectation_config"]
    severity = SEVERITY_LABELS.get(config.get("severity") or "critical", "blocking")
    if item["success"] or severity not in ("warning", "blocking"):
        return None
    meta = config.get("meta") or {}
    exception = item.get("exception_info") or {}
    return FailedGate(
        suite=suite,
        table=table,
        severity=severity,
        expectation_type=config["type"],
        kwargs={k: v for k, v in config["kwargs"].items() if k != "batch_id"},
        result=item.get("result") or {},
        reason=meta.get("reason") or meta.get("failure_message"),
        exception=exception.get("exception_message") if exception.get("raised_exception") else None,
    )


def _gate_summary(gate: FailedGate, spec: CollectionSpec, measurements: dict) -> str:
    """Describe a failed gate with the groups that failed and their measured values."""
    observed = gate.result.get("observed_value")
    if isinstance(observed, dict) and "failing_groups" in observed:
        finding = _failing_groups_finding(gate, observed)
    else:
        finding = _unexpected_rows_finding(gate, spec, measurements)
    source = f"{gate.severity.capitalize()} from gate suite `{gate.suite}`"
    reason = f": {gate.reason}" if gate.reason else "."
    return f"{finding} {source}{reason}"


def _failing_groups_finding(gate: FailedGate, observed: dict) -> str:
    """Describe the failing groups of faircurate's own coverage expectations."""
    kwargs = gate.kwargs
    subject = kwargs.get("attribute") or kwargs.get("intersection") or gate.table
    failing = observed["failing_groups"]
    if not failing:
        return f"{subject}: {observed.get('note') or 'no groups to check'}."
    if "min_share" in kwargs:
        condition = f"groups with less than {md.percent(kwargs['min_share'])} of the known values"
        values = [f"{group} {md.percent(share)}" for group, share in failing.items()]
    elif "min_count" in kwargs:
        condition = f"groups with fewer than {md.count(kwargs['min_count'])} records"
        values = [f"{group} ({_records(count)})" for group, count in failing.items()]
    elif "max_cramers_v" in kwargs:
        condition = (
            f"sensitive pairs with a bias-corrected Cramér's V above {kwargs['max_cramers_v']:g}"
        )
        values = [f"{pair} (V {md.number(value)})" for pair, value in failing.items()]
    else:
        condition = f"groups failing `{gate.expectation_type}`"
        values = [f"{group} ({value})" for group, value in failing.items()]
    return f"{subject}: {condition}: {_join_listed(values)}."


def _unexpected_rows_finding(gate: FailedGate, spec: CollectionSpec, measurements: dict) -> str:
    """Describe the rows that failed a stock GX column expectation."""
    column = gate.kwargs.get("column", "value")
    rows = gate.result.get("unexpected_index_list") or []
    index_columns = gate.result.get("unexpected_index_column_names") or []
    if not rows or not index_columns:
        observed = gate.result.get("observed_value")
        return f"`{gate.table}`: `{gate.expectation_type}` failed (observed {observed})."

    group_column = index_columns[-1]
    scope = sorted(
        {str(row.get(c)) for row in rows for c in index_columns[:-1] if row.get(c) is not None}
    )
    subject = ", ".join(scope) if scope else gate.table
    counts = _count_members_by_group(measurements.get(gate.table), index_columns)
    values = []
    for row in rows:
        group = str(row.get(group_column))
        key = tuple(str(row.get(c)) for c in index_columns)
        if column in FLAG_MEANINGS:
            observed = _records(counts[key]) if key in counts else ""
        else:
            observed = _format_value(column, row.get(column))
        values.append(f"{group} ({observed})" if observed else group)
    total = gate.result.get("element_count")
    out_of = f" of {md.count(total)}" if total is not None else ""
    if column in FLAG_MEANINGS:
        condition = FLAG_MEANINGS[column].format(small=spec.small_cell_size)
        return f"{subject}: {len(rows)}{out_of} {group_column}s are {condition}: " + (
            f"{_join_listed(values)}."
        )
    condition = _condition_text(column, gate.kwargs)
    return f"{subject}: `{column}` {condition} for {len(rows)}{out_of} {group_column}s: " + (
        f"{_join_listed(values)}."
    )


def _count_members_by_group(
    table: pl.DataFrame | None, index_columns: list[str]
) -> dict[tuple[str, ...], int]:
    if table is None or "count_members" not in table.columns:
        return {}
    if any(c not in table.columns for c in index_columns):
        return {}
    return {
        tuple(str(row[c]) for c in index_columns): row["count_members"]
        for row in table.select(*index_columns, "count_members").iter_rows(named=True)
    }


def _condition_text(column: str, kwargs: dict) -> str:
    minimum, maximum = kwargs.get("min_value"), kwargs.get("max_value")
    if minimum is not None and maximum is not None:
        return f"outside {_format_value(column, minimum)} to {_format_value(column, maximum)}"
    if minimum is not None:
        return f"below {_format_value(column, minimum)}"
    if maximum is not None:
        return f"above {_format_value(column, maximum)}"
    if "value_set" in kwargs:
        return f"not in {kwargs['value_set']}"
    return "unexpected"


def _format_value(column: str, value: Any) -> str:
    # Columns named share… hold fractions of records and read better as percentages.
    if isinstance(value, float) and "share" in column:
        return md.percent(value)
    if isinstance(value, float):
        return md.number(value)
    return str(value)


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{md.count(count)} records"


def _missing_tokens(spec: CollectionSpec) -> str:
    tokens = ["empty values", *(f"`{token}`" for token in spec.missing_values)]
    if len(tokens) == 1:
        return tokens[0]
    return f"{', '.join(tokens[:-1])} and {tokens[-1]}"


def _join_listed(values: list[str]) -> str:
    if len(values) <= MAX_GROUPS_SHOWN:
        return ", ".join(values)
    return ", ".join(values[:MAX_GROUPS_SHOWN]) + f" and {len(values) - MAX_GROUPS_SHOWN} more"


# Responsible AI properties


def _rai_properties(
    spec: CollectionSpec,
    manifest: dict,
    measurements: dict[str, pl.DataFrame],
    failed_gates: list[FailedGate],
) -> dict[str, Any]:
    """Return the rai: properties that have content, in the vocabulary's order."""
    answers = spec.datasheet
    collection = answers.get("collection_process", {})
    preprocessing = answers.get("preprocessing", {})
    crowdwork = _crowdwork_values(measurements)
    properties = {
        "rai:dataCollection": _data_collection(collection),
        "rai:dataCollectionType": _collection_types(spec),
        "rai:dataCollectionTimeframe": _timeframe(collection.get("timeframe")),
        "rai:dataCollectionMissingData": _missing_data(spec, measurements),
        "rai:dataCollectionRawData": preprocessing.get("raw_data"),
        "rai:dataPreprocessingProtocol": _preprocessing_protocol(spec, manifest, measurements),
        "rai:dataAnnotationProtocol": _annotation_protocol(spec, crowdwork),
        "rai:annotatorDemographics": _annotator_demographics(crowdwork),
        "rai:personalSensitiveInformation": _sensitive_information(spec, measurements),
        "rai:dataBiases": [
            _gate_summary(g, spec, measurements) for g in failed_gates if not g.exception
        ],
        "rai:dataLimitations": _limitations(spec, failed_gates),
        "rai:dataUseCases": list(spec.about.get("allowed_uses", ())),
        "rai:dataSocialImpact": answers.get("uses", {}).get("risks"),
        "rai:dataReleaseMaintenancePlan": _maintenance_plan(answers.get("maintenance", {})),
    }
    return {key: value for key, value in properties.items() if value}


def _data_collection(answers: dict[str, str]) -> str | None:
    """Join the datasheet's collection-process answers that have no RAI property of their own."""
    parts = [answers["how_collected"]] if answers.get("how_collected") else []
    timeframe = answers.get("timeframe")
    labelled = {
        "Timeframe": timeframe if timeframe and _timeframe(timeframe) is None else None,
        "Collectors and pay": answers.get("collectors"),
        "Consent": answers.get("consent"),
        "Revocation of consent": answers.get("revocation"),
        "Ethical review": answers.get("ethical_review"),
    }
    parts += [f"{label}: {text}" for label, text in labelled.items() if text]
    return " ".join(" ".join(part.split()) for part in parts) or None


def _collection_types(spec: CollectionSpec) -> list[str]:
    types = []
    for field in spec.fields:
        collection_type = COLLECTION_TYPES.get(field.supplied_by)
        if collection_type and collection_type not in types:
            types.append(collection_type)
    return types


def _timeframe(answer: str | None) -> list[str] | None:
    """Return the timeframe when the spec gives it as an ISO 8601 date or interval."""
    if answer is None or not ISO_TIMEFRAME.match(answer.strip()):
        return None
    return [answer.strip()]


def _missing_data(spec: CollectionSpec, measurements: dict[str, pl.DataFrame]) -> str | None:
    missingness = _measurement(measurements, "missingness")
    if missingness is None or missingness.height == 0:
        return None
    missing = missingness.filter(pl.col("count_missing") > 0).sort("share_missing", descending=True)
    if missing.height == 0:
        parts = ["Every field has a value in every released record."]
    else:
        listed = ", ".join(
            f"{r['field']} {md.percent(r['share_missing'])} "
            f"({md.count(r['count_missing'])} of {md.count(r['count_records'])})"
            for r in missing.iter_rows(named=True)
        )
        parts = [
            f"Share of released records with no value, for the {missing.height} fields that "
            f"have missing values: {listed}. Every other field has a value in every record."
        ]
    tokens = _missing_tokens(spec)
    parts.append(f"{tokens[0].upper()}{tokens[1:]} in the source files were read as missing.")
    for field in spec.fields:
        if field.unassigned:
            values = ", ".join(f"`{value}`" for value in field.unassigned)
            parts.append(
                f"`{field.name}` is also missing where `{field.derived_from}` is {values}, "
                "which belong to no group."
            )
    return " ".join(parts)


def _preprocessing_protocol(
    spec: CollectionSpec, manifest: dict, measurements: dict[str, pl.DataFrame]
) -> list[str]:
    steps = []
    earlier = spec.datasheet.get("preprocessing", {}).get("steps")
    if earlier:
        steps.append(" ".join(earlier.split()))
    steps.append(f"faircurate trimmed every value and read {_missing_tokens(spec)} as missing.")
    for field in spec.fields:
        steps += _field_steps(field)
    steps.append(_quarantine_step(measurements))
    removed = manifest.get("removed_by_reason") or {}
    if removed:
        listed = ", ".join(
            f"{REMOVAL_TITLES.get(reason, reason)}: {md.count(count)}"
            for reason, count in removed.items()
        )
        steps.append(f"Records removed between ingest and release, by reason: {listed}.")
    return steps


def _field_steps(field: FieldSpec) -> list[str]:
    steps = []
    if field.aliases:
        mapped = ", ".join(f"`{raw}` to `{value}`" for raw, value in field.aliases.items())
        steps.append(f"`{field.name}`: mapped {mapped}.")
    if field.bins:
        labels = ", ".join(b.label for b in field.bins)
        steps.append(f"`{field.name}`: binned `{field.derived_from}` into {labels}.")
    if field.groups:
        groups = ", ".join(field.categories)
        steps.append(f"`{field.name}`: grouped the values of `{field.derived_from}` into {groups}.")
    for value, reason in field.unassigned.items():
        steps.append(f"`{field.name}`: left `{value}` without a group: {reason}")
    return steps


def _quarantine_step(measurements: dict[str, pl.DataFrame]) -> str:
    check = (
        "faircurate quarantined every row that failed a check (malformed line, unknown "
        "category, value out of range, missing required value, duplicate id)"
    )
    quarantine = _measurement(measurements, "quarantine_by_reason")
    if quarantine is None:
        return f"{check}."
    if quarantine.height == 0:
        return f"{check}. No row failed a check."
    listed = ", ".join(
        f"{r['reason_code']} in {r['source_file']}: {md.count(r['count_rows'])}"
        for r in quarantine.iter_rows(named=True)
    )
    return (
        f"{check}. Rows quarantined by reason, where a row counts under each of its reasons: "
        f"{listed}."
    )


def _crowdwork_values(measurements: dict[str, pl.DataFrame]) -> dict[str, float]:
    summary = _measurement(measurements, "crowdwork_summary")
    if summary is None:
        return {}
    return {
        str(measure): float(value)
        for measure, value in summary.select("measure", "value").iter_rows()
    }


def _annotator_counts(crowdwork: dict[str, float]) -> dict[str, int]:
    """Return the number of annotators per role (`annotator`, `qa`) from crowdwork_summary."""
    return {
        measure.removeprefix("annotators_"): int(value)
        for measure, value in crowdwork.items()
        if measure.startswith("annotators_") and ":" not in measure
    }


def _annotation_protocol(spec: CollectionSpec, crowdwork: dict[str, float]) -> str | None:
    counts = _annotator_counts(crowdwork)
    if sum(counts.values()) == 0:
        return None
    roles = ", ".join(f"{md.count(n)} {_role_title(role, n)}" for role, n in counts.items())
    parts = [f"The annotation was done by {roles}."]
    annotated = [f.name for f in spec.fields if f.supplied_by == "annotator"]
    if annotated:
        parts.append(f"Fields supplied by annotators: {', '.join(annotated)}.")
    per_label = [
        f"{measure.split(':', 1)[1]} {md.count(int(value))}"
        for measure, value in crowdwork.items()
        if measure.startswith("annotators_per_label:")
    ]
    if per_label:
        parts.append(f"Distinct annotators per label: {', '.join(per_label)}.")
    process = spec.policies.process
    if process.minimum_wage:
        parts.append(
            f"The spec sets a pay floor of {process.min_pay_ratio:g} times the local minimum wage "
            f"for annotators and QA reviewers, in {', '.join(process.minimum_wage)}."
        )
    return " ".join(parts)


def _role_title(role: str, count: int) -> str:
    title = {"annotator": "annotator", "qa": "QA reviewer"}.get(role, f"{role} annotator")
    return title if count == 1 else f"{title}s"


def _annotator_demographics(crowdwork: dict[str, float]) -> list[str]:
    counts = _annotator_counts(crowdwork)
    share = crowdwork.get("share_disclosing_demographics")
    if sum(counts.values()) == 0 or share is None:
        return []
    return [
        f"{md.percent(share, 0)} of the {md.count(sum(counts.values()))} annotators and QA "
        "reviewers disclosed their demographics. The release publishes only this share, not "
        "the demographics themselves."
    ]


def _sensitive_information(
    spec: CollectionSpec, measurements: dict[str, pl.DataFrame]
) -> list[str]:
    composition = spec.datasheet.get("composition", {})
    items = []
    if composition.get("sensitive_data"):
        items.append(" ".join(composition["sensitive_data"].split()))
    demographic = [f"{f.name} ({_supplied(f)})" for f in spec.demographic_fields]
    if demographic:
        items.append(f"Demographic fields in the records: {', '.join(demographic)}.")
    if composition.get("identifiability"):
        items.append(f"Identifiability: {' '.join(composition['identifiability'].split())}")
    items += _privacy_scan(spec, measurements)
    return items


def _privacy_scan(spec: CollectionSpec, measurements: dict[str, pl.DataFrame]) -> list[str]:
    columns = spec.policies.privacy.text_columns
    findings = _measurement(measurements, "privacy_findings")
    if not columns or findings is None:
        return []
    if findings.height == 0:
        return [
            f"The privacy scan of the free-text columns {', '.join(columns)} matched none of "
            "the personal-data patterns it checks."
        ]
    listed = ", ".join(
        f"{r['kind']} in {md.count(r['count_rows'])} rows of {r['field']}"
        for r in findings.iter_rows(named=True)
    )
    return [f"The privacy scan of the free-text columns found {listed}."]


def _limitations(spec: CollectionSpec, failed_gates: list[FailedGate]) -> list[str]:
    items = []
    sampling = spec.datasheet.get("composition", {}).get("sampling")
    if sampling:
        items.append(f"Sampling: {' '.join(sampling.split())}")
    items += [f"Not intended for: {use}" for use in spec.about.get("prohibited_uses", ())]
    items += [
        f"Gate suite `{g.suite}` could not evaluate `{g.expectation_type}`: {g.exception}"
        for g in failed_gates
        if g.exception
    ]
    return items


def _maintenance_plan(answers: dict[str, str]) -> str | None:
    labelled = {
        "Maintainer": answers.get("maintainer"),
        "Updates": answers.get("updates"),
        "Withdrawals": answers.get("withdrawals"),
    }
    parts = [f"{label}: {' '.join(text.split())}" for label, text in labelled.items() if text]
    return " ".join(parts) or None


def _measurement(measurements: dict[str, pl.DataFrame], name: str) -> pl.DataFrame | None:
    """Return a measurement table, or None when the release has none by that name.

    Raises CroissantError when the table lacks a column this module reads.
    """
    table = measurements.get(name)
    if table is None:
        return None
    missing = [c for c in MEASUREMENT_COLUMNS[name] if c not in table.columns]
    if missing:
        raise CroissantError(
            f"measurement table `{name}` has no column `{missing[0]}`; pass the table as "
            f"published in measurements/{name}.parquet"
        )
    return table
