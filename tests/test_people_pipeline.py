"""The whole job on a FHIBE-layout collection: consent, withdrawal, process, privacy, media."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pytest
from PIL import ExifTags, Image

from flows.pipeline import run
from flows.withdraw import withdraw
from tasks.consent import releases_containing
from tasks.errors import GateBlockedError, WarehouseError
from tasks.spec import load_spec
from tests.conftest import FACES_DIR
from tests.fhibe_fixture import (
    SUBJECTS,
    add_labels,
    build_fhibe_collection,
    empty_image_file,
    set_appearance_cell,
    write_malformed_json,
)
from tests.fhibe_spec import PEOPLE_SUITES, write_fhibe_spec
from tests.test_agreement import cohens_kappa, krippendorffs_alpha

GPS_IMAGE = "data/raw/fhibe_downsampled/s01/img01/main_img01.png"


def add_gps(path: Path) -> None:
    """Write a camera make and a GPS position into the EXIF of the image at `path`."""
    with Image.open(path) as image:
        image.load()
        exif = Image.Exif()
        exif[ExifTags.Base.Make] = "Canon"
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps[ExifTags.GPS.GPSLatitude] = (6.0, 27.0, 14.0)
        image.save(path, exif=exif)


def exif_of(path: Path) -> Image.Exif:
    with Image.open(path) as image:
        return image.getexif()


@pytest.fixture
def collection(tmp_path: Path):
    """Build the fixture collection and return a function that writes its spec."""
    root = build_fhibe_collection(tmp_path / "release")

    def write_spec(**options) -> Path:
        return write_fhibe_spec(tmp_path, root, **options)

    return root, write_spec


def run_collection(spec_path: Path, tmp_path: Path):
    return run(str(spec_path), str(tmp_path / "w.duckdb"), str(tmp_path / "releases"))


def released(report, table: str) -> pl.DataFrame:
    return pl.read_parquet(report.release.path / "data" / f"{table}.parquet")


def test_first_release_leaves_out_withdrawn(prefect_server, collection, tmp_path):
    _, write_spec = collection
    report = run_collection(write_spec(), tmp_path)

    records = released(report, "records")
    assert report.release.count_records == 11
    assert "s04" not in records["subject_id"].to_list()
    assert "img07" not in released(report, "images")["image_id"].to_list()
    assert "img07" not in released(report, "annotations")["image_id"].to_list()
    manifest = json.loads((report.release.path / "manifest.json").read_text())
    assert manifest["removed_by_reason"] == {"withdrawn": 1}


def test_release_keeps_both_people_of_image(prefect_server, collection, tmp_path):
    _, write_spec = collection
    report = run_collection(write_spec(), tmp_path)

    records = released(report, "records").filter(pl.col("image_id") == "img08")
    assert sorted(records["subject_id"].to_list()) == ["s05", "s06"]
    assert records.filter(pl.col("is_primary"))["subject_id"].to_list() == ["s05"]


def test_released_images_lose_gps(prefect_server, collection, tmp_path):
    root, write_spec = collection
    add_gps(root / GPS_IMAGE)
    report = run_collection(write_spec(), tmp_path)

    copy = report.release.path / "images" / GPS_IMAGE
    assert ExifTags.IFD.GPSInfo in exif_of(root / GPS_IMAGE)
    assert ExifTags.IFD.GPSInfo not in exif_of(copy)
    assert exif_of(copy)[ExifTags.Base.Make] == "Canon"
    datasheet = (report.release.path / "datasheet.md").read_text()
    assert "1 carried GPS coordinates" in datasheet


def test_withdrawal_removes_subject_everywhere(prefect_server, collection, tmp_path):
    _, write_spec = collection
    spec_path = write_spec()
    first = run_collection(spec_path, tmp_path)

    report = withdraw(str(spec_path), ["s02"], warehouse=str(tmp_path / "w.duckdb"))
    second = run_collection(spec_path, tmp_path)

    assert report.count_recorded == 1
    assert report.releases_containing == ("1.0.0",)
    before = released(first, "records")
    after = released(second, "records")
    removed = before.join(after, on="record_id", how="anti")
    assert sorted(removed["record_id"].to_list()) == [
        "img02:s01",
        "img02:s02",
        "img03:s02",
        "img04:s02",
    ]
    assert set(after["image_id"]) == set(before["image_id"]) - {"img02", "img03", "img04"}
    annotations = released(second, "annotations")
    assert annotations.filter(pl.col("subject_id") == "s02").height == 0
    assert annotations.filter(pl.col("image_id").is_in(["img02", "img03", "img04"])).height == 0
    assert not list((second.release.path / "images").rglob("main_img03.png"))


def test_withdrawn_subject_traced_not_published(prefect_server, collection, tmp_path):
    _, write_spec = collection
    spec_path = write_spec()
    run_collection(spec_path, tmp_path)
    withdraw(str(spec_path), ["s02"], warehouse=str(tmp_path / "w.duckdb"))
    second = run_collection(spec_path, tmp_path)

    spec = load_spec(spec_path)
    assert releases_containing(spec, tmp_path / "w.duckdb", "s02") == ["1.0.0"]
    assert releases_containing(spec, tmp_path / "w.duckdb", "s01") == ["1.0.0", "1.0.1"]
    public_text = (second.release.path / "datasheet.md").read_text()
    public_text += (second.release.path / "manifest.json").read_text()
    assert "s02" not in public_text
    manifest = json.loads((second.release.path / "manifest.json").read_text())
    assert manifest["removed_by_reason"] == {"withdrawn": 4, "withdrawn_co_subject": 1}


def test_second_person_without_consent_blocks(prefect_server, collection, tmp_path):
    root, write_spec = collection
    consent = root / "data" / "consent" / "consent_events.csv"
    rows = list(csv.reader(consent.open()))
    consent.write_text("\n".join(",".join(f'"{c}"' for c in r) for r in rows if r[0] != "s06"))

    with pytest.raises(GateBlockedError) as raised:
        run_collection(write_spec(), tmp_path)

    message = str(raised.value)
    assert "have no consent grant on record" in message
    assert "img08 / s06 (observed has_consent False)" in message
    assert "img10 / s06" in message
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())


def test_person_below_local_majority_blocks(prefect_server, collection, tmp_path):
    _, write_spec = collection
    with pytest.raises(GateBlockedError) as raised:
        run_collection(write_spec(majority={"United States": 21}), tmp_path)

    message = str(raised.value)
    assert "younger than the age of majority" in message
    assert "img08 / s06 (observed is_adult_at_capture False)" in message


def test_personal_data_in_text_blocks(prefect_server, collection, tmp_path):
    root, write_spec = collection
    set_appearance_cell(root, "img05", "s03", "scene", "Office, write to ana@example.org")

    with pytest.raises(GateBlockedError) as raised:
        run_collection(write_spec(), tmp_path)

    assert "scene / email_address (observed count_rows 1)" in str(raised.value)


def test_underpaid_annotator_blocks(prefect_server, collection, tmp_path):
    _, write_spec = collection
    with pytest.raises(GateBlockedError) as raised:
        run_collection(write_spec(india_wage=900), tmp_path)

    message = str(raised.value)
    assert (
        "ann03 (observed is_paid_enough False, role annotator, pay_check below the pay floor)"
        in message
    )


def test_empty_image_quarantined_with_counts(prefect_server, collection, tmp_path):
    root, write_spec = collection
    empty_image_file(root, "img08")

    report = run_collection(write_spec(), tmp_path)

    batch = report.batches[0]
    assert batch.rows_read == 12
    assert batch.rows_quarantined == 2
    assert batch.rows_loaded == 10
    assert "img08" not in released(report, "records")["image_id"].to_list()


def lfw_spec(folder: Path) -> Path:
    """Write an image-folder spec over the LFW face crops, which have no consent records."""
    spec = f"""\
spec_version: 1
collection:
  name: lfw_crops
  title: LFW face crops
  purpose: Check that photos gathered without consent are never released.
source:
  format: image_folder
  root: {FACES_DIR}
  metadata: {FACES_DIR / "lfw_manifest.csv"}
  image_column: file
fields:
  kind:
    role: context
    type: text
    supplied_by: derived
dimensions: {{}}
consent:
  required_scopes: [evaluation]
gates:
  suites: ["{PEOPLE_SUITES / "consent.json"}"]
"""
    path = folder / "lfw.yaml"
    path.write_text(spec)
    return path


def test_lfw_crops_blocked_by_consent(prefect_server, tmp_path):
    with pytest.raises(GateBlockedError) as raised:
        run_collection(lfw_spec(tmp_path), tmp_path)

    message = str(raised.value)
    assert "the collection has no consent records at all" in message
    assert "(observed 0)" in message
    assert "lfw_0000.png / lfw_0000.png (observed has_consent False)" in message
    assert "and 80 more" in message


def test_unknown_category_holds_back_image(prefect_server, collection, tmp_path):
    root, write_spec = collection
    set_appearance_cell(root, "img02", "s02", "natural_skin_color", "7. VII")

    report = run_collection(write_spec(), tmp_path)

    batch = report.batches[0]
    assert batch.rows_read == batch.rows_loaded + batch.rows_quarantined
    assert batch.rows_quarantined == 2
    assert "img02" not in released(report, "records")["image_id"].to_list()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        stages = connection.sql("select * from coverage_by_stage").pl()
    published = pl.read_parquet(report.release.path / "measurements" / "coverage_by_stage.parquet")
    # One person withdrew, fewer than the small-cell size: only released shares are published.
    assert published["stage"].unique().to_list() == ["released"]
    read_total = stages.filter((pl.col("stage") == "read") & (pl.col("attribute") == "age_group"))
    loaded_total = stages.filter(
        (pl.col("stage") == "loaded") & (pl.col("attribute") == "age_group")
    )
    assert read_total["count_members"].sum() == 12
    assert loaded_total["count_members"].sum() == 10


def test_malformed_json_quarantines_image(prefect_server, collection, tmp_path):
    root, write_spec = collection
    write_malformed_json(root, "img09")

    report = run_collection(write_spec(), tmp_path)

    batch = report.batches[0]
    assert batch.rows_read == batch.rows_loaded + batch.rows_quarantined
    assert batch.rows_quarantined == 1
    assert "img09" not in released(report, "records")["image_id"].to_list()
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        codes = connection.execute(
            "select reason_codes from quarantine where source_line is null"
        ).fetchall()
    assert codes == [(["malformed_json"],)]


def test_repeated_withdrawal_is_counted(prefect_server, collection, tmp_path):
    _, write_spec = collection
    spec_path = write_spec()
    run_collection(spec_path, tmp_path)
    warehouse = str(tmp_path / "w.duckdb")

    first = withdraw(str(spec_path), ["s02"], warehouse=warehouse)
    again = withdraw(str(spec_path), ["s02"], warehouse=warehouse)

    assert first.count_recorded == 1
    assert again.count_recorded == 0
    assert again.count_already_withdrawn == 1


def test_unknown_subject_trace_raises(prefect_server, collection, tmp_path):
    _, write_spec = collection
    spec_path = write_spec()
    run_collection(spec_path, tmp_path)

    with pytest.raises(WarehouseError, match="subject id 'nobody' not found"):
        releases_containing(load_spec(spec_path), tmp_path / "w.duckdb", "nobody")


def test_label_reliability_published(prefect_server, collection, tmp_path):
    root, write_spec = collection
    # ann01 copies each person's own Fitzpatrick type, and ann02 labels everyone VI.
    add_labels(
        root,
        "natural_skin_color",
        lambda subject: [("ann01", SUBJECTS[subject].natural_skin_color), ("ann02", "6. VI")],
    )
    report = run_collection(write_spec(), tmp_path)
    people = released(report, "records").select("image_id", "subject_id").rows()
    own = [SUBJECTS[subject].natural_skin_color.split(". ")[1] for _, subject in people]
    measurements = report.release.path / "measurements"
    kappa = pl.read_parquet(measurements / "self_report_agreement.parquet").row(0, named=True)
    alpha = pl.read_parquet(measurements / "annotator_agreement.parquet").row(0, named=True)
    datasheet = (report.release.path / "datasheet.md").read_text()

    assert len(people) == 11
    assert kappa["attribute"] == "natural_skin_color"
    assert kappa["count_pairs"] == 22
    assert kappa["cohens_kappa"] == pytest.approx(
        cohens_kappa([(value, value) for value in own] + [(value, "VI") for value in own])
    )
    assert alpha["count_units"] == 11
    assert alpha["krippendorffs_alpha"] == pytest.approx(
        krippendorffs_alpha([[value, "VI"] for value in own])
    )
    assert "### Reliability of labels" in datasheet
    assert f"| natural_skin_color | 22 | {100 * (len(own) + own.count('VI')) / 22:.2f}% |" in (
        datasheet
    )


def test_bootstrap_draws_whole_subjects(prefect_server, collection, tmp_path):
    _, write_spec = collection
    report = run_collection(write_spec(), tmp_path)
    people = released(report, "records").select("subject_id", "natural_skin_color").rows()
    expected: Counter = Counter()
    for subject, count in Counter(subject for subject, _ in people).items():
        skin = next(value for who, value in people if who == subject)
        expected[((skin, count),)] += 1
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select profile, count_subjects from subject_profiles "
            "where measure_kind = 'attribute' and measure = 'natural_skin_color'"
        ).fetchall()
    profiles = {
        tuple((entry["group_name"], entry["count_records"]) for entry in profile): count
        for profile, count in rows
    }

    assert any(count > 1 for _, count in Counter(s for s, _ in people).items())
    assert profiles == dict(expected)
