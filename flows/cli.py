"""The `faircurate` command line: one sub-command per flow, plus a quick spec check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from importlib.metadata import version as package_version
from pathlib import Path

from tasks.errors import (
    FaircurateError,
    GateBlockedError,
    InputFileError,
    LandingError,
    ReleaseError,
)

SPEC_HELP = "path of the collection spec YAML file, for example examples/adult/collection.yaml"
WAREHOUSE_HELP = "DuckDB warehouse file (default: warehouse/<collection>.duckdb)"
RELEASES_HELP = "folder that holds one sub-folder per release version (default: releases)"
VERSION_HELP = (
    "release version as MAJOR.MINOR.PATCH (default: 1.0.0 for the first release, then the "
    "next minor version; nothing is published when the records have not changed)"
)
COMMANDS = {
    "check-spec": "validate a collection spec and check that its source files exist",
    "ingest": "load the collection's source files as batches; quarantine rows that fail a check",
    "gates": "rebuild the measurement tables and run the gate suites (exit 1 when a gate blocks)",
    "release": "measure, gate and publish a release of what the warehouse holds",
    "run": "the whole job: ingest, measure, gate and publish a release",
    "ingest-landing": "ingest and gate the new files of the landing folder once, as the "
    "scheduled deployment does",
    "serve": "serve the collection's deployments (scheduled ingestion, release, consent "
    "updates) until stopped, with a local Prefect server unless PREFECT_API_URL is set",
    "withdraw": "record consent withdrawals; the next release leaves those people out",
    "subject-releases": "list the releases that contained a person (for a withdrawal request)",
    "releases": "list the published releases with their counts and gate outcomes",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faircurate",
        description=(
            "Ingest a human-centric collection into DuckDB, measure its demographic coverage "
            "and diversity, gate it with Great Expectations and publish versioned releases."
        ),
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"faircurate {package_version('faircurate')}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="recompute every checksum and row count of a release folder",
        description="Recompute every checksum, size and row count of a release folder against "
        "its manifest; exit 1 when a file changed, is missing or is extra.",
    )
    verify.add_argument("release", type=Path, help="release folder, for example releases/1.0.0")
    diff = commands.add_parser(
        "diff",
        help="compare two release folders: records, shares and gate outcomes",
        description="Compare two release folders: records added and removed, the shift in "
        "every group's share and the gates whose outcome changed.",
    )
    diff.add_argument("old", type=Path, help="the earlier release folder")
    diff.add_argument("new", type=Path, help="the later release folder")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    for name, text in COMMANDS.items():
        command = commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("spec", help=SPEC_HELP)
        if name == "check-spec":
            continue
        command.add_argument("--warehouse", help=WAREHOUSE_HELP)
        if name in ("release", "run"):
            command.add_argument("--releases", default="releases", help=RELEASES_HELP)
            command.add_argument("--version", help=VERSION_HELP)
            command.add_argument(
                "--bump",
                choices=("major", "minor", "patch"),
                help="publish the next version of this kind even when the rules would pick "
                "another or nothing changed",
            )
            command.add_argument(
                "--dry-run",
                action="store_true",
                help="measure and gate, print the version that would be published, write nothing",
            )
        if name == "serve":
            command.add_argument("--releases", default="releases", help=RELEASES_HELP)
            command.add_argument(
                "--port",
                type=int,
                default=4200,
                help="port of the local Prefect server on 127.0.0.1 (default: 4200); unused "
                "when PREFECT_API_URL is set",
            )
        if name == "withdraw":
            command.add_argument(
                "subject_ids", nargs="*", metavar="SUBJECT_ID", help="ids to withdraw"
            )
            command.add_argument(
                "--file", type=Path, help="CSV file with a subject_id column, one withdrawal a row"
            )
            command.add_argument(
                "--on",
                type=date.fromisoformat,
                help="date the withdrawals were received, YYYY-MM-DD (default: today)",
            )
        if name == "subject-releases":
            command.add_argument("subject_id", metavar="SUBJECT_ID", help="the person's subject id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return 0 on success, 1 when it failed or a gate blocked."""
    arguments = build_parser().parse_args(argv)
    try:
        return _dispatch(arguments)
    except GateBlockedError as error:
        from flows import report

        if error.report is not None:
            report.print_gates(error.report)
        print(f"error: {error}", file=sys.stderr)
        return 1
    except FaircurateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # DuckDB's exception classes load with the module, which only a running command needs.
        if type(error).__name__ != "OutOfMemoryException":
            raise
        from tasks.settings import MEMORY_LIMIT_VARIABLE, TEMP_DIRECTORY_VARIABLE

        print(
            f"error: DuckDB ran out of memory ({error}). Raise {MEMORY_LIMIT_VARIABLE} (1GB "
            f"unless set), or point {TEMP_DIRECTORY_VARIABLE} at a folder with free space for "
            "spilling, and run the command again",
            file=sys.stderr,
        )
        return 1


def _release_command(arguments: argparse.Namespace) -> int:
    if arguments.command == "verify":
        from tasks.verify import verify_release

        result = verify_release(arguments.release)
        print(result.describe())
        return 0 if result.is_intact else 1
    import json

    from tasks.diff import diff_releases, render_changelog

    changes = diff_releases(arguments.old, arguments.new)
    print(
        json.dumps(changes, indent=2, default=str) if arguments.json else render_changelog(changes)
    )
    return 0


def _dispatch(arguments: argparse.Namespace) -> int:
    if arguments.command in ("verify", "diff"):
        return _release_command(arguments)
    from tasks.release_registry import check_version_format
    from tasks.settings import warehouse_settings
    from tasks.spec import load_spec

    # Everything that can be checked without Prefect is checked first, in about a second.
    warehouse_settings()
    spec = load_spec(arguments.spec)
    _require_source_files(spec)
    if getattr(arguments, "version", None):
        check_version_format(arguments.version)
        existing = Path(arguments.releases) / arguments.version
        if existing.exists():
            raise ReleaseError(
                f"release {arguments.version} already exists at {existing}; releases are never "
                "overwritten. Pass a new --version"
            )
    if arguments.command == "ingest-landing" and spec.landing is None:
        from tasks.errors import SpecError

        raise SpecError(spec.path, "landing", "missing; declare the landing folder to ingest from")
    if arguments.command == "check-spec":
        print(
            f"collection spec {arguments.spec} is valid: collection `{spec.name}`, "
            f"{len(spec.fields)} fields, {len(spec.suites)} gate suites; source files found"
        )
        return 0

    if arguments.command == "releases":
        from flows import report
        from tasks.release_registry import list_releases
        from tasks.warehouse import connect, resolve_warehouse

        with connect(resolve_warehouse(spec, arguments.warehouse), read_only=True) as connection:
            report.print_releases(list_releases(connection))
        return 0
    if arguments.command == "subject-releases":
        from tasks.consent import releases_containing
        from tasks.warehouse import resolve_warehouse

        warehouse = resolve_warehouse(spec, arguments.warehouse)
        versions = releases_containing(spec, warehouse, arguments.subject_id)
        listed = ", ".join(versions) if versions else "none"
        print(f"releases that contained subject {arguments.subject_id}: {listed}")
        return 0

    from flows import report
    from tasks.log import hide_user_error_tracebacks

    hide_user_error_tracebacks()
    if arguments.command in ("ingest", "ingest-landing", "run"):
        try:
            return _ingest_command(arguments, spec)
        except LandingError as error:
            report.print_batches(error.batches, arguments.warehouse, spec)
            raise
    if arguments.command == "withdraw":
        from flows.withdraw import withdraw
        from tasks.consent import read_withdrawals_file

        subject_ids = list(arguments.subject_ids)
        if arguments.file:
            subject_ids += read_withdrawals_file(arguments.file)
        report.print_withdrawals(
            withdraw(arguments.spec, subject_ids, arguments.on, arguments.warehouse)
        )
        return 0
    if arguments.command == "serve":
        return _serve(arguments, spec)
    if arguments.command == "gates":
        from flows.gates import check_gates

        gates = check_gates(arguments.spec, arguments.warehouse)
        report.print_gates(gates)
        if gates.blocking_failures:
            print(
                "error: a blocking expectation failed; no release may be published", file=sys.stderr
            )
            return 1
        return 0

    from flows.release import release

    return _publish_command(release, arguments, spec)


def _publish_command(flow, arguments: argparse.Namespace, spec) -> int:
    """Run the `release` or `run` flow with the command's options and print its report."""
    from flows import report
    from tasks.runners import with_configured_runner

    result = with_configured_runner(flow)(
        arguments.spec,
        arguments.warehouse,
        arguments.releases,
        arguments.version,
        arguments.bump,
        arguments.dry_run,
    )
    report.print_batches(result.batches, arguments.warehouse, spec)
    report.print_gates(result.gates)
    report.print_release(result.release)
    return 0


def _ingest_command(arguments: argparse.Namespace, spec) -> int:
    from flows import report
    from tasks.runners import with_configured_runner

    if arguments.command == "ingest":
        from flows.ingest import ingest

        batches = with_configured_runner(ingest)(arguments.spec, arguments.warehouse)
        report.print_batches(batches, arguments.warehouse, spec)
        return 0
    if arguments.command == "ingest-landing":
        from flows.landing import ingest_landing

        landing = with_configured_runner(ingest_landing)(arguments.spec, arguments.warehouse)
        if not landing.batches:
            print(f"Landing folder {spec.landing.folder}: nothing new")
        report.print_batches(landing.batches, arguments.warehouse, spec)
        if landing.gates is not None:
            report.print_gates(landing.gates)
        return 0
    from flows.pipeline import run

    return _publish_command(run, arguments, spec)


def _serve(arguments: argparse.Namespace, spec) -> int:
    import tempfile

    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from flows.serve import deployment_names, serve_collection
    from tasks.local_server import local_prefect_server

    names = ", ".join(deployment_names(spec))
    if get_current_settings().api.url:
        print(f"Serving {names} with the Prefect server at {get_current_settings().api.url}")
        serve_collection(spec, arguments.warehouse, arguments.releases)
        return 0
    log_path = Path(tempfile.gettempdir()) / f"faircurate-prefect-server-{arguments.port}.log"
    print(f"Starting a Prefect server on 127.0.0.1:{arguments.port} (output in {log_path})")
    with local_prefect_server(arguments.port, log_path) as api_url:
        print(f"Serving {names}; the Prefect UI is at {api_url.removesuffix('/api')}")
        print(
            f"To start a run from another shell: PREFECT_API_URL={api_url} "
            f"prefect deployment run {deployment_names(spec)[-1]}"
        )
        with temporary_settings({PREFECT_API_URL: api_url}):
            serve_collection(spec, arguments.warehouse, arguments.releases)
    return 0


def _require_source_files(spec) -> None:
    for path in spec.source.files:
        if not path.is_file():
            raise InputFileError(
                path, "file not found; check `source.files` in the collection spec"
            )


if __name__ == "__main__":
    sys.exit(main())
