"""Check a collection's image files in bulk, find duplicate images and strip identifying EXIF.

check_images works on lists of paths (shards) and runs the shards in worker processes when
there are many images. A bad file becomes a row with a reason code, so one broken image never
stops a batch.
"""

from __future__ import annotations

import hashlib
import io
import math
import multiprocessing
import os
import shutil
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import polars as pl
from PIL import ExifTags, Image, JpegImagePlugin, UnidentifiedImageError

from tasks.errors import InputFileError

# EXIF tags that can identify the person photographed, the photographer or the camera's owner,
# with the reason for each. check_images lists the ones present, strip_identifying_exif removes
# them all.
IDENTIFYING_EXIF_TAGS: dict[ExifTags.Base, str] = {
    ExifTags.Base.GPSInfo: "the place where the photo was taken, often a home or workplace",
    ExifTags.Base.BodySerialNumber: "the camera's serial number, which links photos to one owner",
    ExifTags.Base.CameraOwnerName: "the name of the camera's owner",
    ExifTags.Base.Artist: "the name of the photographer",
    ExifTags.Base.Copyright: "the name of the rights holder, often the photographer",
    ExifTags.Base.ImageUniqueID: "an id unique to the shot, which links copies of the photo",
    ExifTags.Base.LensSerialNumber: "the lens's serial number, which links photos to one owner",
    ExifTags.Base.UserComment: "free text, which often contains names",
    ExifTags.Base.MakerNote: "a vendor block that can contain serial numbers and owner names",
    ExifTags.Base.XPAuthor: "the author's name, written by Windows",
    ExifTags.Base.XPComment: "free text written by Windows, which often contains names",
    ExifTags.Base.HostComputer: "the computer's name, which can contain the owner's name",
}

# Values of `reason_code` in the output of check_images, with what each means.
REASON_CODES: dict[str, str] = {
    "path_outside_root": "the path is absolute, or `..` leads out of the image folder",
    "symlink_outside_root": "the path is or passes through a symbolic link to outside the folder",
    "missing_file": "no file exists at the path",
    "unreadable_file": "the path names a folder or special file, or the file cannot be read",
    "empty_file": "the file has 0 bytes",
    "undecodable_image": "Pillow cannot decode the pixels or parse the EXIF block",
}

IMAGE_CHECK_SCHEMA: dict[str, pl.DataType] = {
    "path": pl.String(),
    "is_valid": pl.Boolean(),
    "reason_code": pl.String(),
    "reason": pl.String(),
    "sha256": pl.String(),
    "width": pl.Int64(),
    "height": pl.Int64(),
    "image_format": pl.String(),
    "dhash": pl.String(),
    "camera_make": pl.String(),
    "camera_model": pl.String(),
    "lens_model": pl.String(),
    "f_number": pl.Float64(),
    "focal_length_mm": pl.Float64(),
    "iso": pl.Int64(),
    "exposure_time_s": pl.Float64(),
    "captured_at": pl.String(),
    "has_gps": pl.Boolean(),
    "identifying_exif_tags": pl.List(pl.String()),
}

# Minimum number of images per shard. A batch of fewer than 2 * MIN_SHARD_SIZE images is checked
# in this process. On a 2-core Xeon virtual machine (Python 3.11, Pillow 13), starting a spawned
# worker took about 0.5 s and checking one 12-megapixel JPEG about 0.1 s.
# NOTE: 32 is an estimate from those two timings, not tuned for other machines or image sizes.
MIN_SHARD_SIZE = 32
# Each worker gets several shards, so a shard of slow files does not leave the others idle.
SHARDS_PER_WORKER = 4

# Maximum number of hash pairs compared per block in find_duplicates. A block needs about 40 MB
# for its XOR, popcount and mask arrays.
_PAIR_BLOCK_ELEMENTS = 4_000_000


class _RejectedError(Exception):
    """A path that check_images reports as invalid, with its reason code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def check_images(root: Path, relative_paths: list[str], workers: int | None = None) -> pl.DataFrame:
    """Check each image file under `root` and return one row per path, in input order.

    The columns are IMAGE_CHECK_SCHEMA. A path is rejected without being opened when it is
    absolute, when `..` leads out of `root`, or when a symbolic link resolves outside `root`.
    Missing, empty, unreadable and undecodable files are rejected too. Each rejected row has
    `is_valid` false, a `reason_code`, a `reason` that names the path and the fix, and nulls
    in every measured column.

    REASON_CODES lists the codes. `workers` is the number of worker processes (default: the
    number of CPUs). With one worker, or fewer than 2 * MIN_SHARD_SIZE paths, the check runs
    in this process. Raises InputFileError when `root` is not an existing folder and
    ValueError when `workers` is below 1, but never raises for a bad image.
    """
    folder = _require_folder(Path(root))
    worker_count = _worker_count(workers)
    paths = [str(path) for path in relative_paths]

    if worker_count == 1 or len(paths) < 2 * MIN_SHARD_SIZE:
        rows = _check_shard(folder, paths)
    else:
        shards = _split_into_shards(paths, worker_count)
        # spawn, not fork: a forked copy of a process that runs Prefect's threads can deadlock.
        context = multiprocessing.get_context("spawn")
        max_workers = min(worker_count, len(shards))
        with ProcessPoolExecutor(max_workers=max_workers, mp_context=context) as pool:
            shard_rows = pool.map(_check_shard, [folder] * len(shards), shards)
            rows = [row for rows_of_shard in shard_rows for row in rows_of_shard]

    checked = pl.DataFrame(rows, schema=IMAGE_CHECK_SCHEMA, orient="row")
    _log_counts(folder, checked)
    return checked


def _require_folder(root: Path) -> Path:
    if not root.exists():
        raise InputFileError(
            root, "image folder not found; check the path or create the folder with the images"
        )
    if not root.is_dir():
        raise InputFileError(root, "is a file, not a folder; pass the folder of the images")
    return root.resolve()


def _worker_count(workers: int | None) -> int:
    if workers is None:
        return os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    return workers


def _split_into_shards(paths: list[str], workers: int) -> list[list[str]]:
    shard_size = max(MIN_SHARD_SIZE, math.ceil(len(paths) / (workers * SHARDS_PER_WORKER)))
    return [paths[start : start + shard_size] for start in range(0, len(paths), shard_size)]


def _check_shard(folder: Path, paths: list[str]) -> list[dict[str, Any]]:
    """Check the paths of one shard under the resolved `folder` and return a row per path.

    Worker processes run this function, so it takes and returns only picklable values.
    """
    rows = []
    for path in paths:
        try:
            file_path = _locate(folder, path)
            data = _read(path, file_path)
            rows.append(_measure(path, data))
        except _RejectedError as rejection:
            rows.append(
                {
                    "path": path,
                    "is_valid": False,
                    "reason_code": rejection.code,
                    "reason": str(rejection),
                }
            )
    return rows


def _locate(folder: Path, path: str) -> Path:
    """Return the real location of `path`, or raise _RejectedError if it is outside `folder`."""
    relative = Path(path)
    if relative.is_absolute():
        raise _RejectedError(
            "path_outside_root",
            f"`{path}` is an absolute path; give the path relative to the image folder {folder}",
        )

    joined = folder / relative
    if not Path(os.path.normpath(joined)).is_relative_to(folder):
        raise _RejectedError(
            "path_outside_root",
            f"`{path}` leads out of the image folder {folder}; move the image into the folder "
            "and give its path relative to it",
        )

    try:
        real = joined.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise _RejectedError(
            "unreadable_file", f"`{path}` cannot be resolved ({error}); fix the path"
        ) from error
    if not real.is_relative_to(folder):
        raise _RejectedError(
            "symlink_outside_root",
            f"`{path}` is or passes through a symbolic link to {real}, outside the image "
            f"folder {folder}; copy the image into the folder instead of linking to it",
        )
    return real


def _read(path: str, file_path: Path) -> bytes:
    try:
        mode = file_path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError) as error:
        raise _RejectedError(
            "missing_file", f"`{path}` not found at {file_path}; fix the path or add the file"
        ) from error
    except OSError as error:
        raise _RejectedError(
            "unreadable_file", f"`{path}` cannot be read ({error}); check its permissions"
        ) from error
    if not stat.S_ISREG(mode):
        raise _RejectedError(
            "unreadable_file",
            f"`{path}` is a folder or a special file, not an image file; give an image's path",
        )

    try:
        data = file_path.read_bytes()
    except OSError as error:
        raise _RejectedError(
            "unreadable_file", f"`{path}` cannot be read ({error}); check its permissions"
        ) from error
    if not data:
        raise _RejectedError(
            "empty_file", f"`{path}` is empty (0 bytes); replace it with the image file"
        )
    return data


def _measure(path: str, data: bytes) -> dict[str, Any]:
    # Pillow's plugins raise many exception types for corrupt data, such as OSError,
    # SyntaxError, ValueError and DecompressionBombError, and the set differs by format. Each
    # broad `except` below turns a bad file into a row instead of stopping the batch.
    try:
        # verify() checks the file's structure but leaves the image unusable, so the file is
        # opened again to decode the pixels, which is what fails on a truncated file.
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        image = Image.open(io.BytesIO(data))
        image.load()
        dhash = str(imagehash.dhash(image, hash_size=8))
    except UnidentifiedImageError as error:
        # Pillow's message names the in-memory buffer, which differs on every run.
        raise _RejectedError(
            "undecodable_image",
            f"`{path}` is not in an image format that Pillow recognises; replace it with the "
            "image in a format such as JPEG or PNG",
        ) from error
    except Exception as error:
        raise _RejectedError(
            "undecodable_image",
            f"`{path}` cannot be decoded as an image ({type(error).__name__}: {error}); "
            "replace it with a complete copy in a format that Pillow reads, such as JPEG or PNG",
        ) from error

    with image:
        try:
            metadata = _exif_metadata(image.getexif())
        except Exception as error:
            raise _RejectedError(
                "undecodable_image",
                f"`{path}`: the pixels decode but the EXIF block cannot be parsed "
                f"({type(error).__name__}: {error}); export the image again without EXIF",
            ) from error
        return {
            "path": path,
            "is_valid": True,
            "sha256": hashlib.sha256(data).hexdigest(),
            "width": image.width,
            "height": image.height,
            "image_format": image.format,
            "dhash": dhash,
            **metadata,
        }


def _exif_metadata(exif: Image.Exif) -> dict[str, Any]:
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    # A GPSInfo pointer to an empty or unreadable GPS IFD contains no location.
    has_gps = bool(exif.get_ifd(ExifTags.IFD.GPSInfo))

    def value_of(tag: ExifTags.Base) -> Any:
        # Cameras write these tags in the Exif IFD, but some editors write them in IFD0.
        return exif_ifd.get(tag, exif.get(tag))

    identifying = [
        tag.name
        for tag in IDENTIFYING_EXIF_TAGS
        if (tag in exif or tag in exif_ifd) and (tag != ExifTags.Base.GPSInfo or has_gps)
    ]
    iso = _number(value_of(ExifTags.Base.ISOSpeedRatings))
    return {
        "camera_make": _text(value_of(ExifTags.Base.Make)),
        "camera_model": _text(value_of(ExifTags.Base.Model)),
        "lens_model": _text(value_of(ExifTags.Base.LensModel)),
        "f_number": _number(value_of(ExifTags.Base.FNumber)),
        "focal_length_mm": _number(value_of(ExifTags.Base.FocalLength)),
        "iso": None if iso is None else round(iso),
        "exposure_time_s": _number(value_of(ExifTags.Base.ExposureTime)),
        "captured_at": _text(value_of(ExifTags.Base.DateTimeOriginal)),
        "has_gps": has_gps,
        "identifying_exif_tags": identifying,
    }


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    # EXIF strings end in NUL, and some cameras pad them with spaces.
    return value.strip("\x00 ") or None


def _number(value: Any) -> float | None:
    if isinstance(value, tuple):
        # ISOSpeedRatings may list several values, and the first is the one the shot used.
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    # Pillow reads a rational with denominator 0 as NaN.
    return number if math.isfinite(number) else None


def _log_counts(folder: Path, checked: pl.DataFrame) -> None:
    # Imported here because worker processes import this module and need not load Prefect.
    from tasks.log import stage_logger

    invalid = checked.filter(~pl.col("is_valid"))
    by_code = invalid.group_by("reason_code").len().sort("reason_code")
    counts = ", ".join(f"{code}: {count}" for code, count in by_code.iter_rows())
    stage_logger().info(
        "images under %s: %d checked, %d valid, %d invalid%s",
        folder,
        checked.height,
        checked.height - invalid.height,
        invalid.height,
        f" ({counts})" if counts else "",
    )


def find_duplicates(images: pl.DataFrame, max_distance: int = 4) -> pl.DataFrame:
    """Return one row per pair of images that are exact or near duplicates.

    `images` needs the columns `image_id` (unique), `subject_id`, `sha256` and `dhash` (16 hex
    digits, as check_images writes), for valid images only. A pair with the same sha256 is
    `exact`. Any other pair whose dhashes differ in at most `max_distance` of their 64 bits is
    `near`. Each output row has `image_id_a` < `image_id_b`, their subject ids, `kind`, the
    Hamming `distance` between the dhashes, and `is_cross_subject`, which is true when the two
    subject ids differ and null when either is null. Rows are sorted by the two image ids.
    """
    ordered = _validated_hashes(images, max_distance).sort("image_id")
    hashes = np.frombuffer(bytes.fromhex("".join(ordered["dhash"])), dtype=">u8").astype(np.uint64)

    near_firsts, near_seconds = _pairs_within_distance(hashes, max_distance)
    exact_firsts, exact_seconds = _pairs_with_same_sha256(ordered)
    # Encode each pair as one integer to drop the pairs that are both near and exact.
    codes = np.unique(
        np.concatenate([near_firsts, exact_firsts]) * len(hashes)
        + np.concatenate([near_seconds, exact_seconds])
    )
    firsts, seconds = np.divmod(codes, max(len(hashes), 1))

    ids, subjects, sha256 = ordered["image_id"], ordered["subject_id"], ordered["sha256"]
    pairs = pl.DataFrame(
        {
            "image_id_a": ids.gather(firsts),
            "image_id_b": ids.gather(seconds),
            "subject_id_a": subjects.gather(firsts),
            "subject_id_b": subjects.gather(seconds),
            "is_exact": sha256.gather(firsts) == sha256.gather(seconds),
            "distance": np.bitwise_count(hashes[firsts] ^ hashes[seconds]).astype(np.int64),
        }
    )
    return pairs.select(
        "image_id_a",
        "image_id_b",
        "subject_id_a",
        "subject_id_b",
        pl.when("is_exact").then(pl.lit("exact")).otherwise(pl.lit("near")).alias("kind"),
        "distance",
        (pl.col("subject_id_a") != pl.col("subject_id_b")).alias("is_cross_subject"),
    ).sort("image_id_a", "image_id_b")


def _validated_hashes(images: pl.DataFrame, max_distance: int) -> pl.DataFrame:
    if not 0 <= max_distance <= 64:
        raise ValueError(f"max_distance must be between 0 and 64 bits, got {max_distance}")
    needed = ["image_id", "subject_id", "sha256", "dhash"]
    missing = [column for column in needed if column not in images.columns]
    if missing:
        raise ValueError(
            f"find_duplicates needs the columns {', '.join(needed)}; missing: {', '.join(missing)}"
        )

    selected = images.select(needed)
    for column in ("image_id", "sha256", "dhash"):
        if selected[column].null_count():
            raise ValueError(
                f"column `{column}` has nulls; pass only the valid images from check_images"
            )
    repeated = selected.filter(pl.col("image_id").is_duplicated())["image_id"].unique()
    if len(repeated):
        raise ValueError(
            f"image_id must be unique; repeated: {', '.join(map(str, repeated.head(5)))}"
        )
    malformed = selected.filter(~pl.col("dhash").str.contains(r"^[0-9a-fA-F]{16}$"))
    if malformed.height:
        image_id, dhash = malformed.row(0)[0], malformed.row(0)[3]
        raise ValueError(
            f"image {image_id}: dhash {dhash!r} is not 16 hex digits; take `dhash` from "
            "check_images"
        )
    return selected


def _pairs_within_distance(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the index pairs (i < j) whose hashes differ in at most `max_distance` bits.

    The upper triangle of the pairwise distance matrix is computed in blocks of rows, so
    memory stays near _PAIR_BLOCK_ELEMENTS values whatever the number of hashes.
    """
    count = len(hashes)
    block_rows = max(1, _PAIR_BLOCK_ELEMENTS // max(count, 1))
    firsts, seconds = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for start in range(0, count, block_rows):
        stop = min(start + block_rows, count)
        # Rows start..stop are compared with columns start..count, so each pair i < j falls in
        # exactly one block.
        distances = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, start:])
        rows, columns = np.nonzero(distances <= max_distance)
        rows += start
        columns += start
        above_diagonal = columns > rows
        firsts.append(rows[above_diagonal])
        seconds.append(columns[above_diagonal])
    return np.concatenate(firsts), np.concatenate(seconds)


def _pairs_with_same_sha256(ordered: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    rows = ordered.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "sha256")
    same = rows.join(rows, on="sha256", suffix="_b").filter(pl.col("row") < pl.col("row_b"))
    return same["row"].to_numpy(), same["row_b"].to_numpy()


def strip_identifying_exif(source: Path, target: Path) -> None:
    """Write a copy of the image `source` to `target` without the IDENTIFYING_EXIF_TAGS.

    Every other EXIF tag is kept, including the camera fields that check_images reports.
    An image that contains none of these tags is copied byte for byte. A JPEG or PNG with
    such tags is saved again by Pillow, which keeps the ICC profile, resolution and JPEG
    comment. The EXIF thumbnail (IFD1), XMP packet and PNG text chunks are not written to the
    copy, because Pillow 13 saves none of them from the source.
    Raises InputFileError when `source` is missing or cannot be decoded, or when it is in
    another format and contains identifying tags.
    """
    source, target = Path(source), Path(target)
    if target.resolve() == source.resolve():
        raise ValueError(f"target {target} is the source image; give a path for the copy")

    with _open_image(source) as image:
        exif = image.getexif()
        exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
        found = [tag for tag in IDENTIFYING_EXIF_TAGS if tag in exif or tag in exif_ifd]
        if not found:
            shutil.copyfile(source, target)
            return

        for tag in found:
            exif.pop(tag, None)
            exif_ifd.pop(tag, None)
        _save_copy(source, image, exif, target, found)


def _open_image(source: Path) -> Image.Image:
    try:
        image = Image.open(source)
        image.load()
    except FileNotFoundError as error:
        raise InputFileError(source, "image not found; check the path") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputFileError(
            source, f"cannot be decoded as an image ({error}); run check_images on it"
        ) from error
    return image


def _save_copy(
    source: Path, image: Image.Image, exif: Image.Exif, target: Path, found: list[ExifTags.Base]
) -> None:
    options: dict[str, Any] = {"exif": exif.tobytes()}
    for key in ("icc_profile", "dpi"):
        if key in image.info:
            options[key] = image.info[key]

    if image.format == "JPEG":
        # quality="keep" reuses the source's quantization tables and chroma subsampling, so
        # size and quality stay as they were. Pillow 13 still decodes and re-encodes the pixels,
        # and for grace_hopper.jpg (4:2:0) 9 % of channel values changed, by at most 20 levels.
        # NOTE: so the copy's pixels differ slightly. Rewriting only the file's APP1 (EXIF)
        # segment would keep the compressed data byte for byte.
        options.update(quality="keep", progressive=bool(image.info.get("progressive")))
        save_format = "JPEG"
    elif image.format == "MPO":
        # Pillow opens a JPEG with a multi-picture index as MPO and accepts quality="keep"
        # only for format JPEG, so the same tables are passed explicitly. Saving as JPEG
        # writes only the first picture, which also drops the EXIF of the other pictures.
        options.update(
            qtables=image.quantization,
            subsampling=JpegImagePlugin.get_sampling(image),
            progressive=bool(image.info.get("progressive")),
        )
        save_format = "JPEG"
    elif image.format == "PNG":
        # PNG is lossless, so the copy has the same pixels.
        save_format = "PNG"
    else:
        names = ", ".join(tag.name for tag in found)
        raise InputFileError(
            source,
            f"is a {image.format} image with identifying EXIF tags ({names}); only JPEG and "
            "PNG images can be stripped, so convert it to PNG first",
        )

    # Write to a partial file first, so a failed save leaves no truncated copy at `target`.
    partial = target.with_name(f".{target.name}.partial")
    try:
        image.save(partial, format=save_format, **options)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
