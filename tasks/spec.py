"""Load and validate a collection spec: the curators' YAML description of one collection."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.datasheet_questions import SECTIONS
from tasks.errors import SpecError
from tasks.spec_measurement import (
    BootstrapSettings,
    SensitivePair,
    read_bootstrap,
    read_sensitive_pairs,
)
from tasks.spec_operations import AlertSpec, LandingSpec, read_alerts, read_landing
from tasks.spec_policies import PeoplePolicies, read_policies

ROLES = ("demographic", "label", "context")
TYPES = ("category", "category_list", "integer", "text")
SUPPLIERS = ("self-reported", "annotator", "derived", "exif")
SOURCE_FORMATS = ("delimited", "fhibe", "image_folder")
IMAGE_FORMATS = ("fhibe", "image_folder")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CELL_SEPARATOR = " × "
RESERVED_FIELDS = ("record_id", "batch_id", "source_line")


@dataclass(frozen=True)
class AgeBin:
    """One bin of a binned integer field; `maximum` is None for an open top bin."""

    label: str
    minimum: int
    maximum: int | None


@dataclass(frozen=True)
class FieldSpec:
    """One field of the canonical record, read from a source column or derived from a field."""

    name: str
    role: str
    type: str
    supplied_by: str
    column: str | None = None
    derived_from: str | None = None
    categories: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    bins: tuple[AgeBin, ...] = ()
    groups: dict[str, str] = field(default_factory=dict)
    unassigned: dict[str, str] = field(default_factory=dict)
    multiple_label: str | None = None
    target_shares: dict[str, float] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where the raw rows come from and how the files are laid out."""

    format: str
    files: tuple[Path, ...]
    delimiter: str
    header: bool
    comment_prefix: str | None
    columns: tuple[str, ...]
    id_column: str | None
    root: Path | None = None
    country_map: Path | None = None
    metadata: Path | None = None
    image_column: str | None = None
    subject_column: str | None = None

    @property
    def has_images(self) -> bool:
        return self.format in IMAGE_FORMATS


@dataclass(frozen=True)
class Dimension:
    """A diversity dimension: an attribute with the curators' definition and rationale."""

    attribute: str
    definition: str
    rationale: str


@dataclass(frozen=True)
class CollectionSpec:
    """A validated collection spec."""

    path: Path
    sha256: str
    name: str
    about: dict[str, Any]
    source: SourceSpec
    missing_values: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    intersections: tuple[tuple[str, ...], ...]
    dimensions: tuple[Dimension, ...]
    small_cell_size: int
    max_association_categories: int
    suites: tuple[Path, ...]
    datasheet: dict[str, dict[str, str]]
    policies: PeoplePolicies = field(default_factory=PeoplePolicies)
    landing: LandingSpec | None = None
    alerts: AlertSpec = field(default_factory=AlertSpec)
    sensitive_pairs: tuple[SensitivePair, ...] = ()
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def demographic_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.role == "demographic")


class _Reader:
    """Read typed values from the parsed YAML, raising SpecError with the full key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> SpecError:
        return SpecError(self.path, key, problem)

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...] | None = None) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                raise self.fail(
                    f"{key}.{unknown[0]}" if key else unknown[0],
                    f"unknown key; expected one of: {', '.join(allowed)}",
                )
        return value

    def text(self, parent: dict, name: str, key: str, *, required: bool = True) -> str | None:
        value = parent.get(name)
        if value is None:
            if required:
                raise self.fail(f"{key}.{name}" if key else name, "missing; expected a string")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key}.{name}" if key else name, "expected a non-empty string")
        return value.strip()

    def strings(self, value: Any, key: str, *, unique: bool = True) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        if unique:
            seen: set[str] = set()
            for item in value:
                if item in seen:
                    raise self.fail(key, f"lists `{item}` twice; each entry must be unique")
                seen.add(item)
        return tuple(value)

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {value!r}")
        return value

    def identifier(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not IDENTIFIER.match(value):
            raise self.fail(
                key,
                f"invalid name {value!r}; use lower-case letters, digits and underscores, "
                "starting with a letter",
            )
        return value


@task(name="read_collection_spec", cache_policy=NO_CACHE)
def read_collection_spec(path: Path | str) -> CollectionSpec:
    """Load and validate the spec as a flow step."""
    return load_spec(path)


def load_spec(path: Path | str) -> CollectionSpec:
    """Read a collection spec with a safe YAML loader and validate every key.

    Raises SpecError naming the key and what is expected when anything is missing or invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "", "file not found; pass the path of a collection spec YAML file")
    raw_bytes = path.read_bytes()
    try:
        document = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as error:
        raise SpecError(path, "", f"invalid YAML: {error}") from None

    reader = _Reader(path)
    top = reader.mapping(
        document,
        "",
        (
            "spec_version",
            "collection",
            "source",
            "missing_values",
            "fields",
            "intersections",
            "dimensions",
            "measurement",
            "gates",
            "datasheet",
            "consent",
            "process",
            "privacy",
            "media",
            "landing",
            "alerts",
        ),
    )
    if top.get("spec_version") != 1:
        raise reader.fail("spec_version", f"expected 1, got {top.get('spec_version')!r}")

    about = _read_collection(reader, top.get("collection"))
    source = _read_source(reader, top.get("source"), path.parent, "landing" in top)
    missing_values = reader.strings(top.get("missing_values", []), "missing_values")
    fields = _read_fields(reader, top.get("fields"), source)
    intersections = _read_intersections(reader, top.get("intersections", []), fields)
    dimensions = _read_dimensions(reader, top.get("dimensions"), fields)
    measurement = reader.mapping(
        top.get("measurement", {}),
        "measurement",
        ("small_cell_size", "max_association_categories", "sensitive_pairs", "bootstrap"),
    )
    max_association_categories = reader.integer(
        measurement.get("max_association_categories", 50), "measurement.max_association_categories"
    )
    if max_association_categories < 2:
        raise reader.fail("measurement.max_association_categories", "must be at least 2")
    small_cell_size = reader.integer(
        measurement.get("small_cell_size", 30), "measurement.small_cell_size"
    )
    if small_cell_size < 1:
        raise reader.fail("measurement.small_cell_size", "must be at least 1")
    suites = _read_suites(reader, top.get("gates"), path.parent)
    datasheet = _read_datasheet(reader, top.get("datasheet", {}))
    if source.id_column is not None and source.columns and source.id_column not in source.columns:
        raise reader.fail(
            "source.id_column",
            f"column `{source.id_column}` is not in source.columns",
        )

    return CollectionSpec(
        path=path.resolve(),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        name=about["name"],
        about=about,
        source=source,
        missing_values=missing_values,
        fields=fields,
        intersections=intersections,
        dimensions=dimensions,
        small_cell_size=small_cell_size,
        max_association_categories=max_association_categories,
        suites=suites,
        datasheet=datasheet,
        policies=read_policies(reader, top, source.has_images),
        landing=read_landing(reader, top.get("landing"), path.parent, source.format),
        alerts=read_alerts(reader, top.get("alerts")),
        sensitive_pairs=read_sensitive_pairs(
            reader, measurement.get("sensitive_pairs"), fields, max_association_categories
        ),
        bootstrap=read_bootstrap(reader, measurement.get("bootstrap")),
    )


def _read_collection(reader: _Reader, value: Any) -> dict[str, Any]:
    allowed = (
        "name",
        "title",
        "description",
        "purpose",
        "allowed_uses",
        "prohibited_uses",
        "licence",
        "citation",
        "homepage",
    )
    section = reader.mapping(value, "collection", allowed)
    about: dict[str, Any] = {"name": reader.identifier(section.get("name"), "collection.name")}
    for key in ("title", "description", "purpose", "licence", "citation", "homepage"):
        about[key] = reader.text(section, key, "collection", required=key in ("title", "purpose"))
    for key in ("allowed_uses", "prohibited_uses"):
        about[key] = reader.strings(section.get(key, []), f"collection.{key}")
    return about


def _read_source(reader: _Reader, value: Any, base: Path, has_landing: bool) -> SourceSpec:
    allowed = (
        "format",
        "files",
        "delimiter",
        "header",
        "comment_prefix",
        "columns",
        "id_column",
        "root",
        "country_map",
        "metadata",
        "image_column",
        "subject_column",
    )
    section = reader.mapping(value, "source", allowed)
    source_format = section.get("format")
    if source_format not in SOURCE_FORMATS:
        raise reader.fail(
            "source.format",
            f"unknown format {source_format!r}; expected one of: {', '.join(SOURCE_FORMATS)}",
        )
    if source_format == "fhibe":
        return SourceSpec(
            format=source_format,
            files=(),
            delimiter=",",
            header=True,
            comment_prefix=None,
            columns=(),
            id_column="record_id",
            root=_existing_path(reader, section, "root", base),
            country_map=_existing_path(reader, section, "country_map", base),
        )
    if source_format == "image_folder":
        metadata = _existing_path(reader, section, "metadata", base)
        if metadata.suffix not in (".csv", ".parquet", ".jsonl"):
            raise reader.fail("source.metadata", "expected a .csv, .parquet or .jsonl file")
        return SourceSpec(
            format=source_format,
            files=(metadata,),
            delimiter=",",
            header=True,
            comment_prefix=None,
            columns=(),
            id_column="record_id",
            root=_existing_path(reader, section, "root", base),
            metadata=metadata,
            image_column=reader.text(section, "image_column", "source"),
            subject_column=reader.text(section, "subject_column", "source", required=False),
        )

    # A collection fed only through its landing folder may list no fixed files.
    files = reader.strings(section.get("files", [] if has_landing else None), "source.files")
    if not files and not has_landing:
        raise reader.fail("source.files", "lists no files; list at least one or declare `landing`")
    delimiter = section.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise reader.fail("source.delimiter", f"expected one character, got {delimiter!r}")
    header = section.get("header", True)
    if not isinstance(header, bool):
        raise reader.fail("source.header", f"expected true or false, got {header!r}")
    columns: tuple[str, ...] = ()
    if "columns" in section:
        columns = tuple(
            reader.identifier(c, f"source.columns[{i}]")
            for i, c in enumerate(reader.strings(section["columns"], "source.columns"))
        )
    if not header and not columns:
        raise reader.fail("source.columns", "required when source.header is false")
    return SourceSpec(
        format=source_format,
        files=tuple((base / f).resolve() for f in files),
        delimiter=delimiter,
        header=header,
        comment_prefix=reader.text(section, "comment_prefix", "source", required=False),
        columns=columns,
        id_column=reader.text(section, "id_column", "source", required=False),
    )


def _existing_path(reader: _Reader, section: dict, name: str, base: Path) -> Path:
    path = (base / reader.text(section, name, "source")).resolve()
    if not path.exists():
        raise reader.fail(f"source.{name}", f"{path} not found")
    return path


def _read_fields(reader: _Reader, value: Any, source: SourceSpec) -> tuple[FieldSpec, ...]:
    section = reader.mapping(value, "fields")
    if not section:
        raise reader.fail("fields", "declares no fields; declare at least one")
    fields: list[FieldSpec] = []
    for name, definition in section.items():
        key = f"fields.{name}"
        reader.identifier(name, key)
        if name in RESERVED_FIELDS:
            raise reader.fail(key, f"`{name}` is reserved for the warehouse; rename the field")
        fields.append(_read_field(reader, name, definition, key, source))

    by_name = {f.name: f for f in fields}
    for f in fields:
        if f.derived_from is None:
            continue
        parent = by_name.get(f.derived_from)
        if parent is None or parent.derived_from is not None:
            raise reader.fail(
                f"fields.{f.name}.derived_from",
                f"`{f.derived_from}` is not a field read from a source column",
            )
        if f.bins and parent.type != "integer":
            raise reader.fail(f"fields.{f.name}.bins", f"`{parent.name}` is not an integer field")
        if f.groups and parent.categories:
            unmapped = [c for c in parent.categories if c not in f.groups and c not in f.unassigned]
            if unmapped:
                raise reader.fail(
                    f"fields.{f.name}.groups",
                    f"category `{unmapped[0]}` of `{parent.name}` is in no group and not in "
                    "`unassigned`; map it or list it as unassigned with a reason",
                )
    return tuple(fields)


def _read_field(reader: _Reader, name: str, value: Any, key: str, source: SourceSpec) -> FieldSpec:
    allowed = (
        "role",
        "type",
        "column",
        "derived_from",
        "categories",
        "aliases",
        "required",
        "min",
        "max",
        "bins",
        "groups",
        "unassigned",
        "multiple",
        "target_shares",
        "supplied_by",
        "description",
    )
    definition = reader.mapping(value, key, allowed)
    role = definition.get("role")
    if role not in ROLES:
        raise reader.fail(f"{key}.role", f"expected one of: {', '.join(ROLES)}; got {role!r}")
    derived_from = definition.get("derived_from")
    if derived_from is not None:
        return _read_derived_field(reader, name, definition, key, role)

    field_type = definition.get("type", "category")
    if field_type not in TYPES:
        raise reader.fail(f"{key}.type", f"expected one of: {', '.join(TYPES)}; got {field_type!r}")
    column = definition.get("column", name)
    if source.columns and column not in source.columns:
        raise reader.fail(
            f"{key}.column",
            f"column `{column}` is not in source.columns ({', '.join(source.columns)})",
        )
    categories = reader.strings(definition.get("categories", []), f"{key}.categories")
    for category in categories:
        if CELL_SEPARATOR in category:
            raise reader.fail(f"{key}.categories", f"category {category!r} contains ' × '")
    if role == "demographic" and (field_type != "category" or not categories):
        raise reader.fail(
            f"{key}.categories",
            "a demographic field needs type category and a list of categories",
        )
    aliases = reader.mapping(definition.get("aliases", {}), f"{key}.aliases")
    for raw, target in aliases.items():
        if target not in categories:
            raise reader.fail(f"{key}.aliases.{raw}", f"maps to `{target}`, which is no category")
    required = definition.get("required", False)
    if not isinstance(required, bool):
        raise reader.fail(f"{key}.required", f"expected true or false, got {required!r}")
    minimum = definition.get("min")
    maximum = definition.get("max")
    if minimum is not None:
        reader.integer(minimum, f"{key}.min")
    if maximum is not None:
        reader.integer(maximum, f"{key}.max")
    supplied_by = definition.get("supplied_by")
    if supplied_by not in SUPPLIERS:
        raise reader.fail(
            f"{key}.supplied_by", f"expected one of: {', '.join(SUPPLIERS)}; got {supplied_by!r}"
        )
    return FieldSpec(
        name=name,
        role=role,
        type=field_type,
        supplied_by=supplied_by,
        column=column,
        categories=categories,
        aliases={str(k): str(v) for k, v in aliases.items()},
        required=required,
        minimum=minimum,
        maximum=maximum,
        target_shares=_read_targets(reader, definition, key, categories),
        description=reader.text(definition, "description", key, required=False),
    )


def _read_derived_field(
    reader: _Reader, name: str, definition: dict, key: str, role: str
) -> FieldSpec:
    derived_from = reader.identifier(definition["derived_from"], f"{key}.derived_from")
    bins: tuple[AgeBin, ...] = ()
    groups: dict[str, str] = {}
    categories: tuple[str, ...]
    if "bins" in definition:
        bins = _read_bins(reader, definition["bins"], f"{key}.bins")
        categories = tuple(b.label for b in bins)
    elif "groups" in definition:
        group_map = reader.mapping(definition["groups"], f"{key}.groups")
        for group, members in group_map.items():
            for member in reader.strings(members, f"{key}.groups.{group}"):
                if member in groups:
                    raise reader.fail(
                        f"{key}.groups.{group}",
                        f"`{member}` is already in group `{groups[member]}`",
                    )
                groups[member] = str(group)
        categories = tuple(str(g) for g in group_map)
    else:
        raise reader.fail(key, "a derived field needs `bins` or `groups`")
    multiple_label = reader.text(definition, "multiple", key, required=False)
    if multiple_label is not None:
        if not groups:
            raise reader.fail(f"{key}.multiple", "only a field with `groups` can set `multiple`")
        categories = (*categories, multiple_label)
    unassigned = reader.mapping(definition.get("unassigned", {}), f"{key}.unassigned")
    for value, reason in unassigned.items():
        if not isinstance(reason, str) or not reason.strip():
            raise reader.fail(f"{key}.unassigned.{value}", "needs the reason as a string")
    supplied_by = definition.get("supplied_by", "derived")
    if supplied_by != "derived":
        raise reader.fail(f"{key}.supplied_by", "a derived field is supplied by `derived`")
    return FieldSpec(
        name=name,
        role=role,
        type="category",
        supplied_by="derived",
        derived_from=derived_from,
        categories=categories,
        bins=bins,
        groups=groups,
        unassigned={str(k): str(v) for k, v in unassigned.items()},
        multiple_label=multiple_label,
        target_shares=_read_targets(reader, definition, key, categories),
        description=reader.text(definition, "description", key, required=False),
    )


def _read_bins(reader: _Reader, value: Any, key: str) -> tuple[AgeBin, ...]:
    if not isinstance(value, list) or not value:
        raise reader.fail(key, "expected a non-empty list of bins with label, min and max")
    bins = []
    for i, item in enumerate(value):
        entry = reader.mapping(item, f"{key}[{i}]", ("label", "min", "max"))
        label = reader.text(entry, "label", f"{key}[{i}]")
        minimum = reader.integer(entry.get("min"), f"{key}[{i}].min")
        maximum = entry.get("max")
        if maximum is not None:
            maximum = reader.integer(maximum, f"{key}[{i}].max")
            if maximum < minimum:
                raise reader.fail(f"{key}[{i}]", f"max {maximum} is below min {minimum}")
        if bins:
            previous = bins[-1]
            if previous.maximum is None or previous.maximum + 1 != minimum:
                raise reader.fail(
                    f"{key}[{i}].min",
                    f"bins must be contiguous and ascending: bin `{label}` starts at {minimum} "
                    f"but the bin before ends at {previous.maximum}",
                )
        bins.append(AgeBin(label, minimum, maximum))
    return tuple(bins)


def _read_targets(
    reader: _Reader, definition: dict, key: str, categories: tuple[str, ...]
) -> dict[str, float]:
    targets = reader.mapping(definition.get("target_shares", {}), f"{key}.target_shares")
    for category, share in targets.items():
        if category not in categories:
            raise reader.fail(f"{key}.target_shares.{category}", "is not a category of the field")
        if not isinstance(share, int | float) or not 0 <= share <= 1:
            raise reader.fail(f"{key}.target_shares.{category}", "expected a share from 0 to 1")
    return {str(k): float(v) for k, v in targets.items()}


def _read_intersections(
    reader: _Reader, value: Any, fields: tuple[FieldSpec, ...]
) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise reader.fail("intersections", "expected a list of attribute lists")
    demographic = {f.name for f in fields if f.role == "demographic"}
    result = []
    for i, item in enumerate(value):
        attributes = reader.strings(item, f"intersections[{i}]")
        if len(attributes) < 2:
            raise reader.fail(f"intersections[{i}]", "needs at least two attributes")
        for attribute in attributes:
            if attribute not in demographic:
                raise reader.fail(
                    f"intersections[{i}]",
                    f"`{attribute}` is not a demographic field; expected one of: "
                    f"{', '.join(sorted(demographic))}",
                )
        result.append(attributes)
    return tuple(result)


def _read_dimensions(
    reader: _Reader, value: Any, fields: tuple[FieldSpec, ...]
) -> tuple[Dimension, ...]:
    section = reader.mapping(value, "dimensions")
    demographic = [f.name for f in fields if f.role == "demographic"]
    for name in section:
        if name not in demographic:
            raise reader.fail(f"dimensions.{name}", "is not a demographic field")
    dimensions = []
    for name in demographic:
        if name not in section:
            raise reader.fail(
                f"dimensions.{name}",
                "missing; every demographic field needs a definition and a rationale",
            )
        entry = reader.mapping(section[name], f"dimensions.{name}", ("definition", "rationale"))
        for part in ("definition", "rationale"):
            if entry.get(part) is None:
                raise reader.fail(
                    f"dimensions.{name}.{part}",
                    f"missing; write the {part} of `{name}` as a sentence, which the datasheet "
                    "quotes beside its numbers",
                )
        dimensions.append(
            Dimension(
                attribute=name,
                definition=reader.text(entry, "definition", f"dimensions.{name}"),
                rationale=reader.text(entry, "rationale", f"dimensions.{name}"),
            )
        )
    return tuple(dimensions)


def _read_suites(reader: _Reader, value: Any, base: Path) -> tuple[Path, ...]:
    section = reader.mapping(value, "gates", ("suites",))
    suites = []
    for i, name in enumerate(reader.strings(section.get("suites"), "gates.suites")):
        suite = (base / name).resolve()
        if not suite.is_file():
            raise reader.fail(f"gates.suites[{i}]", f"suite file {suite} not found")
        suites.append(suite)
    return tuple(suites)


def _read_datasheet(reader: _Reader, value: Any) -> dict[str, dict[str, str]]:
    section = reader.mapping(value, "datasheet", tuple(SECTIONS))
    answers: dict[str, dict[str, str]] = {}
    for name, (_, questions) in SECTIONS.items():
        entry = reader.mapping(section.get(name, {}), f"datasheet.{name}", tuple(questions))
        answers[name] = {
            q: reader.text(entry, q, f"datasheet.{name}")
            for q in questions
            if entry.get(q) is not None
        }
    return answers
