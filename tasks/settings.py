"""Settings read from the environment: the warehouse's memory and spill folder, the task runner.

Every other module takes these values from here, so the variable names live in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import FaircurateError, WarehouseError

MEMORY_LIMIT_VARIABLE = "FAIRCURATE_DUCKDB_MEMORY_LIMIT"
TEMP_DIRECTORY_VARIABLE = "FAIRCURATE_DUCKDB_TEMP_DIRECTORY"
# DuckDB spills joins, sorts and aggregates to its temporary folder past this limit instead of
# failing. It bounds DuckDB's buffer manager only: Polars frames and Python objects of the same
# process come on top, so the default leaves room below 2 GB for them.
DEFAULT_MEMORY_LIMIT = "1GB"
MEMORY_LIMIT_FORMAT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
MINIMUM_MEMORY_LIMIT_BYTES = 32 * 1000**2
UNIT_BYTES = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
UNIT_BYTES |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


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
    if _size_in_bytes(memory_limit) < MINIMUM_MEMORY_LIMIT_BYTES:
        raise WarehouseError(
            f"environment variable {MEMORY_LIMIT_VARIABLE} is {memory_limit!r}, too little for "
            "DuckDB to work in; set it to 32MB or more, such as 1GB"
        )
    temp_text = environ.get(TEMP_DIRECTORY_VARIABLE, "").strip()
    temp_directory = Path(temp_text) if temp_text else None
    if temp_directory is not None and temp_directory.exists() and not temp_directory.is_dir():
        raise WarehouseError(
            f"environment variable {TEMP_DIRECTORY_VARIABLE} is {temp_text!r}, which is a file; "
            "set it to a folder where DuckDB may write its spill files"
        )
    return WarehouseSettings(memory_limit=memory_limit, temp_directory=temp_directory)


def _size_in_bytes(size: str) -> float:
    """Convert a size that MEMORY_LIMIT_FORMAT accepts, such as `1.5GB`, to bytes."""
    number, unit = re.match(r"^([\d.]+)\s*([A-Za-z]+)$", size).groups()
    return float(number) * UNIT_BYTES[unit.lower()]


TASK_RUNNER_VARIABLE = "FAIRCURATE_TASK_RUNNER"
DASK_ADDRESS_VARIABLE = "FAIRCURATE_DASK_ADDRESS"
DASK_WORKERS_VARIABLE = "FAIRCURATE_DASK_WORKERS"
TASK_RUNNERS = ("default", "dask")
DEFAULT_DASK_WORKERS = 2
DASK_ADDRESS_FORMAT = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")


class SettingsError(FaircurateError):
    """An environment variable that faircurate reads has an invalid value."""

    def __init__(self, variable: str, value: str, problem: str) -> None:
        self.variable = variable
        self.value = value
        super().__init__(f"environment variable {variable} is {value!r}: {problem}")


@dataclass(frozen=True)
class RunnerSettings:
    """The task runner for the flows' submitted tasks.

    `kind` "default" keeps Prefect's thread-pool runner. "dask" runs them on the Dask scheduler
    at `dask_address`, or on a local cluster of `dask_workers` processes on 127.0.0.1 when no
    address is set.
    """

    kind: str
    dask_address: str | None
    dask_workers: int


def runner_settings(environ: Mapping[str, str] = os.environ) -> RunnerSettings:
    """Read the task runner settings; raise SettingsError naming a variable with a bad value."""
    kind = environ.get(TASK_RUNNER_VARIABLE, "").strip() or "default"
    if kind not in TASK_RUNNERS:
        raise SettingsError(
            TASK_RUNNER_VARIABLE, kind, f"expected one of {', '.join(TASK_RUNNERS)}, or unset"
        )
    address = environ.get(DASK_ADDRESS_VARIABLE, "").strip() or None
    if address is not None and not DASK_ADDRESS_FORMAT.match(address):
        raise SettingsError(
            DASK_ADDRESS_VARIABLE,
            address,
            "expected a Dask scheduler address such as tcp://scheduler.example:8786, or unset "
            "for a local cluster",
        )
    workers_text = environ.get(DASK_WORKERS_VARIABLE, "").strip() or str(DEFAULT_DASK_WORKERS)
    if not workers_text.isdigit() or int(workers_text) < 1:
        raise SettingsError(
            DASK_WORKERS_VARIABLE, workers_text, "expected a whole number of worker processes"
        )
    return RunnerSettings(kind=kind, dask_address=address, dask_workers=int(workers_text))
