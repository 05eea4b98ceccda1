"""Hostile and ordinary image files through probe_image / load_image."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fixtures_io import image_bytes, write_image
from PIL import Image as PILImage
from PIL import ImageFile

from annotator.core.errors import InputError
from annotator.io.images import load_image, probe_image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h pixels (the data stream is a few bytes)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("WEBP", ".webp")],
)
def test_allowed_formats(tmp_path: Path, fmt: str, ext: str) -> None:
    path = write_image(tmp_path / f"a{ext}", 37, 21, fmt=fmt, seed=3)
    info = probe_image(path)
    assert (info.width, info.height) == (37, 21)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    arr = load_image(path)
    assert arr.shape == (21, 37, 3) and arr.dtype == np.uint8
    if fmt in ("PNG", "BMP", "TIFF"):  # lossless: the exact pixels come back
        rng = np.random.default_rng(3)
        np.testing.assert_array_equal(arr, rng.integers(0, 255, size=(21, 37, 3), dtype=np.uint8))


def test_png_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(20000, 20000))
    assert path.stat().st_size < 200
    for fn in (probe_image, load_image):
        with pytest.raises(InputError) as err:
            fn(path)
        assert err.value.file == str(path)
        assert "pixels" in err.value.reason or "bomb" in err.value.reason.lower()


def test_pixel_cap_is_configurable(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", 100, 100, fmt="PNG")
    with pytest.raises(InputError, match="more than the limit 9999"):
        probe_image(path, max_pixels=9999)
    assert probe_image(path, max_pixels=10_000).width == 100


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = image_bytes(200, 150, "JPEG", seed=1)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert probe_image(path).width == 200  # the header is intact
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(path)


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    data = image_bytes(200, 150, "PNG", seed=1)
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(path)


def test_load_truncated_images_switch_is_not_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_image(tmp_path / "a.jpg", 20, 20)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(InputError, match="LOAD_TRUNCATED_IMAGES"):
        load_image(path)


def test_png_named_jpg_is_refused(tmp_path: Path) -> None:
    path = write_image(tmp_path / "fake.jpg", 20, 20, fmt="PNG")
    for fn in (probe_image, load_image):
        with pytest.raises(InputError, match=r"file is PNG but named \.jpg"):
            fn(path)


@pytest.mark.parametrize(("fmt", "ext"), [("GIF", ".gif"), ("ICO", ".ico")])
def test_formats_outside_the_allowlist(tmp_path: Path, fmt: str, ext: str) -> None:
    named_right = write_image(tmp_path / f"a{ext}", 16, 16, fmt=fmt)
    with pytest.raises(InputError, match="not an allowed image type"):
        probe_image(named_right)
    disguised = tmp_path / "b.png"
    disguised.write_bytes(named_right.read_bytes())
    with pytest.raises(InputError, match="not a readable"):
        load_image(disguised)


def test_exif_orientation_6_swaps_size_and_rotates_pixels(tmp_path: Path) -> None:
    # Stored 40 wide x 20 high, left half black, right half white; orientation 6 = rotate 90 CW.
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, 20:] = 255
    path = tmp_path / "rot.jpg"
    exif = PILImage.Exif()
    exif[0x0112] = 6
    PILImage.fromarray(stored).save(path, format="JPEG", exif=exif.tobytes(), quality=95)
    info = probe_image(path)
    assert (info.width, info.height) == (20, 40)
    arr = load_image(path)
    assert arr.shape == (40, 20, 3)
    # Turned clockwise, the stored left (black) half ends up on top.
    assert arr[:15].mean() < 30 and arr[25:].mean() > 225
    np.testing.assert_allclose(arr.astype(int), np.rot90(stored, k=-1).astype(int), atol=40)


def test_grey_and_rgba_become_rgb(tmp_path: Path) -> None:
    grey = tmp_path / "g.png"
    PILImage.fromarray(np.full((5, 7), 99, dtype=np.uint8), "L").save(grey)
    assert load_image(grey).shape == (5, 7, 3) and int(load_image(grey)[0, 0, 0]) == 99
    rgba = tmp_path / "a.png"
    PILImage.fromarray(np.full((5, 7, 4), 200, dtype=np.uint8), "RGBA").save(rgba)
    assert load_image(rgba).shape == (5, 7, 3)


@pytest.mark.parametrize("name", ["missing.jpg", "dir.jpg", "noext", "empty.jpg", "garbage.jpg"])
def test_unusable_files(tmp_path: Path, name: str) -> None:
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "noext").write_bytes(image_bytes(5, 5))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 100)
    for fn in (probe_image, load_image):
        with pytest.raises(InputError) as err:
            fn(tmp_path / name)
        assert err.value.file == str(tmp_path / name)


def test_pixel_cap_not_pillows_warning_decides(tmp_path: Path) -> None:
    # 95 MP: above Pillow's warning threshold (89 MP), below the 100 MP default cap.
    path = tmp_path / "big.png"
    path.write_bytes(png_bomb(9500, 10000))
    assert probe_image(path)[:2] == (9500, 10000)
    with pytest.raises(InputError, match="more than the limit"):
        probe_image(path, max_pixels=90_000_000)


def test_sixteen_bit_and_palette_images(tmp_path: Path) -> None:
    deep = tmp_path / "deep.png"
    PILImage.fromarray(np.full((4, 6), 40000, dtype=np.uint16)).save(deep)
    arr = load_image(deep)
    assert arr.shape == (4, 6, 3) and arr.dtype == np.uint8
    assert (arr == 40000 >> 8).all()  # scaled, not clipped to white
    pal = tmp_path / "pal.png"
    PILImage.fromarray(np.zeros((4, 6, 3), np.uint8) + 7).convert("P").save(pal)
    assert load_image(pal).shape == (4, 6, 3)
