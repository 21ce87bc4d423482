"""Generate a FHIBE-shaped collection of any size, with its spec, deterministically for a seed.

Usage: python -m bench.generate FOLDER --appearances N [--seed S] [--layout fhibe|tabular]

`fhibe` writes the FHIBE release layout (metadata CSV, one folder per image with a PNG and an
annotation JSON, annotator and consent files), for collections up to about 100,000 rows.
`tabular` writes the appearance rows as delimited files, for large row counts. Either way
`faircurate run FOLDER/collection.yaml` ingests the output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.composition import DEFAULT_COMPOSITION, load_composition
from bench.sample import sample_collection
from bench.write_fhibe import write_fhibe
from bench.write_tabular import write_tabular
from tasks.errors import FaircurateError

DEFAULT_ROWS_PER_FILE = 1_000_000


class OutputFolderError(FaircurateError):
    """The output folder exists and is not empty."""


def generate(
    folder: Path,
    appearances: int,
    *,
    seed: int = 0,
    layout: str = "fhibe",
    composition_path: Path = DEFAULT_COMPOSITION,
    image_size: int | None = 32,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    name: str = "generated",
) -> Path:
    """Write a generated collection into `folder` and return the path of its spec.

    Raises OutputFolderError when `folder` exists and is not empty, CompositionError for an
    invalid composition file and ValueError for an unknown layout or a size below 1.
    """
    folder = Path(folder)
    if layout not in ("fhibe", "tabular"):
        raise ValueError(f"unknown layout {layout!r}; expected fhibe or tabular")
    if folder.exists() and any(folder.iterdir()):
        raise OutputFolderError(
            f"output folder {folder} is not empty; remove it or pass a new folder"
        )
    composition = load_composition(composition_path)
    collection = sample_collection(composition, appearances, seed)
    if layout == "tabular":
        return write_tabular(
            collection, composition, folder, name=name, seed=seed, rows_per_file=rows_per_file
        )
    return write_fhibe(collection, composition, folder, name=name, seed=seed, image_size=image_size)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description="Write a generated FHIBE-shaped collection and its collection spec.",
    )
    parser.add_argument("folder", type=Path, help="output folder; must be new or empty")
    parser.add_argument(
        "--appearances",
        type=int,
        required=True,
        help="number of appearance rows, one per person per image",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--layout",
        choices=("fhibe", "tabular"),
        default="fhibe",
        help="fhibe: FHIBE release folder with images; tabular: delimited files (default: fhibe)",
    )
    parser.add_argument(
        "--composition",
        type=Path,
        default=DEFAULT_COMPOSITION,
        help=f"YAML file of the distributions (default: {DEFAULT_COMPOSITION.name})",
    )
    images = parser.add_mutually_exclusive_group()
    images.add_argument(
        "--image-size", type=int, default=32, help="side of each PNG in pixels (default: 32)"
    )
    images.add_argument(
        "--no-images",
        action="store_true",
        help="write no image files; the pipeline then quarantines every row as image_missing",
    )
    parser.add_argument(
        "--rows-per-file",
        type=int,
        default=DEFAULT_ROWS_PER_FILE,
        help="tabular layout: rows per CSV file, one batch each (default: %(default)s)",
    )
    parser.add_argument("--name", default="generated", help="collection name (default: generated)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        spec = generate(
            arguments.folder,
            arguments.appearances,
            seed=arguments.seed,
            layout=arguments.layout,
            composition_path=arguments.composition,
            image_size=None if arguments.no_images else arguments.image_size,
            rows_per_file=arguments.rows_per_file,
            name=arguments.name,
        )
    except (FaircurateError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
