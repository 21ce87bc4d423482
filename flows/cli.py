"""The `faircurate` command line: one sub-command per flow, plus a quick spec check."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tasks.errors import FaircurateError

SPEC_HELP = "path of the collection spec YAML file, for example examples/adult/collection.yaml"
WAREHOUSE_HELP = "DuckDB warehouse file (default: warehouse/<collection>.duckdb)"
RELEASES_HELP = "folder that holds one sub-folder per release version (default: releases)"
VERSION_HELP = (
    "release version as MAJOR.MINOR.PATCH (default: 1.0.0 for the first release, then the "
    "next minor version; nothing is published when the records have not changed)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faircurate",
        description=(
            "Ingest a human-centric collection into DuckDB, measure its demographic coverage "
            "and diversity, gate it with Great Expectations and publish versioned releases."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check-spec", help="validate a collection spec and exit")
    check.add_argument("spec", help=SPEC_HELP)

    ingest = commands.add_parser("ingest", help="load the collection's source files as batches")
    ingest.add_argument("spec", help=SPEC_HELP)
    ingest.add_argument("--warehouse", help=WAREHOUSE_HELP)

    gates = commands.add_parser("gates", help="measure the warehouse and run the gate suites")
    gates.add_argument("spec", help=SPEC_HELP)
    gates.add_argument("--warehouse", help=WAREHOUSE_HELP)

    for name, text in (
        ("release", "measure, gate and publish a release of what the warehouse holds"),
        ("run", "the whole job: ingest, measure, gate and publish a release"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("spec", help=SPEC_HELP)
        command.add_argument("--warehouse", help=WAREHOUSE_HELP)
        command.add_argument("--releases", default="releases", help=RELEASES_HELP)
        command.add_argument("--version", help=VERSION_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return 0 on success, 1 when it failed with a message."""
    arguments = build_parser().parse_args(argv)
    try:
        _dispatch(arguments)
    except FaircurateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _dispatch(arguments: argparse.Namespace) -> None:
    from tasks.spec import load_spec

    # The spec is checked before Prefect starts, so a bad spec fails in a second.
    spec = load_spec(arguments.spec)
    if arguments.command == "check-spec":
        print(
            f"collection spec {arguments.spec} is valid: collection `{spec.name}`, "
            f"{len(spec.fields)} fields, {len(spec.source.files)} source files, "
            f"{len(spec.suites)} gate suites"
        )
        return

    from flows import report
    from tasks.log import hide_user_error_tracebacks

    hide_user_error_tracebacks()
    if arguments.command == "ingest":
        from flows.ingest import ingest

        report.print_batches(ingest(arguments.spec, arguments.warehouse))
    elif arguments.command == "gates":
        from flows.gates import check_gates

        report.print_gates(check_gates(arguments.spec, arguments.warehouse))
    else:
        from flows.pipeline import run
        from flows.release import release

        flow = run if arguments.command == "run" else release
        result = flow(arguments.spec, arguments.warehouse, arguments.releases, arguments.version)
        report.print_batches(result.batches)
        report.print_gates(result.gates)
        report.print_release(result.release)


if __name__ == "__main__":
    sys.exit(main())
