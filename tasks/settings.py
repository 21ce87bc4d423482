"""Settings read from the environment: the warehouse's memory limit and spill folder.

Every other module takes these values from here, so the variable names live in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import WarehouseError

MEMORY_LIMIT_VARIABLE = "FAIRCURATE_DUCKDB_MEMORY_LIMIT"
TEMP_DIRECTORY_VARIABLE = "FAIRCURATE_DUCKDB_TEMP_DIRECTORY"
# DuckDB spills joins, sorts and aggregates to its temporary folder past this limit instead of
# failing. It bounds DuckDB's buffer manager only: Polars frames and Python objects of the same
# process come on top, so the default leaves room below 2 GB for them.
DEFAULT_MEMORY_LIMIT = "1GB"
MEMORY_LIMIT_FORMAT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class WarehouseSettings:
    """DuckDB settings of every warehouse connection.

    `temp_directory` None keeps DuckDB's default, a `<warehouse file>.tmp` folder beside it.
    """

    memory_limit: str
    temp_directory: Path | None


def warehouse_settings(environ: Mapping[str, str] = os.environ) -> WarehouseSettings:
    """Read the warehouse settings; raise WarehouseError naming a variable with an invalid value."""
    memory_limit = environ.get(MEMORY_LIMIT_VARIABLE, "").strip() or DEFAULT_MEMORY_LIMIT
    if not MEMORY_LIMIT_FORMAT.match(memory_limit):
        raise WarehouseError(
            f"environment variable {MEMORY_LIMIT_VARIABLE} is {memory_limit!r}, not a size; "
            "set it to a number and a unit such as 512MB or 4GB, or unset it for "
            f"{DEFAULT_MEMORY_LIMIT}"
        )
    temp_text = environ.get(TEMP_DIRECTORY_VARIABLE, "").strip()
    temp_directory = Path(temp_text) if temp_text else None
    if temp_directory is not None and temp_directory.exists() and not temp_directory.is_dir():
        raise WarehouseError(
            f"environment variable {TEMP_DIRECTORY_VARIABLE} is {temp_text!r}, which is a file; "
            "set it to a folder where DuckDB may write its spill files"
        )
    return WarehouseSettings(memory_limit=memory_limit, temp_directory=temp_directory)
