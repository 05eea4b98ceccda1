"""COCO run-length encoding checked in pure Python before pycocotools ever sees it.

pycocotools trusts its input: an oversized ``size`` can crash the process and counts that sum to
less than H*W decode to uninitialised memory. Everything that arrives from a file therefore goes
through :func:`validate_rle` first, which decodes the compressed counts string itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from annotator.core.errors import MaskError

# Larger than any image the image loader admits (its pixel cap is far lower), small enough that a
# hostile size cannot make pycocotools allocate gigabytes.
MAX_SIDE = 32_768
MAX_PIXELS = 200_000_000


def decode_counts(counts: str) -> list[int]:
    """Decode a compressed COCO counts string into run lengths (the inverse of pycocotools)."""
    runs: list[int] = []
    pos = 0
    n = len(counts)
    while pos < n:
        value = 0
        shift = 0
        more = True
        while more:
            if pos >= n:
                raise MaskError("RLE counts string ends inside a number")
            c = ord(counts[pos]) - 48
            if c < 0 or c > 63:
                raise MaskError(f"RLE counts has an invalid character {counts[pos]!r}")
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if shift > 7:
                raise MaskError("RLE counts has a run longer than any image")
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def validate_rle(rle: Any, *, expect_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Return a normalised ``{"size": [h, w], "counts": str}`` or raise :class:`MaskError`.

    Accepts compressed (str/bytes counts) and uncompressed (list of ints) RLE. Checks that every
    run is non-negative and that the runs cover exactly H*W pixels.
    """
    if not isinstance(rle, Mapping):
        raise MaskError(f"RLE must be an object with size and counts, got {type(rle).__name__}")
    extra = set(rle) - {"size", "counts"}
    if extra:
        raise MaskError(f"RLE has unexpected keys {sorted(extra)}")
    size = rle.get("size")
    if (
        not isinstance(size, Sequence)
        or isinstance(size, str | bytes)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise MaskError(f"RLE size must be [height, width] integers, got {size!r}")
    h, w = int(size[0]), int(size[1])
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE) or h * w > MAX_PIXELS:
        raise MaskError(f"RLE size {h}x{w} is outside the allowed range")
    if expect_size is not None and (h, w) != tuple(expect_size):
        raise MaskError(
            f"RLE size {h}x{w} does not match the image {expect_size[0]}x{expect_size[1]}"
        )
    counts = rle.get("counts")
    if isinstance(counts, bytes):
        try:
            counts = counts.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MaskError("RLE counts is not ASCII") from exc
    if isinstance(counts, str):
        if len(counts) > 8 * h * w + 16:
            raise MaskError("RLE counts string is longer than the image could need")
        runs = decode_counts(counts)
    elif isinstance(counts, Sequence):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise MaskError("RLE counts list must hold integers")
        runs = [int(v) for v in counts]
    else:
        raise MaskError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
    if any(r < 0 for r in runs):
        raise MaskError("RLE has a negative run length")
    total = sum(runs)
    if total != h * w:
        raise MaskError(f"RLE runs cover {total} pixels, the mask has {h * w}")
    # Re-encoded even when it was compressed already: files can spell one mask many ways.
    return {"size": [h, w], "counts": encode_runs(canonical_runs(runs))}


def canonical_runs(runs: Sequence[int]) -> list[int]:
    """The runs pycocotools would produce for the same pixels: only the first run may be 0.

    Files can spell one mask many ways (zero-length runs, split runs, over-long digits); the
    ``Mask`` type promises that equal masks have equal counts, so every spelling is normalised.
    """
    out: list[int] = [int(runs[0])] if runs else []
    for i in range(1, len(runs)):
        r = int(runs[i])
        if r == 0:
            continue
        if (len(out) - 1) % 2 == i % 2:  # same colour as the last kept run: extend it
            out[-1] += r
        else:
            out.append(r)
    return out


def encode_runs(runs: Sequence[int]) -> str:
    """Encode run lengths as a compressed COCO counts string (inverse of :func:`decode_counts`)."""
    out: list[str] = []
    for i, run in enumerate(runs):
        x = int(run)
        if i > 2:
            x -= int(runs[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((x == 0 and not (c & 0x10)) or (x == -1 and (c & 0x10)))
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)
