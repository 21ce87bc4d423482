"""Build a small FHIBE-layout collection of real photos with its spec, for `make demo-photos`.

The collection is the test fixture: 6 consenting subjects (one of them withdrawn) in 10 images,
with annotators and consent records. The photos are public-domain portraits and LFW face crops
from the shared real-data folder beside the checkout; they stay out of the repository.

Usage: python examples/fhibe_demo.py FOLDER  (prints the path of the spec it wrote)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fhibe_fixture import FACES_DIR, build_fhibe_collection  # noqa: E402
from tests.fhibe_spec import write_fhibe_spec  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/fhibe_demo.py FOLDER")
    if not FACES_DIR.is_dir():
        sys.exit(
            f"error: photo folder {FACES_DIR} not found; the demo copies real photos from "
            "shared/real-data/faces in the folder that contains the checkout"
        )
    folder = Path(sys.argv[1]).resolve()
    if folder.exists():
        sys.exit(f"{folder} already exists; remove it or pass a new folder")
    folder.mkdir(parents=True)
    root = build_fhibe_collection(folder / "release")
    print(write_fhibe_spec(folder, root))


if __name__ == "__main__":
    main()
