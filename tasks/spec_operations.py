"""How a collection is operated: its landing folder with a schedule, and its alerts.

They are read from the spec's optional `landing` and `alerts` sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from tasks.spec import _Reader

DEFAULT_SETTLE_SECONDS = 30
DEFAULT_MAX_SHARE_DROP_PP = 5.0
DEFAULT_MAX_QUARANTINE_RATE = 0.05
DEFAULT_SUPPRESS_HOURS = 24.0
# A Prefect block document is named by its type slug and its name, as in `slack-webhook/curators`.
BLOCK_NAME = re.compile(r"^[a-z0-9-]+/[A-Za-z0-9_-]+$")
CRON_FIELDS = 5


@dataclass(frozen=True)
class LandingSpec:
    """A folder where new batches arrive, and when the scheduled ingestion looks at it.

    A file is left for a later run until it has not changed for `settle_seconds`, so a file
    still being copied is not ingested half-written. The schedule is a cron expression or an
    interval in seconds.
    """

    folder: Path
    pattern: str = "*.csv"
    settle_seconds: int = DEFAULT_SETTLE_SECONDS
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class AlertSpec:
    """Where alerts go and when they are raised.

    `channels` are Apprise URLs written in the spec. `channels_env` names an environment
    variable with more of them, separated by spaces or commas, so webhook tokens stay out of
    the spec. `prefect_blocks` names saved Prefect notification blocks.
    """

    channels: tuple[str, ...] = ()
    channels_env: str | None = None
    prefect_blocks: tuple[str, ...] = ()
    gate_warnings: bool = True
    max_share_drop_pp: float = DEFAULT_MAX_SHARE_DROP_PP
    max_quarantine_rate: float = DEFAULT_MAX_QUARANTINE_RATE
    suppress_for_hours: float = DEFAULT_SUPPRESS_HOURS


def read_landing(reader: _Reader, value: Any, base: Path, source_format: str) -> LandingSpec | None:
    if value is None:
        return None
    section = reader.mapping(value, "landing", ("folder", "pattern", "settle_seconds", "schedule"))
    if source_format != "delimited":
        raise reader.fail(
            "landing",
            f"a landing folder is read for `source.format: delimited` only, not {source_format}; "
            "remove the section or describe the batches as delimited files",
        )
    folder = (base / reader.text(section, "folder", "landing")).resolve()
    if not folder.is_dir():
        raise reader.fail("landing.folder", f"{folder} is not a folder; create it or fix the path")
    pattern = reader.text(section, "pattern", "landing", required=False) or "*.csv"
    if "/" in pattern:
        raise reader.fail("landing.pattern", f"{pattern!r} names a sub-folder; use a file pattern")
    settle = reader.integer(
        section.get("settle_seconds", DEFAULT_SETTLE_SECONDS), "landing.settle_seconds"
    )
    if settle < 0:
        raise reader.fail("landing.settle_seconds", "must be 0 or more")
    cron, interval, timezone = _read_schedule(reader, section.get("schedule"))
    return LandingSpec(folder, pattern, settle, cron, interval, timezone)


def _read_schedule(reader: _Reader, value: Any) -> tuple[str | None, int | None, str]:
    if value is None:
        return None, None, "UTC"
    section = reader.mapping(value, "landing.schedule", ("cron", "interval_seconds", "timezone"))
    cron = reader.text(section, "cron", "landing.schedule", required=False)
    interval = section.get("interval_seconds")
    if (cron is None) == (interval is None):
        raise reader.fail(
            "landing.schedule", "set exactly one of `cron` (five fields) or `interval_seconds`"
        )
    if cron is not None and len(cron.split()) != CRON_FIELDS:
        raise reader.fail(
            "landing.schedule.cron",
            f'{cron!r} is not a cron expression of five fields, such as "0 * * * *" (hourly)',
        )
    if cron is not None:
        _check_cron(reader, cron)
    if interval is not None and reader.integer(interval, "landing.schedule.interval_seconds") < 1:
        raise reader.fail("landing.schedule.interval_seconds", "must be at least 1")
    timezone = reader.text(section, "timezone", "landing.schedule", required=False) or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail(
            "landing.schedule.timezone",
            f"unknown time zone {timezone!r}; use an IANA name such as UTC or Europe/Paris",
        ) from None
    return cron, interval, timezone


def _check_cron(reader: _Reader, cron: str) -> None:
    """Check the expression with the parser that Prefect's scheduler uses."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron)
    except ValueError:  # pydantic's ValidationError is a ValueError
        raise reader.fail(
            "landing.schedule.cron",
            f"{cron!r} is not a valid cron expression; write minute, hour, day of month, month "
            'and day of week within their ranges, such as "30 2 * * *" (daily at 02:30)',
        ) from None


def read_alerts(reader: _Reader, value: Any) -> AlertSpec:
    if value is None:
        return AlertSpec()
    section = reader.mapping(
        value,
        "alerts",
        (
            "channels",
            "channels_env",
            "prefect_blocks",
            "gate_warnings",
            "max_share_drop_pp",
            "max_quarantine_rate",
            "suppress_for_hours",
        ),
    )
    channels = reader.strings(section.get("channels", []), "alerts.channels")
    for index, url in enumerate(channels):
        if "://" not in url:
            raise reader.fail(
                f"alerts.channels[{index}]",
                "expected an Apprise URL such as json://host/path or mailto://user@host",
            )
    blocks = reader.strings(section.get("prefect_blocks", []), "alerts.prefect_blocks")
    for index, name in enumerate(blocks):
        if not BLOCK_NAME.match(name):
            raise reader.fail(
                f"alerts.prefect_blocks[{index}]",
                f"{name!r} is not a block name; write TYPE/NAME, such as slack-webhook/curators",
            )
    gate_warnings = section.get("gate_warnings", True)
    if not isinstance(gate_warnings, bool):
        raise reader.fail("alerts.gate_warnings", f"expected true or false, got {gate_warnings!r}")
    return AlertSpec(
        channels=channels,
        channels_env=reader.text(section, "channels_env", "alerts", required=False),
        prefect_blocks=blocks,
        gate_warnings=gate_warnings,
        max_share_drop_pp=_number(
            reader, section, "max_share_drop_pp", DEFAULT_MAX_SHARE_DROP_PP, 100
        ),
        max_quarantine_rate=_number(
            reader, section, "max_quarantine_rate", DEFAULT_MAX_QUARANTINE_RATE, 1
        ),
        suppress_for_hours=_number(
            reader, section, "suppress_for_hours", DEFAULT_SUPPRESS_HOURS, None
        ),
    )


def _number(
    reader: _Reader, section: dict, name: str, default: float, maximum: float | None
) -> float:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise reader.fail(f"alerts.{name}", f"expected a number, got {value!r}")
    if value < 0 or (maximum is not None and value > maximum):
        upper = f" and at most {maximum:g}" if maximum is not None else ""
        raise reader.fail(f"alerts.{name}", f"must be 0 or more{upper}; got {value}")
    return float(value)
