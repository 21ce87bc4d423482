"""Tests for tasks.media on real photos copied into tmp_path.

The photos are Grace Hopper's portrait (JPEG, 512x600), the astronaut portrait (PNG,
512x512) and 100 greyscale face crops of 25x25 pixels from Labeled Faces in the Wild. Tests
with EXIF write the tags into a copy of the JPEG with Pillow.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import imagehash
import numpy as np
import polars as pl
import pytest
from PIL import ExifTags, Image, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational
from polars.testing import assert_frame_equal

from tasks import media
from tasks.errors import InputFileError
from tasks.media import check_images, find_duplicates, strip_identifying_exif
from tests.conftest import FACES_DIR

LFW_NAMES = [f"lfw_{index:04d}.png" for index in range(100)]
MEASURED_COLUMNS = ["sha256", "width", "height", "image_format", "dhash", "has_gps"]

Base = ExifTags.Base


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Return a folder containing copies of the two portraits and the 100 LFW crops."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ["grace_hopper.jpg", "astronaut.png", *LFW_NAMES]:
        shutil.copyfile(FACES_DIR / name, folder / name)
    return folder


def check_one(root: Path, path: str) -> dict:
    return check_images(root, [path], workers=1).row(0, named=True)


def tagged_exif() -> Image.Exif:
    """Return EXIF with camera fields, a GPS position and three identifying tags."""
    exif = Image.Exif()
    exif[Base.Make] = "Canon"
    exif[Base.Model] = "Canon EOS 5D Mark IV"
    exif[Base.Artist] = "Jane Example"

    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    exif_ifd[Base.DateTimeOriginal] = "2024:05:17 14:03:21"
    exif_ifd[Base.BodySerialNumber] = "012345678901"
    exif_ifd[Base.LensModel] = "EF24-70mm f/2.8L II USM"
    exif_ifd[Base.FNumber] = IFDRational(28, 10)
    exif_ifd[Base.FocalLength] = IFDRational(50, 1)
    exif_ifd[Base.ISOSpeedRatings] = 400
    exif_ifd[Base.ExposureTime] = IFDRational(1, 250)

    gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps_ifd[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps_ifd[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


@pytest.fixture
def tagged_jpeg(photos: Path) -> Path:
    """Return a copy of grace_hopper.jpg with the EXIF of tagged_exif()."""
    target = photos / "tagged.jpg"
    with Image.open(photos / "grace_hopper.jpg") as image:
        image.save(target, exif=tagged_exif(), quality="keep")
    return target


def read_exif(path: Path) -> tuple[Image.Exif, dict, dict]:
    """Return the IFD0, Exif IFD and GPS IFD of the image at `path`."""
    with Image.open(path) as image:
        image.load()
        exif = image.getexif()
    return exif, exif.get_ifd(ExifTags.IFD.Exif), exif.get_ifd(ExifTags.IFD.GPSInfo)


# check_images on valid images


@pytest.mark.parametrize(
    ("name", "width", "height", "image_format"),
    [
        pytest.param("grace_hopper.jpg", 512, 600, "JPEG", id="grace_hopper_jpeg"),
        pytest.param("astronaut.png", 512, 512, "PNG", id="astronaut_png"),
        pytest.param("lfw_0042.png", 25, 25, "PNG", id="lfw_crop_png"),
    ],
)
def test_valid_image_measured(
    photos: Path, name: str, width: int, height: int, image_format: str
) -> None:
    row = check_one(photos, name)
    with Image.open(photos / name) as image:
        expected_dhash = str(imagehash.dhash(image, hash_size=8))

    assert row["is_valid"] is True
    assert row["reason_code"] is None
    assert row["reason"] is None
    assert row["width"] == width
    assert row["height"] == height
    assert row["image_format"] == image_format
    assert row["sha256"] == hashlib.sha256((photos / name).read_bytes()).hexdigest()
    assert row["dhash"] == expected_dhash
    assert len(row["dhash"]) == 16


def test_rows_follow_input_order(photos: Path) -> None:
    paths = ["lfw_0007.png", "missing.png", "astronaut.png", "lfw_0001.png", "lfw_0007.png"]

    checked = check_images(photos, paths, workers=1)

    assert checked["path"].to_list() == paths
    assert checked["is_valid"].to_list() == [True, False, True, True, True]


def test_output_has_schema_columns(photos: Path) -> None:
    checked = check_images(photos, ["astronaut.png", "missing.png"], workers=1)

    assert checked.schema == pl.Schema(media.IMAGE_CHECK_SCHEMA)


def test_no_paths_give_empty_table(photos: Path) -> None:
    checked = check_images(photos, [], workers=1)

    assert checked.height == 0
    assert checked.columns == list(media.IMAGE_CHECK_SCHEMA)


# check_images on EXIF


def test_camera_fields_read_from_exif(tagged_jpeg: Path) -> None:
    row = check_one(tagged_jpeg.parent, tagged_jpeg.name)

    assert row["camera_make"] == "Canon"
    assert row["camera_model"] == "Canon EOS 5D Mark IV"
    assert row["lens_model"] == "EF24-70mm f/2.8L II USM"
    assert row["f_number"] == pytest.approx(2.8)
    assert row["focal_length_mm"] == pytest.approx(50.0)
    assert row["iso"] == 400
    assert row["exposure_time_s"] == pytest.approx(1 / 250)
    assert row["captured_at"] == "2024:05:17 14:03:21"


def test_identifying_tags_reported(tagged_jpeg: Path) -> None:
    row = check_one(tagged_jpeg.parent, tagged_jpeg.name)

    assert row["has_gps"] is True
    assert row["identifying_exif_tags"] == ["GPSInfo", "BodySerialNumber", "Artist"]


def test_photo_without_exif_has_nulls(photos: Path) -> None:
    row = check_one(photos, "grace_hopper.jpg")

    assert row["has_gps"] is False
    assert row["identifying_exif_tags"] == []
    assert row["camera_make"] is None
    assert row["captured_at"] is None
    assert row["f_number"] is None


def test_empty_gps_ifd_not_reported(photos: Path) -> None:
    exif = Image.Exif()
    exif[Base.Make] = "Canon"
    exif[Base.GPSInfo] = {}
    with Image.open(photos / "grace_hopper.jpg") as image:
        image.save(photos / "empty_gps.jpg", exif=exif, quality="keep")

    row = check_one(photos, "empty_gps.jpg")

    assert row["has_gps"] is False
    assert row["identifying_exif_tags"] == []


# check_images on bad input


def write_missing(root: Path) -> str:
    return "not_there.jpg"


def write_empty(root: Path) -> str:
    (root / "empty.jpg").touch()
    return "empty.jpg"


def write_truncated(root: Path) -> str:
    (root / "truncated.jpg").write_bytes((FACES_DIR / "grace_hopper.jpg").read_bytes()[:2000])
    return "truncated.jpg"


def write_text_as_png(root: Path) -> str:
    (root / "notes.txt").write_text("This is a text file, not an image.\n")
    (root / "notes.txt").rename(root / "notes.png")
    return "notes.png"


def write_unparseable_exif(root: Path) -> str:
    # The TIFF header of this EXIF block has the byte order "XX", which is neither II nor MM.
    # The JFIF resolution keeps Pillow from reading the EXIF while it opens the file.
    with Image.open(FACES_DIR / "grace_hopper.jpg") as image:
        image.save(root / "bad_exif.jpg", dpi=(96, 96), exif=b"Exif\x00\x00XX*\x00\x08\x00\x00\x00")
    return "bad_exif.jpg"


def write_outside(root: Path) -> str:
    shutil.copyfile(FACES_DIR / "astronaut.png", root.parent / "outside.png")
    return "../outside.png"


def write_absolute(root: Path) -> str:
    # A valid image inside the root, which is still rejected because its path is absolute.
    return str(root / "astronaut.png")


def write_link_outside(root: Path) -> str:
    shutil.copyfile(FACES_DIR / "astronaut.png", root.parent / "outside.png")
    (root / "link.png").symlink_to(root.parent / "outside.png")
    return "link.png"


def write_link_to_outside_folder(root: Path) -> str:
    (root.parent / "elsewhere").mkdir()
    shutil.copyfile(FACES_DIR / "astronaut.png", root.parent / "elsewhere" / "face.png")
    (root / "linked_album").symlink_to(root.parent / "elsewhere")
    return "linked_album/face.png"


def write_dangling_link(root: Path) -> str:
    (root / "dangling.png").symlink_to(root / "deleted.png")
    return "dangling.png"


def write_folder(root: Path) -> str:
    (root / "album").mkdir()
    return "album"


BAD_INPUTS = [
    pytest.param(write_missing, "missing_file", id="missing_file"),
    pytest.param(write_empty, "empty_file", id="zero_byte_file"),
    pytest.param(write_truncated, "undecodable_image", id="truncated_jpeg"),
    pytest.param(write_text_as_png, "undecodable_image", id="text_renamed_png"),
    pytest.param(write_unparseable_exif, "undecodable_image", id="unparseable_exif"),
    pytest.param(write_outside, "path_outside_root", id="dotdot_outside_root"),
    pytest.param(write_absolute, "path_outside_root", id="absolute_path"),
    pytest.param(write_link_outside, "symlink_outside_root", id="link_to_outside_file"),
    pytest.param(write_link_to_outside_folder, "symlink_outside_root", id="link_to_outside_folder"),
    pytest.param(write_dangling_link, "missing_file", id="dangling_link"),
    pytest.param(write_folder, "unreadable_file", id="folder_not_file"),
]


@pytest.mark.parametrize(("write", "reason_code"), BAD_INPUTS)
def test_bad_path_rejected(photos: Path, write: Callable[[Path], str], reason_code: str) -> None:
    path = write(photos)

    row = check_one(photos, path)

    assert row["is_valid"] is False
    assert row["reason_code"] == reason_code
    assert f"`{path}`" in row["reason"]
    for column in MEASURED_COLUMNS:
        assert row[column] is None, column


def test_bad_paths_checked_together(photos: Path) -> None:
    paths = [param.values[0](photos) for param in BAD_INPUTS]
    reason_codes = [param.values[1] for param in BAD_INPUTS]

    checked = check_images(photos, [*paths, "grace_hopper.jpg"], workers=1)

    assert checked["is_valid"].to_list() == [False] * len(paths) + [True]
    assert checked["reason_code"].to_list() == [*reason_codes, None]


def test_link_inside_root_accepted(photos: Path) -> None:
    (photos / "album").mkdir()
    (photos / "album" / "portrait.jpg").symlink_to(photos / "grace_hopper.jpg")

    row = check_one(photos, "album/portrait.jpg")

    assert row["is_valid"] is True


def test_dotdot_inside_root_accepted(photos: Path) -> None:
    (photos / "album").mkdir()

    row = check_one(photos, "album/../grace_hopper.jpg")

    assert row["is_valid"] is True


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no_such_folder.*image folder not found"):
        check_images(tmp_path / "no_such_folder", ["a.jpg"])


def test_root_file_raises(photos: Path) -> None:
    with pytest.raises(InputFileError, match="astronaut.png: is a file, not a folder"):
        check_images(photos / "astronaut.png", ["a.jpg"])


def test_zero_workers_raises(photos: Path) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        check_images(photos, ["astronaut.png"], workers=0)


# check_images in worker processes


def test_two_workers_match_one(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [*LFW_NAMES, "grace_hopper.jpg", "astronaut.png", "missing.png", "../outside.png"]
    pool_sizes = []

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            pool_sizes.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(media, "ProcessPoolExecutor", RecordingPool)

    in_process = check_images(photos, paths, workers=1)
    sharded = check_images(photos, paths, workers=2)

    assert pool_sizes == [2]
    assert_frame_equal(sharded, in_process)


# find_duplicates


def image_table(root: Path, subjects: dict[str, str]) -> pl.DataFrame:
    """Check the images named in `subjects` and return the find_duplicates input."""
    checked = check_images(root, list(subjects), workers=1)
    return checked.filter("is_valid").select(
        pl.col("path").alias("image_id"),
        pl.col("path").replace_strict(subjects).alias("subject_id"),
        "sha256",
        "dhash",
    )


def test_exact_copy_paired(photos: Path) -> None:
    shutil.copyfile(photos / "grace_hopper.jpg", photos / "copy_of_hopper.jpg")
    images = image_table(
        photos, {"grace_hopper.jpg": "s1", "copy_of_hopper.jpg": "s1", "astronaut.png": "s2"}
    )

    pairs = find_duplicates(images)

    assert pairs.height == 1
    assert pairs.row(0, named=True) == {
        "image_id_a": "copy_of_hopper.jpg",
        "image_id_b": "grace_hopper.jpg",
        "subject_id_a": "s1",
        "subject_id_b": "s1",
        "kind": "exact",
        "distance": 0,
        "is_cross_subject": False,
    }


def save_resized(image: Image.Image, target: Path) -> None:
    image.resize((500, 500), Image.Resampling.LANCZOS).save(target)


def save_with_changed_pixels(image: Image.Image, target: Path) -> None:
    changed = image.copy()
    for x in range(100, 110):
        changed.putpixel((x, 100), (255, 0, 0))
    changed.save(target)


@pytest.mark.parametrize(
    "derive",
    [
        pytest.param(save_resized, id="resized"),
        pytest.param(save_with_changed_pixels, id="ten_pixels_changed"),
    ],
)
def test_near_duplicate_paired(photos: Path, derive: Callable[[Image.Image, Path], None]) -> None:
    with Image.open(photos / "astronaut.png") as image:
        derive(image, photos / "astronaut_edit.png")
    images = image_table(photos, {"astronaut.png": "s1", "astronaut_edit.png": "s1"})

    pairs = find_duplicates(images)

    assert pairs.height == 1
    assert pairs["kind"].to_list() == ["near"]
    assert pairs["distance"].item() <= 4


def test_lfw_crops_not_paired(photos: Path) -> None:
    images = image_table(photos, {name: name for name in LFW_NAMES})

    pairs = find_duplicates(images, max_distance=4)

    # Observed with these 100 crops: the two closest dhashes differ in 8 of 64 bits.
    assert pairs.height == 0


@pytest.mark.parametrize(
    ("copy_subject", "is_cross_subject"),
    [
        pytest.param("s1", False, id="same_subject"),
        pytest.param("s2", True, id="other_subject"),
        pytest.param(None, None, id="unknown_subject"),
    ],
)
def test_cross_subject_flag(
    photos: Path, copy_subject: str | None, is_cross_subject: bool | None
) -> None:
    shutil.copyfile(photos / "astronaut.png", photos / "copy.png")
    images = image_table(photos, {"astronaut.png": "s1", "copy.png": copy_subject})

    pairs = find_duplicates(images)

    assert pairs["is_cross_subject"].to_list() == [is_cross_subject]


def test_pair_ids_ordered(photos: Path) -> None:
    shutil.copyfile(photos / "lfw_0003.png", photos / "a_copy.png")
    images = image_table(photos, {"lfw_0003.png": "s1", "a_copy.png": "s2"})

    pairs = find_duplicates(images.reverse())

    assert pairs["image_id_a"].to_list() == ["a_copy.png"]
    assert pairs["image_id_b"].to_list() == ["lfw_0003.png"]


def test_pairs_match_pairwise_loop(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small blocks, so that many pairs lie across block boundaries.
    monkeypatch.setattr(media, "_PAIR_BLOCK_ELEMENTS", 500)
    shutil.copyfile(photos / "lfw_0010.png", photos / "lfw_copy.png")
    images = image_table(photos, {name: "s1" for name in [*LFW_NAMES, "lfw_copy.png"]})
    expected = set()
    for first, second in itertools.combinations(images.sort("image_id").iter_rows(), 2):
        distance = imagehash.hex_to_hash(first[3]) - imagehash.hex_to_hash(second[3])
        if distance <= 16:
            expected.add((first[0], second[0], int(distance)))

    pairs = find_duplicates(images, max_distance=16)

    found = set(pairs.select("image_id_a", "image_id_b", "distance").iter_rows())
    assert len(expected) > 50
    assert found == expected


def test_no_images_no_pairs() -> None:
    images = pl.DataFrame(
        schema={
            "image_id": pl.Int64,
            "subject_id": pl.String,
            "sha256": pl.String,
            "dhash": pl.String,
        }
    )

    pairs = find_duplicates(images)

    assert pairs.height == 0
    assert pairs.columns == [
        "image_id_a",
        "image_id_b",
        "subject_id_a",
        "subject_id_b",
        "kind",
        "distance",
        "is_cross_subject",
    ]


VALID_HASHES = {
    "image_id": [1, 2],
    "subject_id": ["s1", "s2"],
    "sha256": ["a" * 64, "b" * 64],
    "dhash": ["cd8dd91d897293a7", "cd8dd91d897293a6"],
}


@pytest.mark.parametrize(
    ("changes", "max_distance", "message"),
    [
        pytest.param({}, 65, "max_distance must be between 0 and 64 bits, got 65", id="distance"),
        pytest.param({"dhash": None}, 4, "missing: dhash", id="no_dhash_column"),
        pytest.param({"image_id": [1, 1]}, 4, "image_id must be unique; repeated: 1", id="repeat"),
        pytest.param(
            {"dhash": ["cd8dd91d897293a7", "xyz"]}, 4, "image 2: dhash 'xyz'", id="bad_dhash"
        ),
        pytest.param(
            {"sha256": ["a" * 64, None]}, 4, "column `sha256` has nulls", id="null_sha256"
        ),
    ],
)
def test_duplicates_bad_input_raises(changes: dict, max_distance: int, message: str) -> None:
    columns = {**VALID_HASHES, **changes}
    images = pl.DataFrame({name: values for name, values in columns.items() if values is not None})

    with pytest.raises(ValueError, match=message):
        find_duplicates(images, max_distance=max_distance)


# strip_identifying_exif


def test_strip_removes_identifying_tags(tagged_jpeg: Path, tmp_path: Path) -> None:
    target = tmp_path / "stripped.jpg"

    strip_identifying_exif(tagged_jpeg, target)

    exif, exif_ifd, gps_ifd = read_exif(target)
    assert Base.GPSInfo not in exif
    assert gps_ifd == {}
    assert Base.Artist not in exif
    assert Base.BodySerialNumber not in exif_ifd


def test_strip_keeps_camera_fields(tagged_jpeg: Path, tmp_path: Path) -> None:
    target = tmp_path / "stripped.jpg"

    strip_identifying_exif(tagged_jpeg, target)

    exif, exif_ifd, _ = read_exif(target)
    assert exif[Base.Make] == "Canon"
    assert exif[Base.Model] == "Canon EOS 5D Mark IV"
    assert exif_ifd[Base.DateTimeOriginal] == "2024:05:17 14:03:21"
    assert exif_ifd[Base.LensModel] == "EF24-70mm f/2.8L II USM"
    assert exif_ifd[Base.ISOSpeedRatings] == 400


def test_strip_keeps_jpeg_encoding(tagged_jpeg: Path, tmp_path: Path) -> None:
    target = tmp_path / "stripped.jpg"

    strip_identifying_exif(tagged_jpeg, target)

    with Image.open(tagged_jpeg) as source, Image.open(target) as copy:
        assert copy.size == source.size
        assert copy.format == "JPEG"
        assert copy.quantization == source.quantization
        assert JpegImagePlugin.get_sampling(copy) == JpegImagePlugin.get_sampling(source)


def test_strip_drops_xmp_keeps_comment(photos: Path, tmp_path: Path) -> None:
    source = photos / "tagged_xmp.jpg"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>Jane Example</dc:creator></x:xmpmeta>'
    with Image.open(photos / "grace_hopper.jpg") as image:
        image.save(source, exif=tagged_exif(), xmp=xmp, quality="keep")
    target = tmp_path / "stripped.jpg"

    strip_identifying_exif(source, target)

    with Image.open(source) as original, Image.open(target) as copy:
        assert "xmp" in original.info
        assert "xmp" not in copy.info
        assert copy.info["comment"] == original.info["comment"]


def test_stripped_copy_checks_clean(tagged_jpeg: Path) -> None:
    strip_identifying_exif(tagged_jpeg, tagged_jpeg.parent / "stripped.jpg")

    row = check_one(tagged_jpeg.parent, "stripped.jpg")

    assert row["is_valid"] is True
    assert row["has_gps"] is False
    assert row["identifying_exif_tags"] == []
    assert row["camera_model"] == "Canon EOS 5D Mark IV"


def test_strip_png_keeps_pixels(photos: Path, tmp_path: Path) -> None:
    source = photos / "astronaut_tagged.png"
    with Image.open(photos / "astronaut.png") as image:
        image.save(source, exif=tagged_exif())
    target = tmp_path / "stripped.png"

    strip_identifying_exif(source, target)

    exif, exif_ifd, gps_ifd = read_exif(target)
    with Image.open(source) as original, Image.open(target) as copy:
        assert np.array_equal(np.asarray(copy), np.asarray(original))
    assert gps_ifd == {}
    assert Base.Artist not in exif
    assert Base.BodySerialNumber not in exif_ifd
    assert exif[Base.Make] == "Canon"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("grace_hopper.jpg", id="jpeg_without_exif"),
        pytest.param("astronaut.png", id="png_without_exif"),
    ],
)
def test_strip_without_tags_copies_bytes(photos: Path, tmp_path: Path, name: str) -> None:
    target = tmp_path / name

    strip_identifying_exif(photos / name, target)

    assert target.read_bytes() == (photos / name).read_bytes()


def test_strip_camera_only_exif_copies_bytes(photos: Path, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[Base.Make] = "Canon"
    source = photos / "camera_only.jpg"
    with Image.open(photos / "grace_hopper.jpg") as image:
        image.save(source, exif=exif, quality="keep")
    target = tmp_path / "camera_only.jpg"

    strip_identifying_exif(source, target)

    assert target.read_bytes() == source.read_bytes()


def test_strip_mpo_writes_first_picture(photos: Path, tmp_path: Path) -> None:
    source = photos / "two_pictures.mpo"
    with Image.open(photos / "grace_hopper.jpg") as image:
        image.save(
            source,
            format="MPO",
            save_all=True,
            append_images=[image.rotate(90)],
            exif=tagged_exif(),
        )
    target = tmp_path / "stripped.jpg"

    strip_identifying_exif(source, target)

    exif, _, gps_ifd = read_exif(target)
    with Image.open(target) as copy:
        assert copy.format == "JPEG"
        assert copy.size == (512, 600)
    assert gps_ifd == {}
    assert Base.Artist not in exif


def test_strip_tagged_webp_raises(photos: Path, tmp_path: Path) -> None:
    source = photos / "tagged.webp"
    with Image.open(photos / "astronaut.png") as image:
        image.save(source, exif=tagged_exif())

    with pytest.raises(InputFileError, match="tagged.webp: is a WEBP image with identifying"):
        strip_identifying_exif(source, tmp_path / "stripped.webp")


def test_strip_onto_source_raises(tagged_jpeg: Path) -> None:
    with pytest.raises(ValueError, match="tagged.jpg is the source image"):
        strip_identifying_exif(tagged_jpeg, tagged_jpeg)


def test_strip_missing_source_raises(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="gone.jpg: image not found"):
        strip_identifying_exif(tmp_path / "gone.jpg", tmp_path / "copy.jpg")
