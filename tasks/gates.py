"""Validate the measurement tables with the spec's Great Expectations suites.

Suites are plain GX suite JSON files. Each names the measurement table it validates in
`meta.measurement_table`, and the columns that identify a group in `meta.index_columns`.
An expectation's GX `severity` decides what a failure does: `critical` blocks the release,
`warning` is reported in the datasheet, `info` is only recorded.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.expectation_suite import ExpectationSuite
from great_expectations.data_context.types.base import ProgressBarsConfig
from prefect import task
from prefect.cache_policies import NO_CACHE

import tasks.gx_expectations  # noqa: F401  (registers the custom expectation classes)
from tasks.errors import GateBlockedError, SpecError
from tasks.log import stage_logger
from tasks.measure import measurement_tables
from tasks.spec import CollectionSpec
from tasks.warehouse import connect, fetch_value

SEVERITY_LABELS = {"critical": "blocking", "warning": "warning", "info": "info"}
MAX_GROUPS_SHOWN = 20


@dataclass(frozen=True)
class GateResult:
    """One expectation's outcome, in the words the CLI, datasheet and warehouse use."""

    suite: str
    measurement_table: str
    expectation_type: str
    severity: str
    is_success: bool
    summary: str
    kwargs: dict[str, Any]
    observed: Any


@dataclass(frozen=True)
class GateReport:
    """The outcome of one gate run: `passed`, `warned` or `blocked`."""

    gate_run_id: str
    outcome: str
    results: tuple[GateResult, ...]
    validation_dir: Path

    @property
    def blocking_failures(self) -> list[GateResult]:
        return [r for r in self.results if r.severity == "blocking" and not r.is_success]

    @property
    def warnings(self) -> list[GateResult]:
        return [r for r in self.results if r.severity == "warning" and not r.is_success]


@task(name="evaluate_gates", cache_policy=NO_CACHE)
def evaluate_gates(spec: CollectionSpec, warehouse: Path) -> GateReport:
    """Validate every suite of the spec against its measurement table and record the results.

    GX result JSON goes to `<warehouse folder>/validations/<gate run id>/`; a summary row per
    expectation goes to `gate_results` and one row per run to `gate_runs`.
    """
    logger = stage_logger()
    tables = measurement_tables(spec)
    suites = [load_suite(path, tables) for path in spec.suites]
    gate_run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    validation_dir = Path(warehouse).parent / "validations" / gate_run_id
    validation_dir.mkdir(parents=True, exist_ok=True)
    context = _ephemeral_context()

    results: list[GateResult] = []
    with connect(warehouse) as connection:
        for suite_path, suite in suites:
            table = suite.meta["measurement_table"]
            frame = connection.execute(f"select * from {table}").df()
            validation = _validate(context, suite, table, frame)
            (validation_dir / f"{suite.name}.json").write_text(
                json.dumps(validation, indent=2, default=str)
            )
            results.extend(_summarise(suite, table, validation, frame))
            logger.info(
                "suite %s (%s): %d expectations",
                suite.name,
                suite_path.name,
                len(suite.expectations),
            )

        report = _report(gate_run_id, results, validation_dir)
        _record(connection, spec, report)

    for result in report.results:
        if result.is_success:
            logger.debug("passed: %s", result.summary)
        elif result.severity == "blocking":
            logger.error("BLOCKING: %s", result.summary)
        else:
            logger.warning("%s: %s", result.severity.upper(), result.summary)
    logger.info(
        "gates %s: %s (blocking failures: %d, warnings: %d)",
        gate_run_id,
        report.outcome,
        len(report.blocking_failures),
        len(report.warnings),
    )
    return report


def require_gates_passed(report: GateReport) -> None:
    """Raise GateBlockedError naming every failed blocking expectation."""
    if report.blocking_failures:
        raise GateBlockedError([r.summary for r in report.blocking_failures], report)


def load_suite(path: Path, tables: tuple[str, ...]) -> tuple[Path, ExpectationSuite]:
    """Read a GX suite JSON file and check the faircurate keys in its meta.

    `tables` are the measurement tables this collection has, one of which the suite must name.
    """
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SpecError(path, "", f"cannot read the suite: {error}") from None
    meta = document.get("meta", {})
    table = meta.get("measurement_table")
    if table not in tables:
        raise SpecError(
            path,
            "meta.measurement_table",
            f"expected one of: {', '.join(tables)}; got {table!r}",
        )
    if not isinstance(meta.get("index_columns"), list):
        raise SpecError(path, "meta.index_columns", "expected the list of columns naming a group")
    try:
        suite = ExpectationSuite(**document)
    except Exception as error:  # GX raises several unrelated types for a bad suite file
        raise SpecError(path, "expectations", f"GX cannot load the suite: {error}") from None
    return path, suite


def _ephemeral_context():
    # GX sets this logger to INFO at import and announces a temporary docs folder on it.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _validate(context, suite: ExpectationSuite, table: str, frame: pd.DataFrame) -> dict:
    source = context.data_sources.add_or_update_pandas(f"measurements_{suite.name}")
    asset = source.add_dataframe_asset(table)
    batch = asset.add_batch_definition_whole_dataframe("whole_table").get_batch(
        batch_parameters={"dataframe": frame}
    )
    result = batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": suite.meta["index_columns"],
        },
    )
    return result.to_json_dict()


def _summarise(
    suite: ExpectationSuite, table: str, validation: dict, frame: pd.DataFrame
) -> list[GateResult]:
    results = []
    for item in validation["results"]:
        config = item["expectation_config"]
        kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
        severity = SEVERITY_LABELS.get(config.get("severity") or "critical", "blocking")
        observed, groups = _observed(item, suite.meta, frame)
        name = f"{suite.name}: {config['type']}({_format_kwargs(kwargs)})"
        message = (config.get("meta") or {}).get("failure_message")
        if item["success"]:
            summary = f"{name} passed"
        elif message and groups:
            summary = f"{name} failed: {message}: {groups}"
        elif message:
            summary = f"{name} failed: {message} (observed {_format_value(observed)})"
        elif groups:
            summary = f"{name} failed for {groups}"
        else:
            summary = f"{name} failed: {observed}"
        results.append(
            GateResult(
                suite=suite.name,
                measurement_table=table,
                expectation_type=config["type"],
                severity=severity,
                is_success=bool(item["success"]),
                summary=summary,
                kwargs=kwargs,
                observed=observed,
            )
        )
    return results


def _observed(item: dict, meta: dict, frame: pd.DataFrame) -> tuple[Any, str]:
    """Return the observed value and, for a failure, the failing groups as readable text.

    A stock expectation reports the failing rows by the suite's `index_columns`. Each group is
    named by `group_columns`, by default the last index column (the category, cell or field).
    It is shown with the tested value and the suite's `detail_columns`, by default the record
    count where the table has one, because a flag such as `is_small` alone does not tell how
    small. At most MAX_GROUPS_SHOWN groups are listed, then the number of further failures.
    """
    exception = item.get("exception_info") or {}
    if exception.get("raised_exception"):
        return f"could not be evaluated: {exception.get('exception_message')}", ""
    result = item.get("result") or {}
    observed = result.get("observed_value")
    if isinstance(observed, dict) and "failing_groups" in observed:
        failing = observed["failing_groups"]
        parts = [f"{g} (observed {_format_value(v)})" for g, v in failing.items()]
        return observed, _join_groups(parts) or (observed.get("note") or "")
    unexpected = result.get("unexpected_index_list")
    if not unexpected:
        return observed, ""

    index_columns = meta["index_columns"]
    group_columns = meta.get("group_columns") or index_columns[-1:]
    column = item["expectation_config"]["kwargs"].get("column")
    details = meta.get("detail_columns") or (
        ["count_members"] if "count_members" in frame.columns else []
    )
    details = [d for d in details if d != column and d in frame.columns]
    lookup = {}
    if details:
        keys = frame[index_columns].astype(str).agg("\x1f".join, axis=1)
        lookup = dict(zip(keys, frame[details].to_dict("records"), strict=True))
    parts = []
    for row in unexpected:
        key = "\x1f".join(str(row.get(c)) for c in index_columns)
        group = " / ".join(str(row.get(c)) for c in group_columns)
        shown = [f"{column} {_format_value(row.get(column))}"]
        shown += [f"{d} {_format_value(v)}" for d, v in lookup.get(key, {}).items()]
        parts.append(f"{group} (observed {', '.join(shown)})")
    return unexpected, _join_groups(parts)


def _join_groups(parts: list[str]) -> str:
    if len(parts) <= MAX_GROUPS_SHOWN:
        return ", ".join(parts)
    hidden = len(parts) - MAX_GROUPS_SHOWN
    return ", ".join(parts[:MAX_GROUPS_SHOWN]) + f" and {hidden} more"


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def row_condition_text(kwargs: dict) -> str | None:
    """Return an expectation's row condition as text, or None when it has none.

    GX 1.x results give the condition as a dict with its text under `pass_through_filter`.
    """
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        condition = condition.get("pass_through_filter", condition)
    return str(condition) if condition else None


def _format_kwargs(kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("condition_parser", "row_condition")}
    text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    condition = row_condition_text(kwargs)
    return f"{text}, where {condition}" if condition else text


def _report(gate_run_id: str, results: list[GateResult], validation_dir: Path) -> GateReport:
    report = GateReport(gate_run_id, "passed", tuple(results), validation_dir)
    if report.blocking_failures:
        outcome = "blocked"
    elif report.warnings:
        outcome = "warned"
    else:
        outcome = "passed"
    return GateReport(gate_run_id, outcome, tuple(results), validation_dir)


def _record(connection, spec: CollectionSpec, report: GateReport) -> None:
    count_records = fetch_value(connection, "select count(*) from records")
    connection.execute("begin transaction")
    connection.execute(
        "insert into gate_runs values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.gate_run_id,
            spec.name,
            spec.sha256,
            count_records,
            report.outcome,
            len(report.blocking_failures),
            len(report.warnings),
            datetime.now(UTC),
        ],
    )
    connection.executemany(
        "insert into gate_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                report.gate_run_id,
                r.suite,
                r.measurement_table,
                r.expectation_type,
                r.severity,
                r.is_success,
                r.summary,
                json.dumps(r.kwargs, default=str),
                json.dumps(r.observed, default=str),
            ]
            for r in report.results
        ],
    )
    connection.execute("commit")
