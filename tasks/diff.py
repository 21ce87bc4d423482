"""Compare two releases of one collection: records kept, added and removed, removals by reason,
shifts in group shares, gate results that changed, and whether the spec changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tasks import markdown as md
from tasks.datasheet_people import REMOVAL_TITLES
from tasks.errors import ReleaseError
from tasks.verify import RECORDS_PATH, read_manifest

ATTRIBUTE_COVERAGE = "measurements/coverage_by_attribute.parquet"
INTERSECTION_COVERAGE = "measurements/coverage_by_intersection.parquet"
VALIDATION_FOLDER = "validation"
# GX adds `batch_id` to the kwargs of every expectation to name the data it ran on. It is not a
# parameter of the expectation, so the key that matches expectations leaves it out.
IGNORED_KWARGS = ("batch_id",)
SHIFT_VALUES = ("old_count", "new_count", "old_share", "new_share", "shift_pp")
# The labels that the gate log prints for GX severities. They are repeated here because importing
# tasks.gates loads Great Expectations and Prefect, which a diff does not need.
SEVERITY_LABELS = {"critical": "blocking", "warning": "warning", "info": "info"}


def diff_releases(old: Path, new: Path) -> dict:
    """Compare the release folder `old` with the later release folder `new`, as a JSON-ready dict.

    Records are matched by `record_id`, so a record whose id changed between the releases
    (an id column whose values were rewritten, or a line of an id-less file whose content
    changed) counts as removed and added. Removals are compared as counts per reason
    only, never as ids, because a removal can be a consent withdrawal. Shares are fractions of
    the records with a known value, and shifts are in percentage points (new minus old).
    Raise ReleaseError when either folder is not a release or the two releases belong to
    different collections.
    """
    old, new = Path(old), Path(new)
    old_manifest = read_manifest(old)
    new_manifest = read_manifest(new)
    old_collection = old_manifest.get("collection")
    new_collection = new_manifest.get("collection")
    if old_collection != new_collection:
        raise ReleaseError(
            f"releases {old} ({old_collection}) and {new} ({new_collection}) belong to "
            "different collections; compare two releases of the same collection"
        )

    return {
        "collection": new_collection,
        "old": _release_summary(old_manifest),
        "new": _release_summary(new_manifest),
        "spec_changed": old_manifest.get("spec_sha256") != new_manifest.get("spec_sha256"),
        "records": _record_changes(old, new, old_manifest, new_manifest),
        "removed_by_reason": _removal_changes(old_manifest, new_manifest),
        "attribute_shifts": _share_shifts(old, new, ATTRIBUTE_COVERAGE, ("attribute", "category")),
        "intersection_shifts": _share_shifts(
            old, new, INTERSECTION_COVERAGE, ("intersection", "cell")
        ),
        "gate_changes": _gate_changes(old, new),
    }


def render_changelog(diff: dict) -> str:
    """Render a diff from `diff_releases` as a Markdown changelog for curators.

    The sections: a summary, the record counts, removals by reason, share shifts by attribute
    and by intersection (largest first, every group listed) and the gate results that changed.
    """
    old, new = diff["old"]["version"], diff["new"]["version"]
    lines = [
        f"# {diff['collection']}: changes from {old} to {new}",
        "",
        _summary_line(diff),
        "",
        "## Records",
        "",
        *_record_lines(diff),
        "",
        "## Records removed before release, by reason",
        "",
        *_removal_lines(diff),
        "",
        "## Share of each group",
        "",
        *_shift_lines(diff["attribute_shifts"], ("attribute", "group"), old, new),
        "",
        "## Share of each intersection cell",
        "",
        *_shift_lines(diff["intersection_shifts"], ("intersection", "cell"), old, new),
        "",
        "## Gate results",
        "",
        *_gate_lines(diff, old, new),
    ]
    return "\n".join(lines) + "\n"


def _release_summary(manifest: dict) -> dict:
    return {
        "version": manifest["version"],
        "published_at": manifest.get("published_at"),
        "count_records": manifest["count_records"],
        "gate_outcome": manifest.get("gate_outcome"),
    }


def _record_changes(old: Path, new: Path, old_manifest: dict, new_manifest: dict) -> dict:
    old_ids = _record_ids(old)
    new_ids = _record_ids(new)
    return {
        "kept": len(old_ids & new_ids),
        "added": len(new_ids - old_ids),
        "removed": len(old_ids - new_ids),
        "change": new_manifest["count_records"] - old_manifest["count_records"],
    }


def _record_ids(folder: Path) -> set[str]:
    path = _release_file(folder, RECORDS_PATH)
    return set(pl.read_parquet(path, columns=["record_id"])["record_id"].to_list())


def _removal_changes(old_manifest: dict, new_manifest: dict) -> dict:
    old_counts = old_manifest.get("removed_by_reason") or {}
    new_counts = new_manifest.get("removed_by_reason") or {}
    changes = {}
    for reason in sorted(set(old_counts) | set(new_counts)):
        before = int(old_counts.get(reason, 0))
        after = int(new_counts.get(reason, 0))
        changes[reason] = {"old": before, "new": after, "change": after - before}
    return changes


def _share_shifts(old: Path, new: Path, relative: str, keys: tuple[str, str]) -> list[dict]:
    """Join one coverage table of both releases on `keys` and sort by the largest shift.

    A group present in only one release has no share in the other, so its shift is None.
    Such groups, and groups without a share because no value is known, are listed last.
    """
    columns = [*keys, "count_members", "share"]
    before = pl.read_parquet(_release_file(old, relative), columns=columns)
    after = pl.read_parquet(_release_file(new, relative), columns=columns)
    joined = (
        before.rename({"count_members": "old_count", "share": "old_share"})
        .join(
            after.rename({"count_members": "new_count", "share": "new_share"}),
            on=list(keys),
            how="full",
            coalesce=True,
        )
        .with_columns(((pl.col("new_share") - pl.col("old_share")) * 100).alias("shift_pp"))
        .with_columns(pl.col("shift_pp").abs().alias("size"))
        .sort(["size", *keys], descending=[True, False, False], nulls_last=True)
        .drop("size")
    )
    return joined.select(*keys, *SHIFT_VALUES).to_dicts()


def _gate_changes(old: Path, new: Path) -> list[dict]:
    before = _expectation_results(old)
    after = _expectation_results(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        old_result = before.get(key)
        new_result = after.get(key)
        old_success = old_result["success"] if old_result else None
        new_success = new_result["success"] if new_result else None
        if old_success == new_success:
            continue
        if old_result is None:
            change = "added"
        elif new_result is None:
            change = "removed"
        else:
            change = "now_passing" if new_success else "now_failing"
        latest_result = new_result or old_result
        changes.append(
            {
                "suite_file": key[0],
                "type": key[1],
                "kwargs": latest_result["kwargs"],
                "severity": latest_result["severity"],
                "old_success": old_success,
                "new_success": new_success,
                "change": change,
            }
        )
    return changes


def _expectation_results(folder: Path) -> dict[tuple[str, str, str], dict]:
    """Map (suite file name, expectation type, kwargs as sorted JSON) to the result."""
    results = {}
    for path in sorted((folder / VALIDATION_FOLDER).glob("*.json")):
        try:
            validation = json.loads(path.read_text(encoding="utf-8"))
            items = validation["results"]
            for item in items:
                config = item["expectation_config"]
                kwargs = {k: v for k, v in config["kwargs"].items() if k not in IGNORED_KWARGS}
                key = (path.name, config["type"], json.dumps(kwargs, sort_keys=True))
                results[key] = {
                    "success": bool(item["success"]),
                    "kwargs": kwargs,
                    "severity": config.get("severity"),
                }
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise ReleaseError(
                f"{path} is invalid: expected a GX validation result with "
                f"`results[].expectation_config` ({type(error).__name__}: {error}); restore the "
                "release folder from a backup or publish the release again"
            ) from error
    return results


def _release_file(folder: Path, relative: str) -> Path:
    path = folder / relative
    if not path.is_file():
        raise ReleaseError(
            f"release folder {folder} has no {relative}; check it with verify_release and "
            "restore the file from a backup or publish the release again"
        )
    return path


def _summary_line(diff: dict) -> str:
    old, new, records = diff["old"], diff["new"], diff["records"]
    change = records["change"]
    if change == 0:
        size = f"the same {md.count(new['count_records'])} records as {old['version']}"
    else:
        direction = "more" if change > 0 else "fewer"
        size = (
            f"{md.count(new['count_records'])} records, {md.count(abs(change))} {direction} "
            f"than {old['version']}"
        )
    spec = (
        "The collection spec changed."
        if diff["spec_changed"]
        else "The collection spec is unchanged."
    )
    count_gates = len(diff["gate_changes"])
    gates = (
        "no gate result changed"
        if count_gates == 0
        else f"{count_gates} gate {'result' if count_gates == 1 else 'results'} changed"
    )
    return (
        f"Release {new['version']} ({_published(new)}) holds {size} ({_published(old)}). "
        f"{spec} Gate outcome: {old['gate_outcome']} before, {new['gate_outcome']} now; "
        f"{gates}."
    )


def _published(release: dict) -> str:
    text = release.get("published_at")
    if not text:
        return "publication time unknown"
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return f"published {text}"
    return f"published {moment:%Y-%m-%d %H:%M} UTC"


def _record_lines(diff: dict) -> list[str]:
    old, new, records = diff["old"], diff["new"], diff["records"]
    return [
        "Records are matched by `record_id`. A record whose id changed, for example a line "
        "of a file without an id column whose content was corrected, counts as removed and "
        "added.",
        "",
        md.table(
            ["records", "count"],
            [
                (f"in {old['version']}", md.count(old["count_records"])),
                (f"in {new['version']}", md.count(new["count_records"])),
                ("kept", md.count(records["kept"])),
                ("added", md.count(records["added"])),
                ("removed", md.count(records["removed"])),
            ],
        ),
    ]


def _removal_lines(diff: dict) -> list[str]:
    removals = diff["removed_by_reason"]
    if not removals:
        return ["Neither release left any ingested record out."]
    old, new = diff["old"]["version"], diff["new"]["version"]
    return [
        "Counts only: who was removed is never published.",
        "",
        md.table(
            ["reason", old, new, "change"],
            [
                (
                    REMOVAL_TITLES.get(reason, reason),
                    md.count(counts["old"]),
                    md.count(counts["new"]),
                    f"{counts['change']:+,}",
                )
                for reason, counts in removals.items()
            ],
        ),
    ]


def _shift_lines(shifts: list[dict], headers: tuple[str, str], old: str, new: str) -> list[str]:
    if not shifts:
        return ["Neither release measured any group."]
    keys = tuple(key for key in shifts[0] if key not in SHIFT_VALUES)
    return [
        "Share among records with a known value, largest shift first. Shifts are in "
        "percentage points (pp); n/a marks a group measured in only one release.",
        "",
        md.table(
            [*headers, f"records in {old}", f"records in {new}", old, new, "shift"],
            [
                (
                    row[keys[0]],
                    row[keys[1]],
                    md.count(row["old_count"]),
                    md.count(row["new_count"]),
                    md.percent(row["old_share"]),
                    md.percent(row["new_share"]),
                    "n/a" if row["shift_pp"] is None else f"{row['shift_pp']:+.3f} pp",
                )
                for row in shifts
            ],
        ),
    ]


def _gate_lines(diff: dict, old: str, new: str) -> list[str]:
    changes = diff["gate_changes"]
    if not changes:
        return ["Every expectation in both releases had the same result."]
    return [
        "Expectations whose result changed, and expectations run in only one release.",
        "",
        md.table(
            ["suite", "expectation", "severity", old, new],
            [
                (
                    change["suite_file"],
                    _describe_expectation(change["type"], change["kwargs"]),
                    SEVERITY_LABELS.get(change["severity"] or "critical", change["severity"]),
                    _result_label(change["old_success"]),
                    _result_label(change["new_success"]),
                )
                for change in changes
            ],
        ),
    ]


def _describe_expectation(expectation_type: str, kwargs: dict) -> str:
    """Write an expectation as `type(name=value, ...)`, with a row condition as `where ...`."""
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        condition = condition.get("pass_through_filter", condition)
    arguments = ", ".join(
        f"{name}={value!r}"
        for name, value in kwargs.items()
        if name not in ("row_condition", "condition_parser")
    )
    if condition:
        arguments = f"{arguments}, where {condition}"
    return f"{expectation_type}({arguments})"


def _result_label(success: bool | None) -> str:
    if success is None:
        return "not run"
    return "passed" if success else "failed"
