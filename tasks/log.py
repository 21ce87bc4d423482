"""The logger for task code: Prefect's run logger inside a run, the project logger outside."""

from __future__ import annotations

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from tasks.errors import FaircurateError


def stage_logger() -> logging.Logger | logging.LoggerAdapter:
    """Return the current flow or task run's logger, or `faircurate` when called outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("faircurate")


class _HideUserErrorTracebacks(logging.Filter):
    """Drop the traceback from log records of FaircurateError, whose message is complete."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], FaircurateError):
            record.exc_info = None
            record.exc_text = None
        return True


def hide_user_error_tracebacks() -> None:
    """Keep Prefect's handlers from printing tracebacks for errors a user can fix.

    Prefect logs every exception a task or flow raises with its traceback. For a bad spec or a
    blocked gate the traceback buries the message, so the filter removes the traceback and
    keeps the message.
    """
    quiet = _HideUserErrorTracebacks()
    for name in ("", "prefect"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _HideUserErrorTracebacks) for f in handler.filters):
                handler.addFilter(quiet)
