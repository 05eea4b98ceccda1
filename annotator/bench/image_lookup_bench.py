"""The app's image lookup on one large PNG: confined and hash-checked vs the naive way.

A noise PNG of ``--size`` x ``--size`` pixels (noise does not compress: the largest file of that
size) is looked up the way opening a record does. Timed in the same run: the naive lookup (the
file under its folder, ``is_file``, no confinement or hash), the checked lookup the first time
(confinement and the file's sha256) and again (the hash is known while size and modification
time stay the same), and decoding the image, which opening the record does anyway.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=2000, help="width and height in pixels")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each way")
    parser.add_argument("--seed", type=int, default=0)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import hashlib

    import numpy as np
    from PIL import Image as PILImage

    from annotator.core.model import Image
    from annotator.io.images import load_image
    from annotator.services.image_resolver import ImageResolver

    with tempfile.TemporaryDirectory(prefix="annotator-lookup-") as tmp:
        root = Path(tmp) / "images"
        (root / "img").mkdir(parents=True)
        path = root / "img" / "big.png"
        rng = np.random.default_rng(args.seed)
        pixels = rng.integers(0, 256, size=(args.size, args.size, 3), dtype=np.uint8)
        PILImage.fromarray(pixels, "RGB").save(path, format="PNG")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        image = Image("img/big.png", args.size, args.size, sha, root=str(root))
        resolver = ImageResolver()
        assert resolver.locate(image) == str(path)

        def naive() -> str:
            p = Path(image.root) / image.path
            return str(p) if p.is_file() else ""

        naive_ms = _median_ms(naive, args.repeats)
        first_ms = _median_ms(lambda: ImageResolver().locate(image), args.repeats)
        again_ms = _median_ms(lambda: resolver.locate(image), args.repeats)
        decode_ms = _median_ms(lambda: load_image(path), max(3, args.repeats // 3))
        return {
            "image": f"{args.size}x{args.size} PNG (noise)",
            "file_mb": round(path.stat().st_size / 2**20, 2),
            "naive_lookup_ms": naive_ms,
            "checked_lookup_first_ms": first_ms,
            "checked_lookup_again_ms": again_ms,
            "decode_ms": decode_ms,
            "first_lookup_vs_decode": round(first_ms / decode_ms, 3) if decode_ms else None,
            "repeats": args.repeats,
        }
