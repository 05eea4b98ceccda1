"""Image files from untrusted places: format allowlist, pixel cap, EXIF orientation.

Only the header is read to learn the size (Pillow opens lazily), so a decompression bomb — a
small file that declares a huge canvas — is refused before any pixel is decoded. Sizes are
reported after EXIF orientation, which is also applied to the pixels, so masks drawn on the
displayed image line up with what the loader returns.

Every refusal is an :class:`InputError` whose reason is one line (it ends up in import reports
and record flags): ``probe_image`` reads the header only, ``check_image`` also decodes the data
the way ``load_image`` does, so a truncated or corrupt file is found on import, not on opening.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image as PILImage
from PIL import ImageFile, ImageOps, UnidentifiedImageError

from annotator.core.errors import InputError
from annotator.core.image_formats import ALLOWED_EXTENSIONS, FORMAT_EXTENSIONS

DEFAULT_MAX_PIXELS = 100_000_000

_PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")

# EXIF orientations 5-8 turn the image by 90 degrees: width and height swap.
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG = 0x0112


class ImageInfo(NamedTuple):
    width: int  # after EXIF orientation
    height: int
    sha256: str  # of the file's bytes


def _check_extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise InputError(
            f"not an allowed image type {ext or '(none)'!r} (allowed: {allowed})", file=str(path)
        )
    return ext


def _one_line(exc: BaseException) -> str:
    """The decoder's message on one line (some span several), or its type when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _open(path: Path, fh: IO[bytes], max_pixels: int) -> PILImage.Image:
    """Open the header only and check format, extension and pixel count."""
    ext = _check_extension(path)
    if fh.seek(0, 2) == 0:
        raise InputError("empty file (0 bytes), not an image", file=str(path))
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns between its limit and twice that (and raises
            # above). The authority here is ``max_pixels``, checked below before any decoding,
            # so the warning is silenced rather than left to be missed or to refuse images the
            # caller allowed.
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            img = PILImage.open(fh, formats=_PILLOW_FORMATS)
    except UnidentifiedImageError as exc:
        # Pillow's message only repeats the file object; the content is what went wrong.
        raise InputError(
            "not a readable JPEG/PNG/BMP/TIFF/WebP image (not an image, or another format)",
            file=str(path),
        ) from exc
    except PILImage.DecompressionBombError as exc:
        raise InputError(f"image is too large: {_one_line(exc)}", file=str(path)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image header is damaged: {_one_line(exc)}", file=str(path)) from exc
    fmt = img.format or ""
    if ext not in FORMAT_EXTENSIONS.get(fmt, frozenset()):
        img.close()
        raise InputError(f"file is {fmt or 'of unknown format'} but named {ext}", file=str(path))
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise InputError(f"image has no pixels ({w}x{h})", file=str(path))
    if w * h > max_pixels:
        img.close()
        raise InputError(
            f"image is {w}x{h} = {w * h} pixels, more than the limit {max_pixels}",
            file=str(path),
        )
    return img


def _orientation(img: PILImage.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not make an image unusable; treat as upright
        return 1
    return value if isinstance(value, int) else 1


def _sha256(fh: IO[bytes]) -> str:
    fh.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (what :class:`ImageInfo` carries), decoding nothing."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            return _sha256(fh)
    except OSError as exc:
        raise _unopenable(p, exc) from exc


def probe_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Size (after EXIF orientation) and sha256 of an image, decoding no pixels."""
    return _inspect(Path(path), max_pixels, decode=False)


def _inspect(p: Path, max_pixels: int, *, decode: bool) -> ImageInfo:
    try:
        with open(p, "rb") as fh:
            img = _open(p, fh, max_pixels)
            with img:
                w, h = img.size
                if _orientation(img) in _SWAPPING_ORIENTATIONS:
                    w, h = h, w
                if decode:
                    _decode(p, img, reduced=True)
            return ImageInfo(int(w), int(h), _sha256(fh))
    except OSError as exc:
        raise _unopenable(p, exc) from exc


def _to_rgb(img: PILImage.Image) -> NDArray[np.uint8]:
    if img.mode.startswith("I"):  # 16/32-bit grey: Pillow's convert would clip at 255
        grey = np.asarray(img).astype(np.int64)
        eight = (np.clip(grey, 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(eight[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _decode(path: Path, img: PILImage.Image, *, reduced: bool = False) -> NDArray[np.uint8]:
    """Decode every pixel of an opened image to upright RGB. ``reduced`` lets a JPEG decode at
    an eighth of its size: every byte of the data is still read and entropy-decoded, so
    truncation and corrupt data are found at a fraction of the cost."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise InputError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is switched on; refusing to load images "
            "that might be incomplete",
            file=str(path),
        )
    fmt = img.format or "image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            if reduced and fmt in ("JPEG", "MPO"):
                img.draft("RGB", (1, 1))
            img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = _to_rgb(upright)
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        PILImage.DecompressionBombError,
    ) as exc:
        raise InputError(
            f"{fmt} data is truncated or corrupt: {_one_line(exc)}", file=str(path)
        ) from exc
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"decoded image has an unexpected shape {rgb.shape}", file=str(path))
    return rgb


def _unopenable(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError("image not found", file=str(path))
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, not an image", file=str(path))
    if isinstance(exc, PermissionError):
        return InputError("image cannot be read (permission denied)", file=str(path))
    return InputError(f"image cannot be read: {_one_line(exc)}", file=str(path))


def check_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """What :func:`probe_image` returns, after decoding the image data once the way
    :func:`load_image` would: a file that passes here opens in the app. Raises
    :class:`InputError` with a one-line reason for a file that exists but cannot be used."""
    return _inspect(Path(path), max_pixels, decode=True)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[np.uint8]:
    """Decode an image to an ``(H, W, 3)`` uint8 RGB array with EXIF orientation applied.

    Truncated or corrupt files raise :class:`InputError` (Pillow's global
    ``LOAD_TRUNCATED_IMAGES`` switch is not honoured here: a half image would shift masks).
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            img = _open(p, fh, max_pixels)
            with img:
                arr = _decode(p, img)
    except OSError as exc:
        raise _unopenable(p, exc) from exc
    return np.ascontiguousarray(arr)
