"""Verify release folders against their manifests and compare two releases of Adult.

The module publishes two real releases: the bundled Adult collection, then the same collection
after the last 500 records of adult.test were deleted, which ingests adult.test again as a new
batch that replaces the old one.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from flows.pipeline import run
from tasks.bootstrap import DIVERSITY_INDICES
from tasks.diff import diff_releases, render_changelog
from tasks.errors import ReleaseError
from tasks.verify import verify_release

ADULT_DIR = Path(__file__).resolve().parent.parent / "examples" / "adult"
SUITES_DIR = ADULT_DIR.parent.parent / "expectations" / "adult"
RAW_FILES = ("adult.data", "adult.test", "adult.names")
COUNT_DELETED_LINES = 500
COUNT_ADULT_RECORDS = 48_842
COUNT_ADULT_TEST_RECORDS = 16_281
SEX_COLUMN, RACE_COLUMN = 9, 8


@dataclass(frozen=True)
class TwoReleases:
    """The first and second release folders and the raw lines deleted in between."""

    first: Path
    second: Path
    deleted_lines: list[str]


@pytest.fixture(scope="module")
def releases(prefect_server, tmp_path_factory) -> TwoReleases:
    folder = tmp_path_factory.mktemp("adult_releases")
    collection = folder / "adult"
    collection.mkdir()
    (collection / "landing").mkdir()
    for name in RAW_FILES:
        shutil.copy2(ADULT_DIR / name, collection / name)
    spec_text = (ADULT_DIR / "collection.yaml").read_text(encoding="utf-8")
    spec = collection / "collection.yaml"
    spec.write_text(spec_text.replace("../../expectations/adult/", f"{SUITES_DIR}/"))
    warehouse = folder / "warehouse" / "adult.duckdb"
    releases_dir = folder / "releases"

    first = run(str(spec), str(warehouse), str(releases_dir))

    test_file = collection / "adult.test"
    lines = test_file.read_text(encoding="utf-8").rstrip("\n").split("\n")
    kept_lines = lines[:-COUNT_DELETED_LINES]
    deleted_lines = lines[-COUNT_DELETED_LINES:]
    test_file.write_text("\n".join(kept_lines) + "\n\n", encoding="utf-8")

    second = run(str(spec), str(warehouse), str(releases_dir))
    return TwoReleases(first.release.path, second.release.path, deleted_lines)


@pytest.fixture(scope="module")
def diff(releases) -> dict:
    return diff_releases(releases.first, releases.second)


@pytest.fixture
def release_copy(releases, tmp_path) -> Path:
    """A copy of the first release that a test may change."""
    return Path(shutil.copytree(releases.first, tmp_path / "copy"))


def count_raw_values(rows: list[list[str]], columns: tuple[int, ...]) -> Counter:
    """Count the values (joined with ` × ` for several columns) in raw Adult rows."""
    return Counter(" × ".join(row[c] for c in columns) for row in rows)


def read_raw_rows(lines: list[str]) -> list[list[str]]:
    """Parse raw Adult lines with the csv module alone, skipping comments and blank lines."""
    return [row for row in csv.reader(lines, skipinitialspace=True) if len(row) == 15]


def read_raw_file(name: str) -> list[list[str]]:
    with (ADULT_DIR / name).open(newline="", encoding="utf-8") as handle:
        return read_raw_rows(handle.read().splitlines())


def read_record_ids(folder: Path) -> set[str]:
    table = pq.read_table(folder / "data" / "records.parquet", columns=["record_id"])
    return set(table.column("record_id").to_pylist())


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def change_middle_byte(folder: Path) -> None:
    path = folder / "data" / "records.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def delete_missingness(folder: Path) -> None:
    (folder / "measurements" / "missingness.parquet").unlink()


def add_notes_file(folder: Path) -> None:
    (folder / "data" / "notes.txt").write_text("curator notes\n", encoding="utf-8")


def append_to_records(folder: Path) -> None:
    with (folder / "data" / "records.parquet").open("ab") as handle:
        handle.write(b"trailing bytes")


def fail_first_coverage_expectation(folder: Path) -> None:
    """Mark the first expectation of the coverage suite (sex has at least 100 records) failed."""
    path = folder / "validation" / "adult_coverage.json"
    validation = json.loads(path.read_text(encoding="utf-8"))
    validation["results"][0]["success"] = False
    path.write_text(json.dumps(validation), encoding="utf-8")


def lower_count_records(folder: Path) -> None:
    manifest = read_manifest(folder)
    manifest["count_records"] -= 1
    write_manifest(folder, manifest)


# Verify


@pytest.mark.parametrize(
    "which",
    [pytest.param("first", id="first_release"), pytest.param("second", id="second_release")],
)
def test_verify_passes_on_releases(releases, which):
    folder = getattr(releases, which)
    report = verify_release(folder)
    assert report.is_intact
    assert report.changed == []
    assert report.missing == []
    assert report.extra == []
    assert report.count_files_checked == len(read_manifest(folder)["files"])
    assert report.version == read_manifest(folder)["version"]
    assert report.folder == folder


@pytest.mark.parametrize(
    ("damage", "field", "expected"),
    [
        pytest.param(
            change_middle_byte, "changed", [("data/records.parquet", "sha256")], id="byte_changed"
        ),
        pytest.param(
            append_to_records,
            "changed",
            [("data/records.parquet", "sha256, bytes, rows")],
            id="bytes_appended",
        ),
        pytest.param(
            lower_count_records, "changed", [("manifest.json", "count_records")], id="count_edited"
        ),
        pytest.param(
            delete_missingness, "missing", ["measurements/missingness.parquet"], id="file_deleted"
        ),
        pytest.param(add_notes_file, "extra", ["data/notes.txt"], id="file_added"),
    ],
)
def test_verify_reports_damaged_copy(release_copy, damage, field, expected):
    damage(release_copy)
    report = verify_release(release_copy)
    assert getattr(report, field) == expected
    for other in {"changed", "missing", "extra"} - {field}:
        assert getattr(report, other) == [], other
    assert not report.is_intact


def test_verify_describe_names_paths(release_copy):
    delete_missingness(release_copy)
    add_notes_file(release_copy)
    text = verify_release(release_copy).describe()
    assert "missing  measurements/missingness.parquet" in text
    assert "extra    data/notes.txt" in text


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        pytest.param(
            lambda f: (f / "manifest.json").unlink(), "has no manifest.json", id="no_manifest"
        ),
        pytest.param(
            lambda f: (f / "manifest.json").write_text("{not json", encoding="utf-8"),
            "is not valid JSON",
            id="invalid_json",
        ),
        pytest.param(
            lambda f: (f / "manifest.json").write_text("[]", encoding="utf-8"),
            "contains a JSON list where a JSON object is expected",
            id="json_list",
        ),
        pytest.param(
            lambda f: write_manifest(f, {"version": "1.0.0", "count_records": 1}),
            "missing the keys files",
            id="no_files_key",
        ),
        pytest.param(lambda f: shutil.rmtree(f), "not found", id="no_folder"),
    ],
)
def test_verify_rejects_non_release(release_copy, prepare, message):
    prepare(release_copy)
    with pytest.raises(ReleaseError, match=message):
        verify_release(release_copy)


def test_verify_error_names_folder(tmp_path):
    with pytest.raises(ReleaseError, match=str(tmp_path)):
        verify_release(tmp_path)


def test_verify_rejects_path_outside_folder(release_copy):
    manifest = read_manifest(release_copy)
    manifest["files"][0]["path"] = "../elsewhere.parquet"
    write_manifest(release_copy, manifest)
    with pytest.raises(ReleaseError, match="is outside the release folder"):
        verify_release(release_copy)


# Diff


def test_diff_names_both_versions(releases, diff):
    old, new = read_manifest(releases.first), read_manifest(releases.second)
    assert diff["collection"] == "adult"
    assert diff["old"]["version"] == old["version"]
    assert diff["new"]["version"] == new["version"]
    assert diff["new"]["version"] != diff["old"]["version"]
    assert diff["old"]["published_at"] == old["published_at"]
    assert diff["new"]["published_at"] == new["published_at"]
    assert diff["spec_changed"] is False


def test_diff_record_counts_match_sets(releases, diff):
    old_ids, new_ids = read_record_ids(releases.first), read_record_ids(releases.second)
    assert diff["records"]["kept"] == len(old_ids & new_ids)
    assert diff["records"]["added"] == len(new_ids - old_ids)
    assert diff["records"]["removed"] == len(old_ids - new_ids)
    assert diff["records"]["change"] == len(new_ids) - len(old_ids)


def test_diff_counts_replaced_batch(diff):
    # Adult has no id column, so a record id is its file name and content: the lines that
    # the shortened adult.test kept keep their ids, and only the deleted lines are removed.
    assert diff["records"]["change"] == -COUNT_DELETED_LINES
    assert diff["records"]["removed"] == COUNT_DELETED_LINES
    assert diff["records"]["added"] == 0
    assert diff["records"]["kept"] == COUNT_ADULT_RECORDS - COUNT_DELETED_LINES


def test_diff_removals_by_reason(diff):
    assert diff["removed_by_reason"] == {
        "superseded": {
            "old": 0,
            "new": COUNT_ADULT_TEST_RECORDS,
            "change": COUNT_ADULT_TEST_RECORDS,
        }
    }


@pytest.mark.parametrize(
    ("name", "columns", "key"),
    [
        pytest.param("sex", (SEX_COLUMN,), "attribute_shifts", id="sex"),
        pytest.param("race", (RACE_COLUMN,), "attribute_shifts", id="race"),
        pytest.param("sex × race", (SEX_COLUMN, RACE_COLUMN), "intersection_shifts", id="sex_race"),
    ],
)
def test_diff_shifts_match_raw_counts(releases, diff, name, columns, key):
    old_rows = read_raw_file("adult.data") + read_raw_file("adult.test")
    old_counts = count_raw_values(old_rows, columns)
    deleted_counts = count_raw_values(read_raw_rows(releases.deleted_lines), columns)
    new_counts = old_counts - deleted_counts
    old_total, new_total = sum(old_counts.values()), sum(new_counts.values())
    assert old_total == COUNT_ADULT_RECORDS
    assert new_total == COUNT_ADULT_RECORDS - COUNT_DELETED_LINES

    group_key, value_key = (
        ("attribute", "category") if key == "attribute_shifts" else ("intersection", "cell")
    )
    shifts = {row[value_key]: row for row in diff[key] if row[group_key] == name}
    for group, count in old_counts.items():
        old_share = count / old_total
        new_share = new_counts[group] / new_total
        assert shifts[group]["old_count"] == count, group
        assert shifts[group]["new_count"] == new_counts[group], group
        assert shifts[group]["shift_pp"] == pytest.approx((new_share - old_share) * 100), group


def test_diff_lists_every_group(releases, diff):
    for key, relative in [
        ("attribute_shifts", "measurements/coverage_by_attribute.parquet"),
        ("intersection_shifts", "measurements/coverage_by_intersection.parquet"),
    ]:
        rows = pq.read_metadata(releases.second / relative).num_rows
        assert len(diff[key]) == rows, key


def test_diff_sorts_largest_shift_first(diff):
    for key in ("attribute_shifts", "intersection_shifts"):
        sizes = [abs(row["shift_pp"]) for row in diff[key]]
        assert sizes == sorted(sizes, reverse=True), key


def test_diff_finds_no_gate_change(diff):
    # Deleting 500 of 48,842 records moves no share across a gate threshold.
    assert diff["gate_changes"] == []


def test_diff_is_json_ready(diff):
    assert json.loads(json.dumps(diff)) == diff


def test_diff_of_release_with_itself(releases):
    same = diff_releases(releases.first, releases.first)
    assert same["records"]["added"] == 0
    assert same["records"]["removed"] == 0
    assert same["records"]["kept"] == COUNT_ADULT_RECORDS
    assert all(row["shift_pp"] == 0 for row in same["attribute_shifts"])
    assert same["gate_changes"] == []


def test_diff_detects_flipped_expectation(releases, release_copy):
    fail_first_coverage_expectation(release_copy)
    changes = diff_releases(releases.first, release_copy)["gate_changes"]
    assert len(changes) == 1
    assert changes[0]["suite_file"] == "adult_coverage.json"
    assert changes[0]["type"] == "expect_groups_to_have_min_count"
    assert changes[0]["kwargs"] == {"attribute": "sex", "min_count": 100}
    assert changes[0]["change"] == "now_failing"


def test_diff_detects_removed_suite(releases, release_copy):
    (release_copy / "validation" / "adult_diversity.json").unlink()
    changes = diff_releases(releases.first, release_copy)["gate_changes"]
    assert len(changes) == 2
    assert {c["suite_file"] for c in changes} == {"adult_diversity.json"}
    assert {c["change"] for c in changes} == {"removed"}
    assert {c["new_success"] for c in changes} == {None}


def test_diff_detects_spec_change(releases, release_copy):
    manifest = read_manifest(release_copy)
    manifest["spec_sha256"] = "0" * 64
    write_manifest(release_copy, manifest)
    assert diff_releases(releases.first, release_copy)["spec_changed"] is True


@pytest.mark.parametrize("side", [pytest.param("old", id="old"), pytest.param("new", id="new")])
def test_diff_rejects_non_release(releases, tmp_path, side):
    pair = {"old": releases.first, "new": releases.second, side: tmp_path}
    with pytest.raises(ReleaseError, match="has no manifest.json"):
        diff_releases(pair["old"], pair["new"])


def test_diff_rejects_other_collection(releases, release_copy):
    manifest = read_manifest(release_copy)
    manifest["collection"] = "other"
    write_manifest(release_copy, manifest)
    with pytest.raises(ReleaseError, match="different collections"):
        diff_releases(releases.first, release_copy)


def test_diff_rejects_missing_coverage(releases, release_copy):
    (release_copy / "measurements" / "coverage_by_attribute.parquet").unlink()
    with pytest.raises(ReleaseError, match="has no measurements/coverage_by_attribute.parquet"):
        diff_releases(releases.first, release_copy)


def test_diff_rejects_broken_validation(releases, release_copy):
    (release_copy / "validation" / "adult_coverage.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ReleaseError, match="is invalid: expected a GX validation result"):
        diff_releases(releases.first, release_copy)


# Changelog


def test_changelog_mentions_counts(diff):
    text = render_changelog(diff)
    for count in ("48,842", "48,342", "500 fewer"):
        assert count in text, count


def test_changelog_names_removal_reason(diff):
    text = render_changelog(diff)
    assert "| replaced by a later batch of the same file | 0 | 16,281 | +16,281 |" in text


def test_changelog_puts_largest_shift_first(diff):
    text = render_changelog(diff)
    section = text.split("## Share of each group\n", 1)[1]
    first_row = section.split("|---|", 1)[1].split("\n")[1]
    top = diff["attribute_shifts"][0]
    assert first_row.startswith(f"| {top['attribute']} | {top['category']} |")


def test_changelog_lists_gate_change(releases, release_copy):
    fail_first_coverage_expectation(release_copy)
    text = render_changelog(diff_releases(releases.first, release_copy))
    row = (
        "| adult_coverage.json | expect_groups_to_have_min_count(attribute='sex', "
        "min_count=100) | blocking | passed | failed |"
    )
    assert row in text
    assert "1 gate result changed" in text


def test_changelog_reports_no_gate_change(diff):
    text = render_changelog(diff)
    assert "no gate result changed" in text


def sex_evenness(rows: list[list[str]]) -> float:
    """Pielou evenness of sex over two declared groups, from raw rows."""
    counts = count_raw_values(rows, (SEX_COLUMN,))
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values()) / math.log(2)


def test_first_release_has_no_parent_indices(releases):
    stability = pl.read_parquet(releases.first / "measurements" / "index_stability.parquet")
    datasheet = (releases.first / "datasheet.md").read_text(encoding="utf-8")

    assert stability.height == 4 * len(DIVERSITY_INDICES)
    assert stability["parent_value"].null_count() == stability.height
    assert "There is no earlier release to compare with." in datasheet


def test_second_release_compares_indices(releases):
    stability = pl.read_parquet(releases.second / "measurements" / "index_stability.parquet")
    row = stability.filter(
        (pl.col("attribute") == "sex") & (pl.col("index_name") == "evenness")
    ).row(0, named=True)
    all_rows = read_raw_file("adult.data") + read_raw_file("adult.test")
    test_lines = (ADULT_DIR / "adult.test").read_text(encoding="utf-8").rstrip("\n").split("\n")
    kept_rows = read_raw_file("adult.data") + read_raw_rows(test_lines[:-COUNT_DELETED_LINES])

    assert len(all_rows) - len(kept_rows) == COUNT_DELETED_LINES
    assert row["parent_version"] == "1.0.0"
    assert row["parent_value"] == pytest.approx(sex_evenness(all_rows))
    assert row["value"] == pytest.approx(sex_evenness(kept_rows))
    assert row["change"] == pytest.approx(sex_evenness(kept_rows) - sex_evenness(all_rows))
    assert row["is_parent_inside_interval"] is (
        row["value_lower"] <= row["parent_value"] <= row["value_upper"]
    )


def test_second_datasheet_shows_stability(releases):
    datasheet = (releases.second / "datasheet.md").read_text(encoding="utf-8")
    section = datasheet.split("### Stability since the previous release\n", 1)[1]

    assert "beside its value in release 1.0.0" in section
    assert "| sex | evenness |" in section
