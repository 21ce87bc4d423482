"""Small helpers to write Markdown tables and numbers for the datasheet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Render a GitHub-flavoured Markdown table; cells are escaped for `|` and newlines."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines)


def count(value: int | None) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def percent(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    # Adding 0.0 turns -0.0 into 0.0, so a value that rounds to zero never prints as -0.000.
    return f"{round(value, digits) + 0.0:.{digits}f}"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")
