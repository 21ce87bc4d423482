"""Tests for the FHIBE release-layout adapter on the fixture collection of tests/fhibe_fixture.py.

Each bad-input case breaks one thing in a freshly built collection and checks its quarantine
row, its message, and that every row read is either loaded or quarantined.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tasks.adapters.fhibe import (
    FhibeBatch,
    check_fhibe_counts,
    normalise_country_key,
    read_fhibe,
)
from tasks.errors import InputFileError
from tests.fhibe_fixture import (
    ANNOTATOR_CSV,
    CONSENT_CSV,
    FIXTURE_COUNTRY_MAP,
    METADATA_CSV,
    QA_ANNOTATOR_CSV,
    add_annotated_subject,
    append_duplicate_appearance,
    build_fhibe_collection,
    empty_image_file,
    image_folder,
    metadata_line,
    remove_annotation_file,
    remove_image_file,
    set_appearance_cell,
    set_cell,
    write_malformed_json,
)

RELEASE_NAME = "fhibe.20250708.a.1_downsampled_public"
METADATA_NAME = "fhibe_downsampled.csv"


@pytest.fixture
def fhibe_root(tmp_path: Path) -> Path:
    return build_fhibe_collection(tmp_path / RELEASE_NAME)


@pytest.fixture(scope="module")
def clean_batch(tmp_path_factory) -> FhibeBatch:
    root = build_fhibe_collection(tmp_path_factory.mktemp("clean") / RELEASE_NAME)
    return read_fhibe(root, FIXTURE_COUNTRY_MAP)


def appearance(batch: FhibeBatch, image_id: str, subject_id: str) -> dict:
    [row] = batch.appearances.filter(
        (pl.col("image_id") == image_id) & (pl.col("subject_id") == subject_id)
    ).to_dicts()
    return row


def annotator(batch: FhibeBatch, annotator_id: str) -> dict:
    [row] = batch.annotators.filter(pl.col("annotator_id") == annotator_id).to_dicts()
    return row


def quarantined_from(batch: FhibeBatch, source_file: str) -> int:
    return batch.quarantine.filter(pl.col("source_file") == source_file).height


# Clean collection


@pytest.mark.parametrize(
    ("frame", "height"),
    [
        pytest.param("appearances", 12, id="appearances"),
        pytest.param("images", 10, id="images"),
        pytest.param("annotations", 24, id="annotations"),
        pytest.param("annotators", 4, id="annotators"),
        pytest.param("consent_events", 7, id="consent_events"),
        pytest.param("quarantine", 0, id="quarantine"),
    ],
)
def test_clean_fixture_frame_heights(clean_batch, frame, height):
    assert getattr(clean_batch, frame).height == height


@pytest.mark.parametrize(
    ("source_file", "rows"),
    [
        pytest.param(METADATA_CSV, 12, id="metadata"),
        pytest.param(ANNOTATOR_CSV, 3, id="annotators"),
        pytest.param(QA_ANNOTATOR_CSV, 1, id="qa_annotators"),
        pytest.param(CONSENT_CSV, 7, id="consent"),
    ],
)
def test_rows_read_per_csv(clean_batch, source_file, rows):
    assert clean_batch.rows_read[source_file] == rows


def test_rows_read_one_per_json(clean_batch):
    json_counts = [n for path, n in clean_batch.rows_read.items() if path.endswith(".json")]
    assert json_counts == [1] * 10


def test_appearance_column_types(clean_batch):
    expected = {
        "record_id": pl.String,
        "image_id": pl.String,
        "subject_id": pl.String,
        "is_primary": pl.Boolean,
        "age": pl.Int64,
        "pronoun": pl.List(pl.String),
        "ancestry": pl.List(pl.String),
        "nationality": pl.List(pl.String),
        "natural_skin_color": pl.String,
        "natural_skin_color_code": pl.Int64,
        "location_country": pl.String,
        "location_region": pl.String,
        "user_hour_captured": pl.String,
        "capture_date": pl.Date,
        "source_line": pl.Int64,
        "scene": pl.String,
    }
    assert dict(clean_batch.appearances.schema) == expected


def test_quarantine_columns_exact(clean_batch):
    assert dict(clean_batch.quarantine.schema) == {
        "batch_id": pl.String,
        "source_file": pl.String,
        "source_line": pl.Int64,
        "reason_codes": pl.List(pl.String),
        "reasons": pl.List(pl.String),
        "raw_record": pl.String,
    }


@pytest.mark.parametrize(
    ("column", "labels"),
    [
        pytest.param("pronoun", ["She/her/hers", "They/them/their"], id="pronoun"),
        pytest.param("ancestry", ["Southern Asia", "Northern Europe"], id="ancestry"),
        pytest.param("nationality", ["Pakistani", "British"], id="nationality"),
    ],
)
def test_multi_select_labels_parsed(clean_batch, column, labels):
    assert appearance(clean_batch, "img05", "s03")[column] == labels


def test_skin_color_code_split(clean_batch):
    row = appearance(clean_batch, "img05", "s03")
    assert row["natural_skin_color_code"] == 4
    assert row["natural_skin_color"] == "IV"


def test_record_id_and_line(clean_batch):
    row = appearance(clean_batch, "img08", "s06")
    assert row["record_id"] == "img08:s06"
    assert row["source_line"] == metadata_line("img08", "s06")


def test_capture_date_parsed(clean_batch):
    assert appearance(clean_batch, "img01", "s01")["capture_date"] == date(2023, 2, 14)


@pytest.mark.parametrize("image_id", ["img02", "img08"])
def test_two_person_image_one_primary(clean_batch, image_id):
    rows = clean_batch.appearances.filter(pl.col("image_id") == image_id)
    assert rows.height == 2
    assert rows["is_primary"].sum() == 1


@pytest.mark.parametrize(
    ("image_id", "primary"),
    [pytest.param("img02", "s01", id="img02"), pytest.param("img08", "s05", id="img08")],
)
def test_image_records_primary_subject(clean_batch, image_id, primary):
    [row] = clean_batch.images.filter(pl.col("image_id") == image_id).to_dicts()
    assert row["primary_subject_id"] == primary
    assert row["path"] == f"data/raw/fhibe_downsampled/{primary}/{image_id}/main_{image_id}.png"
    assert row["json_path"] == (
        f"data/raw/fhibe_downsampled/{primary}/{image_id}/main_annos_{image_id}.json"
    )


def test_image_size_from_json(clean_batch):
    [row] = clean_batch.images.filter(pl.col("image_id") == "img02").to_dicts()
    assert (row["width"], row["height"]) == (512, 600)
    assert (row["camera_make"], row["camera_model"]) == ("Canon", "EOS 80D")


def test_image_without_camera_null(clean_batch):
    [row] = clean_batch.images.filter(pl.col("image_id") == "img09").to_dicts()
    assert row["camera_make"] is None
    assert row["camera_model"] is None


def test_annotations_per_subject(clean_batch):
    rows = clean_batch.annotations.filter(pl.col("image_id") == "img08")
    assert sorted(rows["subject_id"].to_list()) == ["s05", "s05", "s06", "s06"]
    assert set(rows["supplied_by"]) == {"annotator"}


def test_annotation_value_json_text(clean_batch):
    [row] = clean_batch.annotations.filter(
        (pl.col("image_id") == "img01") & (pl.col("attribute") == "face_bbox")
    ).to_dicts()
    assert json.loads(row["value"]) == [64, 64, 128, 128]
    assert row["qa_annotator_id"] == "qa01"


@pytest.mark.parametrize(
    ("image_id", "subject_id", "country", "region"),
    [
        pytest.param("img01", "s01", "Nigeria", "Western Africa", id="nugeria"),
        pytest.param("img05", "s03", "Pakistan", "Southern Asia", id="pakisatn"),
        pytest.param("img08", "s05", "Brazil", "South America", id="brasil"),
        pytest.param("img10", "s06", "United States", "Northern America", id="case_and_spaces"),
    ],
)
def test_misspelled_countries_normalised(clean_batch, image_id, subject_id, country, region):
    row = appearance(clean_batch, image_id, subject_id)
    assert row["location_country"] == country
    assert row["location_region"] == region


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("Nugeria", "nugeria", id="lower_case"),
        pytest.param("  united   STATES ", "united states", id="spaces_collapsed"),
        pytest.param("Côte\td'Ivoire", "côte d'ivoire", id="tab_and_accent"),
    ],
)
def test_normalise_country_key(text, key):
    assert normalise_country_key(text) == key


def test_country_map_keys_normalised(fhibe_root):
    country_map = {f"  {key.upper()} ": target for key, target in FIXTURE_COUNTRY_MAP.items()}
    batch = read_fhibe(fhibe_root, country_map)
    assert batch.quarantine.height == 0


def test_conflicting_country_keys_raise(fhibe_root):
    country_map = {**FIXTURE_COUNTRY_MAP, "NUGERIA": ("Niger", "Western Africa")}
    with pytest.raises(ValueError, match="normalise to 'nugeria' with different values"):
        read_fhibe(fhibe_root, country_map)


def test_extra_column_kept_as_string(clean_batch):
    assert appearance(clean_batch, "img01", "s01")["scene"] == "3. Indoor: Office"


@pytest.mark.parametrize(
    ("annotator_id", "disclosed"),
    [
        pytest.param("ann01", True, id="ann01"),
        pytest.param("ann02", True, id="ann02"),
        pytest.param("ann03", False, id="ann03_undisclosed"),
        pytest.param("qa01", True, id="qa01"),
    ],
)
def test_annotator_disclosure_flag(clean_batch, annotator_id, disclosed):
    assert annotator(clean_batch, annotator_id)["has_disclosed_demographics"] is disclosed


def test_undisclosed_annotator_fields_null(clean_batch):
    row = annotator(clean_batch, "ann03")
    assert row["age"] is None
    assert row["pronoun"] is None
    assert row["ancestry"] is None
    assert row["pay_per_hour"] == 450.0


def test_disclosed_annotator_fields(clean_batch):
    row = annotator(clean_batch, "ann01")
    assert row["age"] == 31
    assert row["pronoun"] == ["She/her/hers"]
    assert row["ancestry"] == ["Eastern Africa"]
    assert (row["country"], row["currency"]) == ("Kenya", "KES")


@pytest.mark.parametrize(
    ("annotator_id", "role"),
    [pytest.param("ann02", "annotator", id="annotator"), pytest.param("qa01", "qa", id="qa")],
)
def test_annotator_role_from_file(clean_batch, annotator_id, role):
    assert annotator(clean_batch, annotator_id)["role"] == role


def test_consent_withdrawal_parsed(clean_batch):
    events = clean_batch.consent_events.filter(pl.col("subject_id") == "s04").sort("signed_on")
    assert events["event"].to_list() == ["granted", "withdrawn"]
    assert events["signed_on"].to_list() == [date(2023, 2, 20), date(2024, 2, 10)]


def test_consent_scopes_parsed(clean_batch):
    [row] = clean_batch.consent_events.filter(pl.col("subject_id") == "s01").to_dicts()
    assert row["scopes"] == ["evaluation", "training"]
    assert row["source_line"] == 2


def test_consent_file_absent(tmp_path):
    root = build_fhibe_collection(tmp_path / RELEASE_NAME, with_consent=False)
    batch = read_fhibe(root, FIXTURE_COUNTRY_MAP)
    assert batch.has_consent_records is False
    assert batch.consent_events.height == 0
    assert batch.consent_events.columns == [
        "subject_id",
        "event",
        "form_version",
        "scopes",
        "signed_on",
        "jurisdiction",
        "country_of_residence",
        "source_line",
    ]
    assert CONSENT_CSV not in batch.rows_read


def test_consent_records_flag(clean_batch):
    assert clean_batch.has_consent_records is True


# Batch id


def test_batch_id_stable_across_reads(fhibe_root):
    first = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    second = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert first.batch_id == second.batch_id


def test_batch_id_changes_with_json(fhibe_root):
    before = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP).batch_id
    path = image_folder(fhibe_root, "img03") / "main_annos_img03.json"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"ILCE-7M3", b"ILCE-7M4", 1))
    after = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP).batch_id
    assert after != before


def test_batch_id_ignores_image_bytes(fhibe_root):
    before = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP).batch_id
    path = image_folder(fhibe_root, "img03") / "main_img03.png"
    path.write_bytes(path.read_bytes() + b"\0")
    after = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP).batch_id
    assert after == before


def test_quarantine_rows_carry_batch_id(fhibe_root):
    set_appearance_cell(fhibe_root, "img09", "s05", "age", "sixty")
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert batch.quarantine["batch_id"].to_list() == [batch.batch_id]


# Bad input: each case breaks one thing and returns the quarantine rows it expects


@dataclasses.dataclass(frozen=True)
class Expected:
    """One quarantine row that a bad input must produce."""

    source_file: str
    source_line: int | None
    code: str
    fragments: tuple[str, ...]  # text that the message for `code` must contain
    held_image: str | None = None  # an image that must be missing from `images`


def cell_case(
    image_id: str, subject_id: str, column: str, value: str, code: str, shown: str | None = None
) -> Callable[[Path], list[Expected]]:
    """Build a case that sets one cell of an appearance row and expects `code` on that line."""

    def inject(root: Path) -> list[Expected]:
        line = set_appearance_cell(root, image_id, subject_id, column, value)
        fragments = (METADATA_NAME, f"line {line}", shown or f'"{value}"')
        return [Expected(METADATA_CSV, line, code, fragments, held_image=image_id)]

    return inject


def duplicate_row(root: Path) -> list[Expected]:
    line = append_duplicate_appearance(root, "img07", "s04")
    first = metadata_line("img07", "s04")
    fragments = (METADATA_NAME, f"line {line}", '"img07"', f"already appears on line {first}")
    return [Expected(METADATA_CSV, line, "duplicate_appearance", fragments)]


def two_primaries(root: Path) -> list[Expected]:
    line = set_appearance_cell(root, "img08", "s06", "is_primary", "True")
    fragments = (METADATA_NAME, f"line {line}", '"img08" has 2 rows with is_primary True')
    return [Expected(METADATA_CSV, line, "primary_subject_count", fragments, "img08")]


def no_primary(root: Path) -> list[Expected]:
    line = set_appearance_cell(root, "img01", "s01", "is_primary", "False")
    fragments = (METADATA_NAME, f"line {line}", '"img01" has 0 rows with is_primary True')
    return [Expected(METADATA_CSV, line, "primary_subject_count", fragments, "img01")]


def malformed_json(root: Path) -> list[Expected]:
    json_path = write_malformed_json(root, "img03")
    line = metadata_line("img03", "s02")
    return [
        Expected(json_path, None, "malformed_json", (json_path, "invalid JSON at line")),
        Expected(METADATA_CSV, line, "annotations_unreadable", (json_path,), "img03"),
    ]


def json_without_attribute(root: Path) -> list[Expected]:
    path = image_folder(root, "img06") / "main_annos_img06.json"
    document = json.loads(path.read_text())
    del document["subject_annotation"][0]["annotations"][1]["attribute"]
    path.write_text(json.dumps(document))
    json_path = path.relative_to(root).as_posix()
    fragment = "`subject_annotation[0].annotations[1].attribute` is missing"
    return [Expected(json_path, None, "malformed_json", (json_path, fragment), "img06")]


def json_width_not_integer(root: Path) -> list[Expected]:
    path = image_folder(root, "img04") / "main_annos_img04.json"
    document = json.loads(path.read_text())
    document["image"]["width"] = "wide"
    path.write_text(json.dumps(document))
    json_path = path.relative_to(root).as_posix()
    fragment = '`image.width` is "wide", not a JSON integer'
    return [Expected(json_path, None, "malformed_json", (json_path, fragment), "img04")]


def missing_json(root: Path) -> list[Expected]:
    json_path = remove_annotation_file(root, "img04")
    line = metadata_line("img04", "s02")
    return [Expected(METADATA_CSV, line, "annotations_missing", (json_path,), "img04")]


def missing_image(root: Path) -> list[Expected]:
    image_path = remove_image_file(root, "img04")
    line = metadata_line("img04", "s02")
    fragments = (image_path, "is not found")
    return [Expected(METADATA_CSV, line, "image_missing", fragments, "img04")]


def empty_image(root: Path) -> list[Expected]:
    image_path = empty_image_file(root, "img05")
    line = metadata_line("img05", "s03")
    fragments = (image_path, "is empty (0 bytes)")
    return [Expected(METADATA_CSV, line, "image_empty", fragments, "img05")]


def stranger_in_json(root: Path) -> list[Expected]:
    json_path = add_annotated_subject(root, "img09", "s04")
    line = metadata_line("img09", "s05")
    fragments = (json_path, "annotates subject s04")
    return [Expected(METADATA_CSV, line, "annotation_subject_mismatch", fragments, "img09")]


def secondary_quarantined(root: Path) -> list[Expected]:
    set_appearance_cell(root, "img02", "s02", "location_country", "Atlantis")
    line = metadata_line("img02", "s01")
    fragments = (METADATA_NAME, f"line {line}", "another row quarantined (line 4)")
    return [Expected(METADATA_CSV, line, "image_incomplete", fragments, "img02")]


def short_line(root: Path) -> list[Expected]:
    with (root / METADATA_CSV).open("a") as file:
        file.write("s01,img11,True\n")
    fragments = (METADATA_NAME, "line 14", "line has 3 fields; expected 13")
    return [Expected(METADATA_CSV, 14, "malformed_line", fragments)]


def annotator_cell(
    source_file: str, annotator_id: str, column: str, value: str, code: str
) -> Callable[[Path], list[Expected]]:
    def inject(root: Path) -> list[Expected]:
        line = set_cell(root / source_file, {"annotator_id": annotator_id}, column, value)
        fragments = (source_file.rsplit("/", 1)[-1], f"line {line}", f'"{value}"')
        return [Expected(source_file, line, code, fragments)]

    return inject


def consent_cell(
    subject_id: str, event: str, column: str, value: str, code: str
) -> Callable[[Path], list[Expected]]:
    def inject(root: Path) -> list[Expected]:
        match = {"subject_id": subject_id, "event": event}
        line = set_cell(root / CONSENT_CSV, match, column, value)
        fragments = ("consent_events.csv", f"line {line}", f'"{value}"')
        return [Expected(CONSENT_CSV, line, code, fragments)]

    return inject


EVAL_PAYLOAD = "__import__('os').getcwd()"

BAD_INPUTS = [
    pytest.param(
        cell_case("img05", "s03", "pronoun", "She/her/hers", "invalid_literal:pronoun"),
        id="cell_not_literal",
    ),
    pytest.param(
        cell_case("img06", "s03", "ancestry", EVAL_PAYLOAD, "invalid_literal:ancestry"),
        id="cell_with_code",
    ),
    pytest.param(
        cell_case("img07", "s04", "nationality", "'63. German'", "invalid_literal:nationality"),
        id="literal_not_list",
    ),
    pytest.param(
        cell_case("img07", "s04", "pronoun", "[0, 1]", "invalid_literal:pronoun"),
        id="list_of_numbers",
    ),
    pytest.param(
        cell_case("img03", "s02", "pronoun", "['He/him/his']", "invalid_numbered_value:pronoun"),
        id="list_element_unnumbered",
    ),
    pytest.param(
        cell_case(
            "img04",
            "s02",
            "natural_skin_color",
            "III",
            "invalid_numbered_value:natural_skin_color",
        ),
        id="skin_color_unnumbered",
    ),
    pytest.param(
        cell_case(
            "img09",
            "s05",
            "location_country",
            " Atlantis",
            "unknown_country",
            shown='"Atlantis" (key "atlantis")',
        ),
        id="unknown_country",
    ),
    pytest.param(
        cell_case("img10", "s06", "age", "nineteen", "not_integer:age"), id="age_not_integer"
    ),
    pytest.param(
        cell_case(
            "img01", "s01", "user_hour_captured", "25:00", "unknown_category:user_hour_captured"
        ),
        id="hour_window_unknown",
    ),
    pytest.param(
        cell_case("img01", "s01", "capture_date", "2023-02-30", "invalid_date:capture_date"),
        id="date_impossible",
    ),
    pytest.param(
        cell_case("img02", "s02", "is_primary", "yes", "not_boolean:is_primary"),
        id="is_primary_not_boolean",
    ),
    pytest.param(
        cell_case("img10", "s06", "image_id", "../img10", "invalid_id:image_id"),
        id="image_id_with_separator",
    ),
    pytest.param(duplicate_row, id="duplicate_appearance"),
    pytest.param(two_primaries, id="two_primaries"),
    pytest.param(no_primary, id="no_primary"),
    pytest.param(secondary_quarantined, id="other_row_of_image_failed"),
    pytest.param(short_line, id="short_line"),
    pytest.param(malformed_json, id="json_malformed"),
    pytest.param(json_without_attribute, id="json_attribute_missing"),
    pytest.param(json_width_not_integer, id="json_width_not_integer"),
    pytest.param(missing_json, id="json_missing"),
    pytest.param(missing_image, id="image_missing"),
    pytest.param(empty_image, id="image_zero_bytes"),
    pytest.param(stranger_in_json, id="json_annotates_stranger"),
    pytest.param(
        annotator_cell(ANNOTATOR_CSV, "ann02", "pay_per_hour", "lots", "not_number:pay_per_hour"),
        id="pay_not_number",
    ),
    pytest.param(
        annotator_cell(ANNOTATOR_CSV, "ann01", "currency", "dollars", "invalid_currency"),
        id="currency_not_iso",
    ),
    pytest.param(
        annotator_cell(
            QA_ANNOTATOR_CSV,
            "qa01",
            "annotator_ancestry",
            "Eastern Europe",
            "invalid_literal:annotator_ancestry",
        ),
        id="qa_ancestry_not_literal",
    ),
    pytest.param(
        consent_cell("s02", "granted", "event", "revoked", "unknown_category:event"),
        id="consent_event_unknown",
    ),
    pytest.param(
        consent_cell("s03", "granted", "scopes", "evaluation", "invalid_literal:scopes"),
        id="consent_scopes_not_literal",
    ),
    pytest.param(
        consent_cell("s04", "withdrawn", "signed_on", "10/02/2024", "invalid_date:signed_on"),
        id="consent_date_not_iso",
    ),
]


def find_quarantine_row(batch: FhibeBatch, expected: Expected) -> dict:
    line = pl.col("source_line")
    at_line = line.is_null() if expected.source_line is None else line == expected.source_line
    [row] = batch.quarantine.filter(
        (pl.col("source_file") == expected.source_file) & at_line
    ).to_dicts()
    return row


@pytest.mark.parametrize("inject", BAD_INPUTS)
def test_bad_input_quarantined(fhibe_root, inject):
    expectations = inject(fhibe_root)
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)

    for expected in expectations:
        row = find_quarantine_row(batch, expected)
        assert expected.code in row["reason_codes"]
        message = row["reasons"][row["reason_codes"].index(expected.code)]
        for fragment in expected.fragments:
            assert fragment in message


@pytest.mark.parametrize("inject", BAD_INPUTS)
def test_bad_input_counts_reconcile(fhibe_root, inject):
    inject(fhibe_root)
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)

    for source_file, loaded in [
        (METADATA_CSV, batch.appearances.height),
        (ANNOTATOR_CSV, batch.annotators.filter(pl.col("role") == "annotator").height),
        (QA_ANNOTATOR_CSV, batch.annotators.filter(pl.col("role") == "qa").height),
        (CONSENT_CSV, batch.consent_events.height),
    ]:
        assert batch.rows_read[source_file] == loaded + quarantined_from(batch, source_file)


@pytest.mark.parametrize("inject", BAD_INPUTS)
def test_bad_input_holds_back_image(fhibe_root, inject):
    held_images = {e.held_image for e in inject(fhibe_root) if e.held_image is not None}
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)

    assert batch.images.height == 10 - len(held_images)
    for image_id in held_images:
        assert image_id not in batch.images["image_id"].to_list()
        assert image_id not in batch.appearances["image_id"].to_list()
        assert image_id not in batch.annotations["image_id"].to_list()


def test_duplicate_keeps_first_row(fhibe_root):
    append_duplicate_appearance(fhibe_root, "img07", "s04")
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert appearance(batch, "img07", "s04")["source_line"] == metadata_line("img07", "s04")
    assert "img07" in batch.images["image_id"].to_list()


def test_cell_with_code_not_executed(fhibe_root):
    # Python's eval would turn this cell into the valid list ['0. <working directory>'].
    payload = "['0. ' + __import__('os').getcwd()]"
    line = set_appearance_cell(fhibe_root, "img06", "s03", "ancestry", payload)
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    [row] = batch.quarantine.filter(pl.col("source_line") == line).to_dicts()
    assert row["reason_codes"] == ["invalid_literal:ancestry"]
    assert str(Path.cwd()) not in row["reasons"][0]
    assert "img06" not in batch.appearances["image_id"].to_list()


def test_raw_record_as_written(fhibe_root):
    line = set_appearance_cell(fhibe_root, "img09", "s05", "location_country", "Atlantis")
    written = (fhibe_root / METADATA_CSV).read_text().splitlines()[line - 1]
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    [row] = batch.quarantine.filter(pl.col("source_line") == line).to_dicts()
    assert row["raw_record"] == written


def test_failing_row_lists_every_reason(fhibe_root):
    line = set_appearance_cell(fhibe_root, "img09", "s05", "age", "old")
    set_appearance_cell(fhibe_root, "img09", "s05", "location_country", "Atlantis")
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    [row] = batch.quarantine.filter(pl.col("source_line") == line).to_dicts()
    assert row["reason_codes"] == ["not_integer:age", "unknown_country"]
    assert len(row["reasons"]) == 2


def test_malformed_json_raw_record_cut(fhibe_root):
    path = image_folder(fhibe_root, "img03") / "main_annos_img03.json"
    broken = path.read_text() + "trailing text" * 300
    path.write_text(broken)
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    [row] = batch.quarantine.filter(pl.col("source_line").is_null()).to_dicts()
    assert row["raw_record"] == broken[:2000]


def test_malformed_json_still_hashed(fhibe_root):
    json_path = write_malformed_json(fhibe_root, "img03")
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert batch.rows_read[json_path] == 1


def test_line_numbers_follow_line_breaks(fhibe_root):
    set_appearance_cell(fhibe_root, "img01", "s01", "scene", "Indoor\nOffice")
    set_appearance_cell(fhibe_root, "img03", "s02", "age", "forty")
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert appearance(batch, "img01", "s01")["scene"] == "Indoor\nOffice"
    [row] = batch.quarantine.to_dicts()
    assert row["source_line"] == metadata_line("img03", "s02") + 1


def test_crlf_line_endings_read(fhibe_root):
    line = set_appearance_cell(fhibe_root, "img04", "s02", "age", "forty")
    path = fhibe_root / METADATA_CSV
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    batch = read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)
    assert batch.appearances.height == 11
    [row] = batch.quarantine.to_dicts()
    assert row["source_line"] == line
    assert not row["raw_record"].endswith("\r")


# Guards


@pytest.mark.parametrize(
    "relative_path",
    [
        pytest.param(METADATA_CSV, id="metadata"),
        pytest.param(ANNOTATOR_CSV, id="annotators"),
        pytest.param(QA_ANNOTATOR_CSV, id="qa_annotators"),
    ],
)
def test_missing_csv_raises(fhibe_root, relative_path):
    (fhibe_root / relative_path).unlink()
    file_name = relative_path.rsplit("/", 1)[-1]
    with pytest.raises(InputFileError, match=rf"{file_name}: file not found"):
        read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)


def test_missing_column_raises(fhibe_root):
    path = fhibe_root / METADATA_CSV
    path.write_text(path.read_text().replace("capture_date", "captured_on", 1))
    with pytest.raises(InputFileError, match="header has no column capture_date"):
        read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)


def test_reserved_column_raises(fhibe_root):
    path = fhibe_root / METADATA_CSV
    path.write_text(path.read_text().replace("scene", "source_line", 1))
    with pytest.raises(InputFileError, match="'source_line' is empty or a name the adapter adds"):
        read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)


def test_non_utf8_csv_raises(fhibe_root):
    path = fhibe_root / ANNOTATOR_CSV
    path.write_bytes(path.read_bytes().replace(b"Kenya", b"K\xe9nya"))
    with pytest.raises(InputFileError, match="is not valid UTF-8"):
        read_fhibe(fhibe_root, FIXTURE_COUNTRY_MAP)


def test_check_counts_detects_lost_row(clean_batch):
    lost_row = dataclasses.replace(clean_batch, appearances=clean_batch.appearances.slice(1))
    with pytest.raises(RuntimeError, match="12 rows read but 11 loaded"):
        check_fhibe_counts(lost_row)


def test_check_counts_detects_image_gap(clean_batch):
    no_images = dataclasses.replace(clean_batch, images=clean_batch.images.head(0))
    with pytest.raises(RuntimeError, match="appearances of images not in `images`"):
        check_fhibe_counts(no_images)
