"""An image file that is there but does not decode is flagged BAD_IMAGE with the decoder's
reason; an absent one stays MISSING_IMAGE. The codes survive storage, stats and a JSONL round
trip."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from fixtures_bad_image import BROKEN, BadImageWorkspace, build_bad_image_workspace
from fixtures_io import image_bytes, write_image, write_labelme

from annotator.cli import main
from annotator.core.errors import InputError
from annotator.core.export_mask import DRAFT
from annotator.core.model import Conversation, FlagCode, MaskLayer
from annotator.io.images import check_image, load_image, probe_image
from annotator.io.prist_reader import read_prist
from annotator.services.export_job import export_jsonl
from annotator.services.import_job import import_jsonl, import_prist
from annotator.storage import ListQuery, Store, open_store

IMAGE_FLAGS = {FlagCode.MISSING_IMAGE, FlagCode.BAD_IMAGE}
# What the reason says for each broken file.
REASONS = {
    "truncated": "JPEG data is truncated or corrupt",
    "text": "not a readable JPEG/PNG/BMP/TIFF/WebP image",
    "empty": "empty file (0 bytes)",
}


def png_bomb(w: int, h: int) -> bytes:
    """A PNG of a few bytes whose header declares w x h pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture
def ws(tmp_path: Path) -> BadImageWorkspace:
    return build_bad_image_workspace(tmp_path / "ws")


def _import_cli(ws: BadImageWorkspace, db: Path, report: Path, capsys) -> dict:
    args = ["--db", str(db), "import", "prist", str(ws.json_path), "--images"]
    args += [str(ws.images_dir), "--masks", str(ws.masks_dir), "--json", "--report", str(report)]
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _by_image(store: Store) -> dict[str, Conversation]:
    return {c.image.path: c for c in store.iter_conversations(ListQuery())}


def test_broken_files_are_bad_image_and_the_absent_one_missing(
    ws: BadImageWorkspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.sqlite3"
    summary = _import_cli(ws, db, tmp_path / "report.json", capsys)
    assert summary["added"] == 5 and summary["flagged"] == 4
    assert summary["flags_by_code"] == {"bad_image": 3, "missing_image": 1}
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert {(r["img_id"], r["flag"]) for r in report} == {
        *((ws.img_of[role], "bad_image") for role in BROKEN),
        (ws.img_of["missing"], "missing_image"),
    }

    with open_store(db) as store:
        convs = _by_image(store)
        assert convs[ws.img_of["good"]].flags == ()
        for role in BROKEN:
            conv = convs[ws.img_of[role]]
            [flag] = conv.flags
            assert flag.code is FlagCode.BAD_IMAGE
            assert str(ws.path(role).resolve()) in flag.message  # names the file
            assert REASONS[role] in flag.message and "\n" not in flag.message
        [missing] = convs[ws.img_of["missing"]].flags
        assert missing.code is FlagCode.MISSING_IMAGE and "image not found" in missing.message
        assert ws.img_of["missing"] in missing.message
        for role in (*BROKEN, "missing"):
            # As for a missing image: the size comes from the LabelMe file and the mask is kept.
            conv = convs[ws.img_of[role]]
            assert (conv.image.width, conv.image.height) == ws.size_of[ws.img_of[role]]
            assert conv.image.sha256 == ""
            assert [m.layer for m in conv.target_turn.masks] == [MaskLayer.DRAFT]
        assert store.stats()["flags_by_code"] == {"bad_image": 3, "missing_image": 1}

    assert main(["--db", str(db), "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["flagged"] == 4
    assert stats["flags_by_code"] == {"bad_image": 3, "missing_image": 1}
    assert main(["--db", str(db), "stats"]) == 0
    assert "bad_image 3" in capsys.readouterr().out


def test_jsonl_round_trip_keeps_the_codes(ws: BadImageWorkspace, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    with open_store(tmp_path / "a.sqlite3") as store:
        import_prist(store, ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
        before = {c.key: c.flags for c in store.iter_conversations(ListQuery())}
        report = export_jsonl(store, out, status=None, mask=DRAFT)  # as imported
        assert report.written == 5, report.skipped
    codes = [
        f["code"] for line in out.read_text("utf-8").splitlines() for f in json.loads(line)["flags"]
    ]
    assert sorted(codes) == ["bad_image", "bad_image", "bad_image", "missing_image"]
    with open_store(tmp_path / "b.sqlite3") as store:
        summary = import_jsonl(store, out, images_dir=ws.images_dir)
        assert summary.added == 5 and summary.flagged == 4
        assert summary.flags_by_code() == {"bad_image": 3, "missing_image": 1}
        after = {c.key: c.flags for c in store.iter_conversations(ListQuery())}
        assert store.stats()["flags_by_code"] == {"bad_image": 3, "missing_image": 1}
    assert after == before


def test_a_repaired_file_is_treated_like_a_found_missing_one(
    ws: BadImageWorkspace, tmp_path: Path
) -> None:
    """Re-importing the same file keeps the stored records as they are (same content key), for
    either image flag alike; a fresh read of the repaired folder has no image flags."""
    with open_store(tmp_path / "a.sqlite3") as store:
        import_prist(store, ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
        before = {c.key: c.flags for c in store.iter_conversations(ListQuery())}
        for role in (*BROKEN, "missing"):
            ws.write_good(role)
        again = import_prist(store, ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
        assert again.added == 0 and again.skipped == 5
        assert {c.key: c.flags for c in store.iter_conversations(ListQuery())} == before
    fresh = read_prist(ws.json_path, images_dir=ws.images_dir, masks_dir=ws.masks_dir)
    assert not any(f.code in IMAGE_FLAGS for c in fresh.conversations for f in c.flags)
    assert all(c.image.sha256 for c in fresh.conversations)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("cut.png", image_bytes(80, 60, "PNG", seed=2)[:900], "PNG data is truncated or corrupt"),
        ("fake.jpg", image_bytes(20, 20, "PNG"), "file is PNG but named .jpg"),
        ("bomb.png", png_bomb(20000, 20000), "exceeds limit of 178956970 pixels"),
        ("big.png", png_bomb(12000, 10000), "more than the limit 100000000"),
        ("zero.jpg", b"", "empty file (0 bytes)"),
        ("note.jpg", b"hello, not a picture\n", "not an image"),
    ],
)
def test_each_kind_of_broken_file_is_bad_image_with_its_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / name).write_bytes(content)
    write_labelme(images / (Path(name).stem + ".json"), 20, 20, [])
    record = {
        "img_id": name,
        "focus": "cup",
        "dialogue": [
            {"from": "human", "value": "Where is the cup?"},
            {"from": "gpt", "value": "Here, [SEG]."},
        ],
    }
    dialogues = tmp_path / "d.json"
    dialogues.write_text(json.dumps([record]), encoding="utf-8")
    with pytest.raises(InputError) as err:
        check_image(images / name)
    assert reason in err.value.reason and "\n" not in err.value.reason
    assert err.value.file == str(images / name)
    [conv] = read_prist(dialogues, images_dir=images).conversations
    image_flags = [f for f in conv.flags if f.code in IMAGE_FLAGS]
    assert [f.code for f in image_flags] == [FlagCode.BAD_IMAGE]
    assert name in image_flags[0].message and reason in image_flags[0].message


def test_check_decodes_what_probe_only_opens(tmp_path: Path) -> None:
    data = image_bytes(300, 200, seed=4)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 3 // 4])
    assert probe_image(cut).width == 300  # the header alone looks fine
    with pytest.raises(InputError, match="JPEG data is truncated or corrupt"):
        check_image(cut)
    with pytest.raises(InputError, match="JPEG data is truncated or corrupt"):
        load_image(cut)
    good = write_image(tmp_path / "good.jpg", 300, 200, seed=4, exif_orientation=6)
    assert check_image(good) == probe_image(good)  # same size (EXIF-turned) and hash
    assert check_image(good)[:2] == (200, 300)
