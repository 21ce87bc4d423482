"""The HTML datasheet, the dataset card and the releases index, built from a real Adult release."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from flows.pipeline import RunReport, run
from tasks import markdown as md
from tasks.dataset_card import render_dataset_card, render_releases_index
from tasks.datasheet import DatasheetInputs, render_datasheet
from tasks.datasheet_html import render_datasheet_html
from tasks.spec import load_spec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = PROJECT_ROOT / "build" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Flags that turn off Chromium's own background requests (component updates, sync, QUIC).
# Debian's chromium 156 still looks up Google's update and sign-in hosts with only those, so
# the host resolver rule resolves every name to "not found" locally. A net log of a run with
# all these flags showed no DNS query and no connection, only a UDP connect() that probes IPv6
# routing and sends nothing.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
WINDOW_SIZE = "--window-size=1280,4800"
FIGURE_IDS = (
    "coverage-sex",
    "coverage-race",
    "coverage-age_group",
    "coverage-region",
    "heatmap-sex-race",
    "heatmap-sex-age_group",
    "heatmap-race-region",
    "heatmap-sex-race-age_group",
    "diversity",
    "filter-impact",
    "shift",
)
ADULT_RECORDS = 48_842
ADULT_SMALL_CELLS = 13
THREE_WAY_INTERSECTION = "sex × race × age_group"


@dataclass(frozen=True)
class AdultRelease:
    """One Adult release built by the flows, and the HTML datasheet rendered from it."""

    report: RunReport
    inputs: DatasheetInputs
    markdown_text: str
    page: str
    page_path: Path


def read_datasheet_inputs(report: RunReport, warehouse: Path, spec_path: Path) -> DatasheetInputs:
    """Rebuild the datasheet's inputs from the release folder, the warehouse and the flow report."""
    folder = report.release.path
    manifest = json.loads((folder / "manifest.json").read_text())
    measurements = {
        path.stem: pl.read_parquet(path)
        for path in sorted((folder / "measurements").glob("*.parquet"))
    }
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        batches = connection.sql("select * from batches order by ingested_at, source_file").pl()
    removed = manifest["removed_by_reason"]
    removals = pl.DataFrame(
        {"reason": list(removed), "count_records": list(removed.values())},
        schema={"reason": pl.String, "count_records": pl.Int64},
    )
    return DatasheetInputs(
        spec=load_spec(spec_path),
        version=manifest["version"],
        parent_version=manifest["parent_version"],
        published_at=datetime.fromisoformat(manifest["published_at"]),
        gates=report.gates,
        measurements=measurements,
        batches=batches,
        data_files=[(f["path"], f["rows"]) for f in manifest["files"] if f["rows"] is not None],
        removals=removals,
        count_records=manifest["count_records"],
    )


def figure_html(page: str, figure_id: str) -> str:
    """Return the `<figure>` element with this id, or an empty string when there is none."""
    match = re.search(rf'<figure id="{re.escape(figure_id)}">.*?</figure>', page, re.DOTALL)
    return match.group(0) if match else ""


def front_matter(card: str) -> dict:
    """Parse the YAML between the card's opening `---` line and the next one."""
    _, block, _ = card.split("---\n", 2)
    return yaml.safe_load(block)


@pytest.fixture(scope="module")
def adult(prefect_server, tmp_path_factory, adult_spec) -> AdultRelease:
    folder = tmp_path_factory.mktemp("adult_html")
    warehouse = folder / "w.duckdb"
    report = run(str(adult_spec), str(warehouse), str(folder / "releases"))
    inputs = read_datasheet_inputs(report, warehouse, adult_spec)
    markdown_text = (report.release.path / "datasheet.md").read_text(encoding="utf-8")
    page = render_datasheet_html(inputs, markdown_text, None)
    page_path = folder / "site" / "datasheet.html"
    page_path.parent.mkdir()
    page_path.write_text(page, encoding="utf-8")
    return AdultRelease(report, inputs, markdown_text, page, page_path)


def test_page_has_every_figure(adult):
    for figure_id in FIGURE_IDS:
        assert f'<figure id="{figure_id}">' in adult.page, figure_id


def test_every_figure_has_caption(adult):
    for figure_id in FIGURE_IDS:
        assert "<figcaption>" in figure_html(adult.page, figure_id), figure_id


def test_page_loads_no_remote_resources(adult):
    page = adult.page
    sources = re.findall(r"""\bsrc\s*=\s*["']?([^"'\s>]+)""", page, re.IGNORECASE)
    css_urls = re.findall(r"""url\(\s*["']?([^"')]+)""", page, re.IGNORECASE)
    assert [s for s in sources if re.match(r"(https?:)?//", s)] == []
    assert [u for u in css_urls if re.match(r"(https?:)?//", u)] == []
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page.lower()


def test_page_links_only_homepage_or_doi(adult):
    about = adult.inputs.spec.about
    allowed = {about["homepage"], *re.findall(r"https://doi\.org/\S+", about["citation"])}
    links = re.findall(r"""\bhref\s*=\s*["']([^"']+)""", adult.page, re.IGNORECASE)
    remote = {link for link in links if re.match(r"(https?:)?//", link)}
    assert remote <= allowed


@pytest.mark.parametrize("attribute", ["sex", "race"])
def test_coverage_figure_shows_shares(adult, attribute):
    figure = figure_html(adult.page, f"coverage-{attribute}")
    coverage = adult.inputs.measurements["coverage_by_attribute"]
    rows = coverage.filter(pl.col("attribute") == attribute)
    assert rows.height > 0
    for row in rows.iter_rows(named=True):
        assert md.percent(row["share"]) in figure, row["category"]
        assert md.count(row["count_members"]) in figure, row["category"]


def test_coverage_figure_marks_targets_and_small(adult):
    coverage = adult.inputs.measurements["coverage_by_attribute"].with_columns(
        pl.when(pl.col("category") == "Other")
        .then(pl.lit(0.05))
        .otherwise(pl.col("target_share"))
        .alias("target_share"),
        (pl.col("is_small") | (pl.col("category") == "Other")).alias("is_small"),
    )
    measurements = {**adult.inputs.measurements, "coverage_by_attribute": coverage}
    page = render_datasheet_html(
        replace(adult.inputs, measurements=measurements), adult.markdown_text, None
    )
    figure = figure_html(page, "coverage-race")
    assert "0.83% (406), target 5.00%, small" in figure
    assert "A black tick marks the target share" in figure
    assert 'stroke="#111111"' in figure


def test_heatmap_marks_small_cells(adult):
    figure = figure_html(adult.page, "heatmap-sex-race-age_group")
    cells = adult.inputs.measurements["coverage_by_intersection"]
    measured = int(cells.filter(pl.col("intersection") == THREE_WAY_INTERSECTION)["is_small"].sum())
    assert measured == ADULT_SMALL_CELLS
    assert figure.count('class="cell small"') == ADULT_SMALL_CELLS


def test_heatmap_draws_every_cell(adult):
    figure = figure_html(adult.page, "heatmap-sex-race-age_group")
    drawn = len(re.findall(r'<g class="cell[ "]', figure))
    assert drawn == 2 * 5 * 6


def test_heatmap_marks_empty_cells(adult):
    empty_cell = "Female × Amer-Indian-Eskimo × 65+"
    cells = adult.inputs.measurements["coverage_by_intersection"].with_columns(
        pl.when(pl.col("cell") == empty_cell)
        .then(pl.lit(0))
        .otherwise(pl.col("count_members"))
        .alias("count_members"),
        (pl.col("is_empty") | (pl.col("cell") == empty_cell)).alias("is_empty"),
        (pl.col("is_small") & (pl.col("cell") != empty_cell)).alias("is_small"),
    )
    measurements = {**adult.inputs.measurements, "coverage_by_intersection": cells}
    page = render_datasheet_html(
        replace(adult.inputs, measurements=measurements), adult.markdown_text, None
    )
    figure = figure_html(page, "heatmap-sex-race-age_group")
    assert figure.count('class="cell empty"') == 1
    assert figure.count('class="cell small"') == ADULT_SMALL_CELLS - 1


def test_waterfall_totals_add_up(adult):
    figure = figure_html(adult.page, "filter-impact")
    steps = {
        key: int(count)
        for key, count in re.findall(r'data-step="([^"]+)" data-count="(\d+)"', figure)
    }
    removed = sum(count for key, count in steps.items() if key.startswith("removed-"))
    assert steps["read"] == ADULT_RECORDS
    assert steps["read"] == steps["loaded"] + steps["quarantined"]
    assert steps["released"] == steps["loaded"] - removed
    assert steps["released"] == adult.inputs.count_records


def test_waterfall_lists_every_removal(adult):
    figure = figure_html(adult.page, "filter-impact")
    for reason in adult.inputs.removals["reason"]:
        assert f'data-step="removed-{reason}"' in figure, reason


def test_shift_notes_first_release(adult):
    figure = figure_html(adult.page, "shift")
    assert "first release" in figure
    assert "<svg" not in figure


def test_shift_shows_change_since_parent(adult):
    previous = (
        adult.inputs.measurements["coverage_by_attribute"]
        .with_columns(
            pl.when(pl.col("category") == "Female")
            .then(pl.lit(0.30))
            .when(pl.col("category") == "Male")
            .then(pl.lit(0.70))
            .otherwise(pl.col("share"))
            .alias("share")
        )
        .filter(pl.col("category") != "Other")
    )
    inputs = replace(adult.inputs, version="1.1.0", parent_version="1.0.0")
    figure = figure_html(render_datasheet_html(inputs, adult.markdown_text, previous), "shift")
    assert "<svg" in figure
    assert "from release 1.0.0 to release 1.1.0" in figure
    assert "30.00% → 33.15% (+3.15 pp)" in figure
    assert "70.00% → 66.85% (−3.15 pp)" in figure
    assert "0.00% → 0.83% (+0.83 pp)" in figure


def test_page_escapes_markup_in_text(adult):
    spec = adult.inputs.spec
    spec = replace(spec, about={**spec.about, "title": "Census & survey <extract>"})
    inputs = replace(adult.inputs, spec=spec)
    markdown_text = render_datasheet(inputs) + "\nA note with <script>alert(1)</script> inside.\n"
    page = render_datasheet_html(inputs, markdown_text, None)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "<extract>" not in page
    assert "Census &amp; survey &lt;extract&gt;" in page


def test_page_replaces_markdown_images(adult):
    markdown_text = adult.markdown_text + "\n![a chart](https://example.org/chart.png)\n"
    page = render_datasheet_html(adult.inputs, markdown_text, None)
    assert "<img" not in page
    assert "[image: a chart]" in page


def test_card_front_matter_parses(adult):
    metadata = front_matter(render_dataset_card(adult.inputs))
    assert metadata["license"] == "cc-by-4.0"
    assert metadata["size_categories"] == ["10K<n<100K"]
    assert metadata["pretty_name"] == adult.inputs.spec.about["title"]
    assert metadata["configs"] == [{"config_name": "default", "data_files": "data/records.parquet"}]
    assert "task_categories" not in metadata


@pytest.mark.parametrize(
    ("count_records", "bucket"),
    [
        pytest.param(0, "n<1K", id="empty"),
        pytest.param(999, "n<1K", id="below_1k"),
        pytest.param(1_000, "1K<n<10K", id="exactly_1k"),
        pytest.param(ADULT_RECORDS, "10K<n<100K", id="adult"),
        pytest.param(250_000, "100K<n<1M", id="quarter_million"),
    ],
)
def test_card_size_category_buckets(adult, count_records, bucket):
    inputs = replace(adult.inputs, count_records=count_records)
    assert front_matter(render_dataset_card(inputs))["size_categories"] == [bucket]


@pytest.mark.parametrize(
    ("licence", "identifier"),
    [
        pytest.param("CC BY 4.0", "cc-by-4.0", id="cc_by"),
        pytest.param("CC BY-SA 4.0", "cc-by-sa-4.0", id="cc_by_sa"),
        pytest.param("CC0 1.0", "cc0-1.0", id="cc0"),
        pytest.param("ODbL", "odbl", id="odbl"),
        pytest.param("Apache License 2.0", "apache-2.0", id="apache"),
        pytest.param("Research use only", "other", id="unlisted"),
        pytest.param(None, "unknown", id="missing"),
    ],
)
def test_card_maps_licence_to_hub(adult, licence, identifier):
    spec = replace(adult.inputs.spec, about={**adult.inputs.spec.about, "licence": licence})
    metadata = front_matter(render_dataset_card(replace(adult.inputs, spec=spec)))
    assert metadata["license"] == identifier


def test_card_names_unlisted_licence(adult):
    about = {**adult.inputs.spec.about, "licence": "Research use only"}
    spec = replace(adult.inputs.spec, about=about)
    metadata = front_matter(render_dataset_card(replace(adult.inputs, spec=spec)))
    assert metadata["license_name"] == "research-use-only"


def test_card_body_lists_shares_and_gates(adult):
    card = render_dataset_card(adult.inputs)
    body = card.split("---\n", 2)[2]
    assert "| sex | Female | 16,192 | 33.15% |" in body
    assert "| race | Other | 406 | 0.83% |" in body
    assert f"**{adult.report.gates.outcome}**" in body
    assert "CC BY 4.0" in body
    assert "https://doi.org/10.24432/C5XW20" in body


def test_index_lists_newest_first(adult):
    manifest = json.loads((adult.report.release.path / "manifest.json").read_text())
    published = datetime.fromisoformat(manifest["published_at"])
    releases = [
        {
            "version": manifest["version"],
            "published_at": manifest["published_at"],
            "count_records": manifest["count_records"],
            "gate_outcome": manifest["gate_outcome"],
        },
        {
            "version": "1.1.0",
            "published_at": published + timedelta(days=30),
            "count_records": 48_000,
            "gate_outcome": "passed",
        },
        {
            "version": "0.9.0",
            "published_at": (published - timedelta(days=30)).isoformat(),
            "count_records": 40_000,
            "gate_outcome": "warned",
        },
    ]
    index = render_releases_index(releases)
    positions = [index.index(f">{version}</a>") for version in ("1.1.0", "1.0.0", "0.9.0")]
    assert positions == sorted(positions)
    assert '<a href="1.0.0/datasheet.html">1.0.0</a>' in index
    assert md.count(ADULT_RECORDS) in index


def test_index_without_releases(adult):
    assert "No release has been published yet." in render_releases_index([])


@pytest.fixture
def chromium() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and shutil.which("chromium"):
        found = Path(shutil.which("chromium"))
    if found is None:
        pytest.skip(
            f"Chromium not installed: {CHROMIUM} not found and no `chromium` on PATH; "
            "install Debian's chromium package to run the browser checks"
        )
    return found


def run_chromium(chromium: Path, tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once with a new empty profile and the offline flags."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run(
        [str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_browser_screenshot_is_not_blank(adult, chromium, tmp_path):
    blank_page = tmp_path / "blank.html"
    blank_page.write_text("<!DOCTYPE html><html><body></body></html>\n")
    screenshot = tmp_path / "datasheet.png"
    blank_screenshot = tmp_path / "blank.png"

    page_run = run_chromium(
        chromium, tmp_path, WINDOW_SIZE, f"--screenshot={screenshot}", adult.page_path.as_uri()
    )
    blank_run = run_chromium(
        chromium, tmp_path, WINDOW_SIZE, f"--screenshot={blank_screenshot}", blank_page.as_uri()
    )
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    if screenshot.exists():
        shutil.copyfile(screenshot, ARTIFACTS_DIR / "datasheet.png")

    assert page_run.returncode == 0, page_run.stderr[-2000:]
    assert blank_run.returncode == 0, blank_run.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > blank_screenshot.stat().st_size


def test_browser_dom_has_figures(adult, chromium, tmp_path):
    dumped = run_chromium(chromium, tmp_path, "--dump-dom", adult.page_path.as_uri())
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    for figure_id in FIGURE_IDS:
        assert f'id="{figure_id}"' in dumped.stdout, figure_id
    assert "<svg" in dumped.stdout
