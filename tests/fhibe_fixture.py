"""Write small collections in the FHIBE release layout for tests, and break them on purpose.

`build_fhibe_collection(root)` writes one release folder with:

- 6 subjects (`s01` to `s06`) and 10 images (`img01` to `img10`), so 12 rows in
  `fhibe_downsampled.csv` (lines 2 to 13, in `APPEARANCES` order). Images `img02` (primary
  `s01`, secondary `s02`) and `img08` (primary `s05`, secondary `s06`) show two people.
- Multi-select values: `s03` has two pronouns, two ancestries and two nationalities, and `s05`
  has two ancestries. Every other subject has one of each.
- Country texts with misspellings, case and spacing that `FIXTURE_COUNTRY_MAP` resolves:
  "Nugeria" (Nigeria), "Pakisatn" (Pakistan), "  united   STATES " (United States), "Brasil"
  (Brazil), "japan" (Japan) and "Germany".
- An extra column `scene` that the adapter keeps as a string.
- 3 annotators (`ann01`, `ann02`, `ann03`; `ann03` disclosed no demographics) and 1 QA
  annotator (`qa01`).
- 2 annotations (`face_bbox`, `person_bbox`) for each of the 12 appearances: 24 in all. Image
  `img09` has no camera make or model in its JSON file.
- With `with_consent`, 7 consent events: one `granted` per subject, and `s04` later `withdrawn`.

Images are real photos copied from the shared faces folder: `astronaut.png` for `img01`,
`grace_hopper.jpg` saved as PNG for `img02`, and `lfw_0000.png` to `lfw_0007.png` for `img03` to
`img10`, so each image file is distinct. The numbers in front of pronoun, ancestry and
nationality labels follow FHIBE's `<integer>. <label>` form, but the numbers themselves are made up.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FACES_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "real-data" / "faces"

METADATA_CSV = "data/processed/fhibe_downsampled/fhibe_downsampled.csv"
ANNOTATOR_CSV = "data/annotator_metadata/annotator_demographics.csv"
QA_ANNOTATOR_CSV = "data/annotator_metadata/QAannotator_demographics.csv"
CONSENT_CSV = "data/consent/consent_events.csv"
RAW_IMAGES_DIR = "data/raw/fhibe_downsampled"

FIXTURE_COUNTRY_MAP: dict[str, tuple[str, str]] = {
    "nigeria": ("Nigeria", "Western Africa"),
    "nugeria": ("Nigeria", "Western Africa"),
    "pakistan": ("Pakistan", "Southern Asia"),
    "pakisatn": ("Pakistan", "Southern Asia"),
    "united states": ("United States", "Northern America"),
    "brazil": ("Brazil", "South America"),
    "brasil": ("Brazil", "South America"),
    "japan": ("Japan", "Eastern Asia"),
    "germany": ("Germany", "Western Europe"),
}


@dataclass(frozen=True)
class Subject:
    """Self-reported values of one fixture subject, the same on every image."""

    subject_id: str
    age: int
    pronoun: list[str]
    ancestry: list[str]
    nationality: list[str]
    natural_skin_color: str


@dataclass(frozen=True)
class Capture:
    """One fixture image: its people, where and when it was taken, and its source photo."""

    image_id: str
    primary: str
    secondary: str | None
    country_text: str
    region_text: str
    hour: str
    date: str
    scene: str
    photo: str
    camera: tuple[str, str] | None


SUBJECTS = {
    subject.subject_id: subject
    for subject in (
        Subject("s01", 29, ["0. She/her/hers"], ["14. Western Africa"], ["133. Nigerian"], "5. V"),
        Subject("s02", 41, ["1. He/him/his"], ["8. Eastern Asia"], ["94. Japanese"], "2. II"),
        Subject(
            "s03",
            35,
            ["0. She/her/hers", "2. They/them/their"],
            ["12. Southern Asia", "17. Northern Europe"],
            ["143. Pakistani", "182. British"],
            "4. IV",
        ),
        Subject("s04", 52, ["2. They/them/their"], ["19. Western Europe"], ["63. German"], "1. I"),
        Subject(
            "s05",
            63,
            ["1. He/him/his"],
            ["24. South America", "14. Western Africa"],
            ["25. Brazilian"],
            "6. VI",
        ),
        Subject(
            "s06", 19, ["0. She/her/hers"], ["21. Northern America"], ["186. American"], "3. III"
        ),
    )
}

CAPTURES = (
    Capture("img01", "s01", None, "Nugeria", "Lagos", "06:00-11:59", "2023-02-14",
            "3. Indoor: Office", "astronaut.png", ("Canon", "EOS 80D")),
    Capture("img02", "s01", "s02", "Nugeria", "Lagos", "12:00-17:59", "2023-02-15",
            "7. Outdoor: Street", "grace_hopper.jpg", ("Canon", "EOS 80D")),
    Capture("img03", "s02", None, "japan", "Osaka", "18:00-23:59", "2023-04-02",
            "2. Indoor: Home", "lfw_0000.png", ("Sony", "ILCE-7M3")),
    Capture("img04", "s02", None, "japan", "Osaka", "00:00-05:59", "2023-04-03",
            "2. Indoor: Home", "lfw_0001.png", ("Sony", "ILCE-7M3")),
    Capture("img05", "s03", None, "Pakisatn", "Punjab", "06:00-11:59", "2023-05-20",
            "9. Outdoor: Park", "lfw_0002.png", ("Apple", "iPhone 13")),
    Capture("img06", "s03", None, "Pakisatn", "Punjab", "12:00-17:59", "2023-05-21",
            "3. Indoor: Office", "lfw_0003.png", ("Apple", "iPhone 13")),
    Capture("img07", "s04", None, "Germany", "Bavaria", "12:00-17:59", "2023-03-01",
            "7. Outdoor: Street", "lfw_0004.png", ("Nikon", "D750")),
    Capture("img08", "s05", "s06", "Brasil", "Bahia", "18:00-23:59", "2023-07-09",
            "9. Outdoor: Park", "lfw_0005.png", ("Samsung", "SM-G991B")),
    Capture("img09", "s05", None, "Brasil", "Bahia", "06:00-11:59", "2023-07-10",
            "2. Indoor: Home", "lfw_0006.png", None),
    Capture("img10", "s06", None, "  united   STATES ", "Ohio", "12:00-17:59", "2023-08-30",
            "3. Indoor: Office", "lfw_0007.png", ("Google", "Pixel 7")),
)  # fmt: skip

APPEARANCES = tuple(
    (capture.image_id, subject_id)
    for capture in CAPTURES
    for subject_id in (capture.primary, capture.secondary)
    if subject_id is not None
)

METADATA_HEADER = (
    "subject_id",
    "image_id",
    "is_primary",
    "age",
    "pronoun",
    "ancestry",
    "nationality",
    "natural_skin_color",
    "location_country",
    "location_region",
    "user_hour_captured",
    "capture_date",
    "scene",
)
ANNOTATOR_HEADER = (
    "annotator_id",
    "annotator_age",
    "annotator_pronoun",
    "annotator_ancestry",
    "annotator_country",
    "pay_per_hour",
    "currency",
)
ANNOTATORS = (
    ("ann01", "31", "['0. She/her/hers']", "['6. Eastern Africa']", "Kenya", "600.0", "KES"),
    (
        "ann02",
        "27",
        "['1. He/him/his']",
        "['10. South-eastern Asia']",
        "Philippines",
        "150.0",
        "PHP",
    ),
    ("ann03", "", "", "", "India", "450.0", "INR"),
)
QA_ANNOTATORS = (
    ("qa01", "38", "['0. She/her/hers']", "['15. Eastern Europe']", "Poland", "45.5", "PLN"),
)
ANNOTATOR_IDS = ("ann01", "ann02", "ann03")

CONSENT_HEADER = (
    "subject_id",
    "event",
    "form_version",
    "scopes",
    "signed_on",
    "jurisdiction",
    "country_of_residence",
)
CONSENT_EVENTS = (
    ("s01", "granted", "v2", "['evaluation', 'training']", "2023-02-01", "Nigeria", "Nigeria"),
    ("s02", "granted", "v2", "['evaluation']", "2023-03-20", "Japan", "Japan"),
    ("s03", "granted", "v2", "['evaluation', 'training']", "2023-05-02", "Pakistan", "Pakistan"),
    ("s04", "granted", "v2", "['evaluation', 'training']", "2023-02-20", "Germany", "Germany"),
    ("s05", "granted", "v3", "['evaluation']", "2023-06-30", "Brazil", "Brazil"),
    ("s06", "granted", "v3", "['evaluation', 'training']", "2023-07-01", "United States",
     "United States"),
    ("s04", "withdrawn", "v2", "['evaluation', 'training']", "2024-02-10", "Germany", "Germany"),
)  # fmt: skip


def build_fhibe_collection(root: Path, *, with_consent: bool = True) -> Path:
    """Write the fixture collection into the release folder `root` and return `root`.

    Without `with_consent`, no consent file is written, as in the public FHIBE release.
    """
    root = Path(root)
    rows = []
    for capture in CAPTURES:
        width, height = _write_image(root, capture)
        _write_annotations(root, capture, width, height)
        rows.append(_metadata_row(capture, capture.primary, is_primary=True))
        if capture.secondary is not None:
            rows.append(_metadata_row(capture, capture.secondary, is_primary=False))

    _write_csv(root / METADATA_CSV, METADATA_HEADER, rows)
    _write_csv(root / ANNOTATOR_CSV, ANNOTATOR_HEADER, ANNOTATORS)
    _write_csv(root / QA_ANNOTATOR_CSV, ANNOTATOR_HEADER, QA_ANNOTATORS)
    if with_consent:
        _write_csv(root / CONSENT_CSV, CONSENT_HEADER, CONSENT_EVENTS)
    return root


def image_folder(root: Path, image_id: str) -> Path:
    """Return the folder of a fixture image, which is under its primary subject's id."""
    [capture] = [c for c in CAPTURES if c.image_id == image_id]
    return Path(root) / RAW_IMAGES_DIR / capture.primary / image_id


def metadata_line(image_id: str, subject_id: str) -> int:
    """Return the line of an appearance in the fixture's `fhibe_downsampled.csv` (header = 1)."""
    return APPEARANCES.index((image_id, subject_id)) + 2


# Bad input for a built collection


def set_cell(csv_path: Path, match: dict[str, str], column: str, value: str) -> int:
    """Set `column` to `value` in the one row whose cells equal `match` and return its line.

    The fixture's CSV files have no line breaks inside cells, so the line is the row index + 2.
    """
    header, rows = _read_csv(csv_path)
    matching = [
        index
        for index, row in enumerate(rows)
        if all(row[header.index(key)] == wanted for key, wanted in match.items())
    ]
    if len(matching) != 1:
        raise ValueError(f"{csv_path}: {len(matching)} rows match {match}; expected exactly 1")
    [index] = matching
    rows[index][header.index(column)] = value
    _write_csv(csv_path, header, rows)
    return index + 2


def set_appearance_cell(root: Path, image_id: str, subject_id: str, column: str, value: str) -> int:
    """Set one cell of an appearance row in `fhibe_downsampled.csv` and return its line."""
    match = {"image_id": image_id, "subject_id": subject_id}
    return set_cell(Path(root) / METADATA_CSV, match, column, value)


def append_duplicate_appearance(root: Path, image_id: str, subject_id: str) -> int:
    """Append a copy of an appearance row to `fhibe_downsampled.csv` and return the copy's line."""
    csv_path = Path(root) / METADATA_CSV
    header, rows = _read_csv(csv_path)
    image_column = header.index("image_id")
    subject_column = header.index("subject_id")
    [row] = [
        candidate
        for candidate in rows
        if candidate[image_column] == image_id and candidate[subject_column] == subject_id
    ]
    rows.append(list(row))
    _write_csv(csv_path, header, rows)
    return len(rows) + 1


def write_malformed_json(root: Path, image_id: str) -> str:
    """Cut an image's annotation file off mid-object and return its path relative to `root`."""
    path = image_folder(root, image_id) / f"main_annos_{image_id}.json"
    path.write_text(path.read_text()[:40])
    return path.relative_to(root).as_posix()


def remove_annotation_file(root: Path, image_id: str) -> str:
    """Delete an image's annotation file and return its path relative to `root`."""
    path = image_folder(root, image_id) / f"main_annos_{image_id}.json"
    path.unlink()
    return path.relative_to(root).as_posix()


def remove_image_file(root: Path, image_id: str) -> str:
    """Delete an image's PNG file and return its path relative to `root`."""
    path = image_folder(root, image_id) / f"main_{image_id}.png"
    path.unlink()
    return path.relative_to(root).as_posix()


def empty_image_file(root: Path, image_id: str) -> str:
    """Truncate an image's PNG file to 0 bytes and return its path relative to `root`."""
    path = image_folder(root, image_id) / f"main_{image_id}.png"
    path.write_bytes(b"")
    return path.relative_to(root).as_posix()


def add_annotated_subject(root: Path, image_id: str, subject_id: str) -> str:
    """Add an annotation of `subject_id` to an image's JSON file and return its relative path."""
    path = image_folder(root, image_id) / f"main_annos_{image_id}.json"
    document = json.loads(path.read_text())
    document["subject_annotation"].append(
        {"subject_id": subject_id, "annotations": [_annotation("face_bbox", [1, 1, 5, 5], 0)]}
    )
    path.write_text(json.dumps(document, indent=2))
    return path.relative_to(root).as_posix()


def add_labels(root: Path, attribute: str, label_of) -> None:
    """Add labels of `attribute` to every person in every annotation file.

    `label_of(subject_id)` returns (annotator_id, value) pairs, and each becomes one annotation.
    """
    for path in sorted(root.rglob("main_annos_*.json")):
        document = json.loads(path.read_text())
        for entry in document["subject_annotation"]:
            entry["annotations"] += [
                {
                    "attribute": attribute,
                    "value": value,
                    "annotator_id": annotator_id,
                    "qa_annotator_id": "qa01",
                }
                for annotator_id, value in label_of(entry["subject_id"])
            ]
        path.write_text(json.dumps(document, indent=2))


# Writing the collection


def _metadata_row(capture: Capture, subject_id: str, *, is_primary: bool) -> list[str]:
    subject = SUBJECTS[subject_id]
    return [
        subject_id,
        capture.image_id,
        str(is_primary),
        str(subject.age),
        str(subject.pronoun),
        str(subject.ancestry),
        str(subject.nationality),
        subject.natural_skin_color,
        capture.country_text,
        capture.region_text,
        capture.hour,
        capture.date,
        capture.scene,
    ]


def _write_image(root: Path, capture: Capture) -> tuple[int, int]:
    """Copy the capture's photo as `main_<image_id>.png` and return its width and height."""
    folder = image_folder(root, capture.image_id)
    folder.mkdir(parents=True, exist_ok=True)
    source = FACES_DIR / capture.photo
    target = folder / f"main_{capture.image_id}.png"
    if source.suffix == ".png":
        shutil.copyfile(source, target)
    else:
        with Image.open(source) as photo:
            photo.save(target, format="PNG")
    with Image.open(target) as image:
        return image.size


def _write_annotations(root: Path, capture: Capture, width: int, height: int) -> None:
    image: dict[str, object] = {"width": width, "height": height}
    if capture.camera is not None:
        image["camera_make"], image["camera_model"] = capture.camera
    people = [p for p in (capture.primary, capture.secondary) if p is not None]
    subject_annotation = []
    for position, subject_id in enumerate(people):
        offset = position * width // 2
        face = [offset + width // 8, height // 8, width // 4, height // 4]
        person = [offset, 0, width // 2, height]
        number = int(capture.image_id[3:]) + position
        subject_annotation.append(
            {
                "subject_id": subject_id,
                "annotations": [
                    _annotation("face_bbox", face, number),
                    _annotation("person_bbox", person, number + 1),
                ],
            }
        )
    document = {
        "image": image,
        "image_annotation": {"scene": capture.scene, "lighting": ["0. Natural light"]},
        "subject_annotation": subject_annotation,
    }
    path = image_folder(root, capture.image_id) / f"main_annos_{capture.image_id}.json"
    path.write_text(json.dumps(document, indent=2))


def _annotation(attribute: str, value: list[int], number: int) -> dict[str, object]:
    return {
        "attribute": attribute,
        "value": value,
        "annotator_id": ANNOTATOR_IDS[number % len(ANNOTATOR_IDS)],
        "qa_annotator_id": "qa01",
    }


def _write_csv(path: Path, header: tuple[str, ...] | list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    return header, rows
