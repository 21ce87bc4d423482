"""Exceptions that faircurate raises for problems a user can fix.

Every class keeps the offending values as attributes, so the command line and the logs can
show them, and its message states what failed, on which object, and what to do next.
"""

from __future__ import annotations

from pathlib import Path


class FaircurateError(Exception):
    """Base class for errors caused by input, configuration or state, never by a bug."""


class SpecError(FaircurateError):
    """The collection spec is missing, unreadable or invalid."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = Path(path)
        self.key = key
        self.problem = problem
        where = f"key `{key}`: " if key else ""
        super().__init__(f"collection spec {self.path}: {where}{problem}")


class InputFileError(FaircurateError):
    """A raw input file is missing, unreadable or has the wrong layout."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"input file {self.path}: {problem}")


class WarehouseError(FaircurateError):
    """The warehouse file does not match the spec or is in a state the command cannot use."""


class GateBlockedError(FaircurateError):
    """A blocking expectation failed, so no release may be published."""

    def __init__(self, failures: list[str], report: object = None) -> None:
        self.failures = failures
        self.report = report
        lines = "\n".join(f"  - {failure}" for failure in failures)
        count = (
            "1 blocking expectation"
            if len(failures) == 1
            else f"{len(failures)} blocking expectations"
        )
        super().__init__(
            f"release blocked: {count} failed:\n{lines}\n"
            "Fix the data, or change the threshold in its suite, then run `faircurate run` "
            "or `faircurate release` again."
        )


class ReleaseError(FaircurateError):
    """A release cannot be published as requested."""


class LandingError(FaircurateError):
    """Files in the landing folder could not be ingested; each was recorded as rejected."""

    def __init__(self, rejected: list, batches: list | None = None) -> None:
        self.rejected = rejected
        self.batches = batches or []
        lines = "\n".join(f"  - {item.file_name}: {item.error}" for item in rejected)
        super().__init__(
            f"{len(rejected)} landed file(s) rejected; nothing of them was loaded:\n{lines}\n"
            "Put a corrected file in the landing folder; the next run picks up its new content."
        )
