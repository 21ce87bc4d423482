"""Write a release's dataset card (the README.md that the Hugging Face Hub reads) and the
releases index page.

The card's YAML front matter follows the Hub's dataset-card metadata: `license` takes one of
the identifiers listed at https://huggingface.co/docs/hub/repositories-licenses, and
`size_categories` one of the Hub's record-count buckets.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

import yaml

from tasks import markdown as md
from tasks.datasheet import DatasheetInputs
from tasks.datasheet_html import PAGE_CSS

# The Hub's identifiers for data and content licences, and the common software ones.
HUB_LICENSES = frozenset(
    {
        "apache-2.0",
        "mit",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "c-uda",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "agpl-3.0",
        "gfdl",
        "gpl",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "pddl",
        "unlicense",
    }
)
# Spellings curators use for licences whose Hub identifier differs by more than case and spaces.
LICENSE_ALIASES = {
    "cc0": "cc0-1.0",
    "cc-zero": "cc0-1.0",
    "apache-license-2.0": "apache-2.0",
    "apache": "apache-2.0",
    "mit-license": "mit",
    "odbl-1.0": "odbl",
    "odc-by-1.0": "odc-by",
    "pddl-1.0": "pddl",
    "odc-pddl": "pddl",
}
# The Hub's size buckets: (exclusive upper bound on the record count, label).
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
RECORDS_FILE = "data/records.parquet"
# Release versions read MAJOR.MINOR.PATCH. The numbers order releases published together.
VERSION_NUMBERS = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
# Above this many groups the card points to the datasheet instead of listing every share.
MAX_GROUPS_IN_CARD = 40


def render_dataset_card(inputs: DatasheetInputs) -> str:
    """Return the release's README.md: Hub YAML front matter followed by a short card."""
    front_matter = yaml.safe_dump(
        card_metadata(inputs), sort_keys=False, allow_unicode=True, width=1000
    )
    return f"---\n{front_matter}---\n\n" + "\n".join(_card_body(inputs)) + "\n"


def card_metadata(inputs: DatasheetInputs) -> dict:
    """Return the front matter: licence, name, size bucket, task categories and data files.

    `task_categories` is written only when the spec's `collection` section lists them.
    """
    about = inputs.spec.about
    licence = about.get("licence")
    license_id = hub_license(licence)
    metadata: dict = {"license": license_id}
    if license_id == "other" and licence:
        metadata["license_name"] = re.sub(r"[^a-z0-9.]+", "-", licence.lower()).strip("-")
    metadata["pretty_name"] = about["title"]
    metadata["size_categories"] = [size_category(inputs.count_records)]
    # NOTE: the spec reader accepts no `task_categories` key yet, so cards omit it for now.
    task_categories = about.get("task_categories")
    if task_categories:
        metadata["task_categories"] = list(task_categories)
    metadata["configs"] = [{"config_name": "default", "data_files": RECORDS_FILE}]
    return metadata


def hub_license(licence: str | None) -> str:
    """Map a licence as curators write it ("CC BY 4.0") to its Hub identifier ("cc-by-4.0").

    Returns `unknown` when the spec names no licence and `other` when the Hub has no
    identifier for it.
    """
    if not licence:
        return "unknown"
    normalised = re.sub(r"[\s_]+", "-", licence.strip().lower())
    normalised = LICENSE_ALIASES.get(normalised, normalised)
    return normalised if normalised in HUB_LICENSES else "other"


def size_category(count_records: int) -> str:
    """Return the Hub's size bucket for a record count, such as `10K<n<100K` for 48,842."""
    for upper, label in SIZE_CATEGORIES:
        if count_records < upper:
            return label
    return "n>1T"


def _card_body(inputs: DatasheetInputs) -> list[str]:
    spec = inputs.spec
    about = spec.about
    lines = [
        f"# {about['title']}",
        "",
        about.get("description") or about["purpose"],
        "",
        f"Release **{inputs.version}** of collection `{spec.name}`, published "
        f"{inputs.published_at:%Y-%m-%d} with **{md.count(inputs.count_records)} records** in "
        f"`{RECORDS_FILE}`. The full datasheet, with how the data was collected, processed "
        "and measured, is in `datasheet.md`; `manifest.json` lists every file with its "
        "checksum.",
    ]
    lines += _shares(inputs)
    lines += _gate_outcome(inputs)
    lines += _uses(about)
    lines += [
        "",
        "## Licence",
        "",
        about.get("licence") or "The collection spec names no licence.",
    ]
    lines += ["", "## Citation", ""]
    citation = about.get("citation")
    lines += ["```", citation, "```"] if citation else ["The collection spec gives no citation."]
    return lines


def _shares(inputs: DatasheetInputs) -> list[str]:
    coverage = inputs.measurements["coverage_by_attribute"]
    lines = ["", "## Who is in the data", ""]
    if coverage.height > MAX_GROUPS_IN_CARD:
        return [
            *lines,
            f"The shares of all {md.count(coverage.height)} groups are in `datasheet.md` "
            "(section Shares per group).",
        ]
    lines.append(
        "Each group's share of the records whose value is known. A group is small when it has "
        f"fewer than {inputs.spec.small_cell_size} records. Intersections and diversity "
        "indices are in `datasheet.md`."
    )
    order = {d.attribute: i for i, d in enumerate(inputs.spec.dimensions)}
    rows = sorted(
        coverage.iter_rows(named=True),
        key=lambda r: (order.get(r["attribute"], len(order)), r["attribute"], r["position"]),
    )
    lines += [
        "",
        md.table(
            ["attribute", "group", "records", "share", "flag"],
            [
                (
                    r["attribute"],
                    r["category"],
                    md.count(r["count_members"]),
                    md.percent(r["share"]),
                    _flag(r),
                )
                for r in rows
            ],
        ),
    ]
    return lines


def _flag(row: dict) -> str:
    if row["is_empty"]:
        return "empty"
    if row["is_small"]:
        return "small"
    return ""


def _gate_outcome(inputs: DatasheetInputs) -> list[str]:
    gates = inputs.gates
    lines = [
        "",
        "## Gate outcome",
        "",
        f"**{gates.outcome}**: {md.count(len(gates.results))} expectations, "
        f"{len(gates.blocking_failures)} blocking failures and {len(gates.warnings)} warnings "
        f"(gate run `{gates.gate_run_id}`).",
    ]
    if gates.warnings:
        lines += ["", "Warnings:", ""]
        lines += [f"- {result.summary}" for result in gates.warnings]
    return lines


def _uses(about: dict) -> list[str]:
    lines = []
    for title, key in (("Allowed uses", "allowed_uses"), ("Uses to avoid", "prohibited_uses")):
        if about.get(key):
            lines += ["", f"## {title}", ""]
            lines += [f"- {use}" for use in about[key]]
    return lines


def render_releases_index(releases: list[dict]) -> str:
    """Return releases/index.html: a table of every release, newest first.

    Each dict has `version`, `published_at` (a datetime or an ISO 8601 string),
    `count_records` and `gate_outcome`. Each version links to `<version>/datasheet.html`.
    """
    ordered = sorted(releases, key=_release_order, reverse=True)
    rows = []
    for release in ordered:
        version = str(release["version"])
        published = _published_at(release["published_at"])
        outcome = escape(str(release["gate_outcome"]))
        rows.append(
            "<tr>"
            f'<td><a href="{escape(quote(version))}/datasheet.html">{escape(version)}</a></td>'
            f"<td>{published:%Y-%m-%d %H:%M} UTC</td>"
            f"<td>{md.count(release['count_records'])}</td>"
            f'<td><span class="outcome outcome-{outcome}">{outcome}</span></td>'
            "</tr>"
        )
    if rows:
        body = (
            "<table><thead><tr><th>version</th><th>published</th><th>records</th>"
            "<th>gate outcome</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )
    else:
        body = '<p class="note">No release has been published yet.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Releases</title>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n<main>\n"
        "<h1>Releases</h1>\n"
        "<p>Every published release, newest first. Each version links to its datasheet.</p>\n"
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def _published_at(value: datetime | str) -> datetime:
    """Return the time in UTC; a time without a zone is taken to be UTC already."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _release_order(release: dict) -> tuple:
    """Sort key: publication time, then the version's numbers for releases published together."""
    match = VERSION_NUMBERS.match(str(release["version"]))
    numbers = tuple(int(part) for part in match.groups()) if match else ()
    return (_published_at(release["published_at"]).timestamp(), numbers)
