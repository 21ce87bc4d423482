"""The whole job on the bundled Adult collection, run as Prefect flows."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from flows.pipeline import run
from flows.release import release
from tasks.datasheet_questions import SECTIONS
from tasks.errors import ReleaseError
from tests.conftest import PUBLISHED_RELEASES

ADULT_DIR = Path(__file__).resolve().parent.parent / "examples" / "adult"
SEX_COLUMN, RACE_COLUMN, INCOME_COLUMN = 9, 8, 14


def count_raw_groups(column: int) -> Counter:
    """Count a column's values straight from the raw files, with the csv module alone."""
    counts: Counter = Counter()
    for name in ("adult.data", "adult.test"):
        with (ADULT_DIR / name).open(newline="") as handle:
            for row in csv.reader(handle, skipinitialspace=True):
                if len(row) == 15:
                    counts[row[column]] += 1
    return counts


def datasheet_groups(datasheet: str, attribute: str) -> dict[str, tuple[int, float]]:
    """Read the records and share of each group from the datasheet's table for `attribute`."""
    section = datasheet.split(f"#### {attribute}\n", 1)[1].split("\n#### ", 1)[0]
    rows = re.findall(r"^\| ([^|]+?) \| ([\d,]+) \| ([\d.]+)% \|", section, flags=re.MULTILINE)
    return {group: (int(count.replace(",", "")), float(share)) for group, count, share in rows}


@pytest.fixture(scope="module")
def adult_run(prefect_server, tmp_path_factory, adult_spec):
    folder = tmp_path_factory.mktemp("adult")
    warehouse = folder / "warehouse" / "adult.duckdb"
    releases = folder / "releases"
    report = run(str(adult_spec), str(warehouse), str(releases))
    PUBLISHED_RELEASES.append(report)
    return report, warehouse, releases


def test_run_ingests_every_adult_record(adult_run):
    report, _, _ = adult_run
    assert [b.rows_read for b in report.batches] == [32_561, 16_281]
    assert sum(b.rows_loaded for b in report.batches) == 48_842
    assert sum(b.rows_quarantined for b in report.batches) == 0


@pytest.mark.parametrize(
    ("attribute", "column"),
    [pytest.param("sex", SEX_COLUMN, id="sex"), pytest.param("race", RACE_COLUMN, id="race")],
)
def test_datasheet_shares_match_raw_files(adult_run, attribute, column):
    report, _, _ = adult_run
    datasheet = (report.release.path / "datasheet.md").read_text()
    raw = count_raw_groups(column)
    published = datasheet_groups(datasheet, attribute)
    total = sum(raw.values())
    assert total == 48_842
    assert set(published) == set(raw)
    for group, (count, share) in published.items():
        assert count == raw[group], group
        assert share == pytest.approx(round(100 * raw[group] / total, 2)), group


def test_gates_warn_on_adult_gaps(adult_run):
    report, _, _ = adult_run
    assert report.gates.outcome == "warned"
    assert report.gates.blocking_failures == []
    warnings = "\n".join(r.summary for r in report.gates.warnings)
    assert "Female (observed 0.3315)" in warnings
    assert "Other (observed 0.008313)" in warnings
    assert "Amer-Indian-Eskimo (observed 0.009623)" in warnings


def test_release_folder_holds_every_output(adult_run):
    report, _, releases = adult_run
    folder = report.release.path
    assert folder == releases / "1.0.0"
    assert report.release.count_records == 48_842
    assert (folder / "data" / "records.parquet").is_file()
    assert (folder / "datasheet.md").is_file()
    assert (folder / "datasheet.html").is_file()
    assert (folder / "croissant.json").is_file()
    assert (folder / "README.md").read_text().startswith("---\n")
    assert sorted(p.name for p in (folder / "validation").iterdir()) == [
        "adult_associations.json",
        "adult_coverage.json",
        "adult_diversity.json",
        "adult_intersections.json",
        "adult_missingness.json",
    ]
    assert not list(releases.glob(".building-*"))


def test_manifest_matches_files_on_disk(adult_run, adult_spec):
    report, _, _ = adult_run
    folder = report.release.path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "1.0.0"
    assert manifest["parent_version"] is None
    assert manifest["spec_sha256"] == hashlib.sha256(adult_spec.read_bytes()).hexdigest()
    listed = {entry["path"] for entry in manifest["files"]}
    on_disk = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    for entry in manifest["files"]:
        path = folder / entry["path"]
        assert entry["bytes"] == path.stat().st_size, entry["path"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), entry["path"]
        if path.suffix == ".parquet":
            assert entry["rows"] == pq.read_metadata(path).num_rows, entry["path"]
    records = next(e for e in manifest["files"] if e["path"] == "data/records.parquet")
    assert records["rows"] == 48_842


def test_datasheet_has_seven_sections(adult_run):
    report, _, _ = adult_run
    datasheet = (report.release.path / "datasheet.md").read_text()
    headings = re.findall(r"^## \d\. (.+)$", datasheet, flags=re.MULTILINE)
    assert headings == [title for title, _ in SECTIONS.values()]
    funded = datasheet.split("**Who funded the creation of the dataset?**", 1)[1]
    assert funded.strip().startswith("Not provided in the collection spec.")


def test_warehouse_registers_release_members(adult_run):
    _, warehouse, _ = adult_run
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        releases = connection.execute("select version, count_records from releases").fetchall()
        members = connection.execute("select count(*) from release_members").fetchall()
    assert releases == [("1.0.0", 48_842)]
    assert members == [(48_842,)]


def test_rerun_publishes_nothing_new(adult_run, adult_spec):
    _, warehouse, releases = adult_run
    again = run(str(adult_spec), str(warehouse), str(releases))
    assert all(batch.already_ingested for batch in again.batches)
    assert again.release.is_new is False
    assert again.release.version == "1.0.0"
    assert sorted(p.name for p in releases.iterdir()) == [
        ".publish.lock",
        "1.0.0",
        "index.html",
        "latest",
    ]
    assert (releases / "latest").resolve() == releases / "1.0.0"


def test_existing_version_is_not_overwritten(adult_run, adult_spec):
    _, warehouse, releases = adult_run
    datasheet = releases / "1.0.0" / "datasheet.md"
    before = datasheet.read_bytes()
    with pytest.raises(ReleaseError, match="release 1.0.0 already exists"):
        release(str(adult_spec), str(warehouse), str(releases), "1.0.0")
    assert datasheet.read_bytes() == before
    assert not list(releases.glob(".building-*"))


def test_release_loads_in_common_tools(adult_run):
    report, _, _ = adult_run
    path = report.release.path / "data" / "records.parquet"
    with duckdb.connect() as connection:
        duckdb_rows = connection.execute("select count(*) from read_parquet(?)", [str(path)])
        assert duckdb_rows.fetchall() == [(48_842,)]
    assert pl.read_parquet(path).height == 48_842
    frame = pd.read_parquet(path)
    assert len(frame) == 48_842
    assert frame["sex"].value_counts().to_dict() == {"Male": 32_650, "Female": 16_192}


def test_published_croissant_validates(adult_run):
    report, _, _ = adult_run
    mlcroissant = Path(sys.executable).parent / "mlcroissant"
    result = subprocess.run(
        [str(mlcroissant), "validate", "--jsonld", str(report.release.path / "croissant.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def count_raw_sex_income() -> Counter:
    """Count (sex, income) in the raw files; the test file ends its income labels with `.`."""
    counts: Counter = Counter()
    for name in ("adult.data", "adult.test"):
        with (ADULT_DIR / name).open(newline="") as handle:
            for row in csv.reader(handle, skipinitialspace=True):
                if len(row) == 15:
                    counts[(row[SEX_COLUMN], row[INCOME_COLUMN].rstrip("."))] += 1
    return counts


def test_adult_sensitive_pair_warns(adult_run):
    report, _, _ = adult_run
    [result] = [
        r
        for r in report.gates.results
        if r.expectation_type == "expect_sensitive_associations_to_have_max_cramers_v"
    ]

    assert result.severity == "warning"
    assert not result.is_success
    assert result.observed["failing_groups"]["sex × income"] == pytest.approx(0.215, abs=0.005)
    assert report.release.is_new


def test_adult_bias_alignment_members(adult_run):
    report, _, _ = adult_run
    members = pl.read_parquet(report.release.path / "data" / "bias_alignment_members.parquet")
    raw = count_raw_sex_income()
    counts = Counter(members.select("category", "value", "alignment").iter_rows())

    # 30.4% of men and 10.9% of women earn over 50K against 23.9% overall, so men over 50K
    # and women at or under 50K are the bias-aligned cells.
    assert counts == {
        ("Male", ">50K", "aligned"): raw[("Male", ">50K")],
        ("Male", "<=50K", "conflicting"): raw[("Male", "<=50K")],
        ("Female", "<=50K", "aligned"): raw[("Female", "<=50K")],
        ("Female", ">50K", "conflicting"): raw[("Female", ">50K")],
    }
    assert members["record_id"].n_unique() == 48_842


def test_adult_datasheet_defines_bias_alignment(adult_run):
    report, _, _ = adult_run
    datasheet = (report.release.path / "datasheet.md").read_text()
    section = datasheet.split("### Bias-aligned and bias-conflicting records\n", 1)[1]
    raw = count_raw_sex_income()

    assert "lower end of its 95% Wilson interval" in section
    assert f"| sex | Male | income | >50K | 1.27 | {raw[('Male', '>50K')]:,} |" in section


def test_adult_datasheet_shows_share_intervals(adult_run):
    report, _, _ = adult_run
    folder = report.release.path
    datasheet = (folder / "datasheet.md").read_text()
    coverage = pl.read_parquet(folder / "measurements" / "coverage_by_attribute.parquet")
    section = datasheet.split("#### sex\n", 1)[1].split("\n#### ", 1)[0]

    assert "| group | records | share | 95% interval | target share | flag |" in section
    for row in coverage.filter(pl.col("attribute") == "sex").iter_rows(named=True):
        width = 2 * 1.959964 * math.sqrt(row["share"] * (1 - row["share"]) / 48_842)
        shown = f"{100 * row['share_lower']:.2f}% to {100 * row['share_upper']:.2f}%"

        assert f"| {row['category']} | {row['count_members']:,} |" in section
        assert shown in section, row["category"]
        assert row["share_upper"] - row["share_lower"] == pytest.approx(width, rel=0.25)


def test_adult_datasheet_quotes_dimensions(adult_run, adult_spec):
    report, _, _ = adult_run
    datasheet = (report.release.path / "datasheet.md").read_text()
    dimensions = yaml.safe_load(adult_spec.read_text())["dimensions"]

    assert set(dimensions) == {"sex", "race", "age_group", "region"}
    for attribute, entry in dimensions.items():
        section = datasheet.split(f"#### {attribute}\n", 1)[1].split("\n#### ", 1)[0]
        definition_at = section.index(f"*Definition:* {entry['definition'].strip()}")
        rationale_at = section.index(f"*Why it matters:* {entry['rationale'].strip()}")
        table_at = section.index("| group | records | share |")

        assert definition_at < rationale_at < table_at, attribute


def test_adult_sex_divergence_from_parity(adult_run):
    report, _, _ = adult_run
    folder = report.release.path
    diversity = pl.read_parquet(folder / "measurements" / "diversity_by_attribute.parquet")
    row = diversity.filter(pl.col("attribute") == "sex").row(0, named=True)
    raw = count_raw_groups(SEX_COLUMN)
    shares = [raw["Female"] / 48_842, raw["Male"] / 48_842]
    middle = [(share + 0.5) / 2 for share in shares]
    divergence = sum(
        share / 2 * math.log2(share / m) + 0.25 * math.log2(0.5 / m)
        for share, m in zip(shares, middle, strict=True)
    )
    datasheet = (folder / "datasheet.md").read_text()

    assert row["js_divergence_from_target"] == pytest.approx(divergence)
    assert row["js_divergence_from_target_lower"] < divergence
    assert divergence < row["js_divergence_from_target_upper"]
    assert f"*Jensen-Shannon divergence from the target shares:* {divergence:.3f} bits" in datasheet
    assert "*Declared categories present:* 5 of 5 (100%)." in datasheet
