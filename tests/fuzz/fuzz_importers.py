"""Coverage-guided fuzzing of every reader of untrusted files (not part of the pytest run).

Run by hand from the repository root, with atheris installed (``pip install atheris``)::

    python tests/fuzz/fuzz_importers.py -atheris_runs=200000 -max_len=4096 [CORPUS_DIR]

``FUZZ_TARGET=prist|labelme|jsonl|json|rle|image`` fuzzes one reader only; by default the first
input byte picks one. The only exception a reader may raise is ``InputError`` (``MaskError`` is
one); anything else is reported by libFuzzer as a crash with the input that caused it.
Seed inputs are written to a fresh corpus folder when none is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from annotator.core.errors import InputError
    from annotator.core.rle import validate_rle
    from annotator.io import safe_json
    from annotator.io.images import load_image, probe_image
    from annotator.io.jsonl_reader import read_jsonl
    from annotator.io.labelme import match_focus, read_labelme
    from annotator.io.prist_reader import read_prist

WORK = Path(tempfile.mkdtemp(prefix="annotator-fuzz-"))


def _setup_images() -> None:
    from PIL import Image as PILImage

    PILImage.new("RGB", (40, 30), (200, 10, 10)).save(WORK / "a.jpg")
    (WORK / "a.json").write_text(
        json.dumps(
            {
                "imageHeight": 30,
                "imageWidth": 40,
                "shapes": [{"label": "car", "points": [[1, 1], [20, 2], [9, 20]]}],
            }
        )
    )


def _prist(data: bytes) -> None:
    path = WORK / "in.json"
    path.write_bytes(data)
    read_prist(path, images_dir=WORK, match="substring" if len(data) % 2 else "exact")


def _labelme(data: bytes) -> None:
    path = WORK / "in-labelme.json"
    path.write_bytes(data)
    lm = read_labelme(path)
    match_focus(lm, "car", height=30, width=40)


def _jsonl(data: bytes) -> None:
    path = WORK / "in.jsonl"
    path.write_bytes(data)
    read_jsonl(path)


def _json(data: bytes) -> None:
    safe_json.loads(data, limits=safe_json.JsonLimits(max_depth=16, max_string=4096))


def _rle(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    h, w = fdp.ConsumeIntInRange(-2, 64), fdp.ConsumeIntInRange(-2, 64)
    validate_rle({"size": [h, w], "counts": fdp.ConsumeUnicodeNoSurrogates(256)})


def _image(data: bytes) -> None:
    ext = (".jpg", ".png", ".bmp", ".tif", ".webp")[len(data) % 5]
    path = WORK / f"in{ext}"
    path.write_bytes(data)
    probe_image(path, max_pixels=4_000_000)
    load_image(path, max_pixels=4_000_000)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "prist": _prist,
    "labelme": _labelme,
    "jsonl": _jsonl,
    "json": _json,
    "rle": _rle,
    "image": _image,
}
ONLY = os.environ.get("FUZZ_TARGET")


def test_one_input(data: bytes) -> None:
    if ONLY:
        target = TARGETS[ONLY]
    else:
        if not data:
            return
        target = list(TARGETS.values())[data[0] % len(TARGETS)]
        data = data[1:]
    with contextlib.suppress(InputError):
        target(data)


def _seed_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = [
        {
            "img_id": "a.jpg",
            "focus": "car",
            "dialogue": [
                {"from": "human", "value": "Where?"},
                {"from": "gpt", "value": "Here, [SEG]."},
            ],
        }
    ]
    seeds = {
        "prist": json.dumps(record).encode(),
        "labelme": (WORK / "a.json").read_bytes(),
        "json": b'{"a": [1, 2.5, "x", null, true]}',
        "rle": b"\x05\x07" + b"0123abc",
        "image": (WORK / "a.jpg").read_bytes(),
    }
    for k, (name, seed) in enumerate(seeds.items()):
        index = list(TARGETS).index(name)
        payload = seed if ONLY else bytes([index]) + seed
        (folder / f"seed-{k}-{name}").write_bytes(payload)


def main() -> None:
    _setup_images()
    args = sys.argv[:]
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = WORK / "corpus"
        _seed_corpus(corpus)
        args.append(str(corpus))
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
