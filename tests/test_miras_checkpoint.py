"""MIRAS checkpoint directories: garbage is refused with a clear error, and the authors' layout
converts into ours tensor for tensor."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from fixtures_miras import noise_image

from annotator.core.errors import WeightsError
from annotator.proposers.base import TurnRequest

torch = pytest.importorskip("torch")


def copy_checkpoint(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def load(directory: Path):
    from annotator.proposers.miras import MirasProposer

    return MirasProposer(directory, device="cpu")


def rewrite_config(directory: Path, **changes) -> None:
    path = directory / "config.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# -- garbage is refused ---------------------------------------------------------------------
def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load(tmp_path / "nope")


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"no config\.json"):
        load(tmp_path)


def test_config_not_json(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    (d / "config.json").write_text("{ not json")
    with pytest.raises(WeightsError, match=r"config\.json: unreadable config"):
        load(d)


def test_foreign_config_points_to_the_converter(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    (d / "config.json").write_text(json.dumps({"model_type": "llava", "hidden_size": 4096}))
    with pytest.raises(WeightsError, match="convert-miras"):
        load(d)


def test_inconsistent_config(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    data = json.loads((d / "config.json").read_text())
    data["sam"]["global_attn_indexes"] = [7]  # the tiny SAM has 2 blocks
    (d / "config.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="global_attn_indexes"):
        load(d)


def test_corrupted_weights_fail_the_hash(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    raw = bytearray((d / "model.safetensors").read_bytes())
    raw[-10] ^= 0xFF
    (d / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="sha256"):
        load(d)


def test_random_bytes_with_matching_hash_are_not_weights(
    tiny_miras_dir: Path, tmp_path: Path
) -> None:
    from annotator.proposers.weights import sha256_file

    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    (d / "model.safetensors").write_bytes(b"\x00garbage" * 1000)
    rewrite_config(d, weights_sha256=sha256_file(d / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"model\.safetensors: not a loadable weights file"):
        load(d)


def test_weights_of_another_layout(tiny_miras_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    from annotator.proposers.weights import sha256_file

    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    state = load_file(str(d / "model.safetensors"))
    del state["text_hidden_fcs.0.weight"]
    state["extra.weight"] = torch.zeros(2)
    state["mm_projector.0.weight"] = torch.zeros(3, 3)
    save_file(state, str(d / "model.safetensors"))
    rewrite_config(d, weights_sha256=sha256_file(d / "model.safetensors"))
    with pytest.raises(WeightsError) as err:
        load(d)
    msg = str(err.value)
    assert "1 missing (e.g. text_hidden_fcs.0.weight)" in msg
    assert "1 unexpected (e.g. extra.weight)" in msg
    assert "mm_projector.0.weight" in msg and "wrong shape" in msg


def test_pickled_code_is_never_run(tiny_miras_dir: Path, tmp_path: Path) -> None:
    import pickle

    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    (d / "model.safetensors").unlink()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with (d / "pytorch_model.bin").open("wb") as fh:
        pickle.dump({"x": Evil()}, fh)
    rewrite_config(d, weights_sha256="")
    with pytest.raises(WeightsError, match=r"pytorch_model\.bin"):
        load(d)
    assert not marker.exists()


def test_tokenizer_without_seg_token(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    rewrite_config(d, tokens={"seg": "[SEGMENT-ME]"})
    with pytest.raises(WeightsError, match=r"does not hold \[SEGMENT-ME\] as one token"):
        load(d)


def test_missing_tokenizer(tiny_miras_dir: Path, tmp_path: Path) -> None:
    d = copy_checkpoint(tiny_miras_dir, tmp_path / "c")
    for f in d.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(WeightsError, match="no usable tokenizer"):
        load(d)


def test_make_tiny_refuses_to_overwrite(tiny_miras_dir: Path) -> None:
    from annotator.proposers.miras.tiny import make_tiny_miras

    with pytest.raises(WeightsError, match="not empty"):
        make_tiny_miras(tiny_miras_dir)


# -- the authors' layout --------------------------------------------------------------------
def to_authors_names(name: str) -> str:
    """Our name -> the name the authors' MGMSA code gives the same tensor (written out here
    independently of the converter's table)."""
    table = [
        ("language_model.model.", "model."),
        ("language_model.lm_head.", "lm_head."),
        ("vision_tower_aux.", "model.vision_tower_aux.vision_tower."),
        ("vision_tower.", "model.vision_tower.vision_tower."),
        ("aux_fusion.query.", "model.vlm_uni_query_projector."),
        ("aux_fusion.key.", "model.vlm_uni_aux_projector."),
        ("aux_fusion.value.", "model.vlm_uni_val_projector."),
        ("mm_projector.", "model.mm_projector."),
        ("text_hidden_fcs.", "model.text_hidden_fcs.0."),
        ("sam.", "model.visual_model."),
    ]
    for ours, theirs in table:
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    raise AssertionError(name)


def make_authors_checkpoint(tiny_dir: Path, out: Path, *, keep_sam: bool = True) -> dict:
    from safetensors.torch import load_file

    ours = load_file(str(tiny_dir / "model.safetensors"))
    cfg = json.loads((tiny_dir / "config.json").read_text())
    theirs = {
        to_authors_names(k): v for k, v in ours.items() if keep_sam or not k.startswith("sam.")
    }
    # What their checkpoints also carry and we drop: rotary buffers, the aux classifier head.
    theirs["model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(8)
    theirs["model.vision_tower_aux.vision_tower.head.fc.weight"] = torch.ones(2, 2)
    out.mkdir()
    names = sorted(theirs)
    half = len(names) // 2
    for i, part in enumerate((names[:half], names[half:]), start=1):
        torch.save({k: theirs[k] for k in part}, out / f"pytorch_model-0000{i}-of-00002.bin")
    llm = cfg["llm"]
    (out / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["MGMSAForCausalLM"],
                "hidden_size": llm["hidden_size"],
                "num_attention_heads": llm["num_attention_heads"],
                "rms_norm_eps": llm["rms_norm_eps"],
                "max_position_embeddings": llm["max_position_embeddings"],
                "mm_vision_select_layer": -2,
                "mm_use_im_start_end": False,
                "image_aspect_ratio": "pad",
                "image_size_aux": cfg["aux"]["image_size"],
            }
        )
    )
    for f in tiny_dir.glob("tokenizer*"):
        shutil.copy(f, out / f.name)
    return ours


TINY_OVERRIDES = {"vision_num_attention_heads": 2, "sam_decoder_num_heads": 2}


def test_convert_authors_layout(tiny_miras_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from annotator.proposers.miras.config import read_config
    from annotator.proposers.miras.convert import convert_miras

    ours = make_authors_checkpoint(tiny_miras_dir, tmp_path / "src")
    cfg = convert_miras(tmp_path / "src", tmp_path / "dst", overrides=TINY_OVERRIDES)
    converted = load_file(str(tmp_path / "dst" / "model.safetensors"))
    assert set(converted) == set(ours)
    assert all(torch.equal(converted[k], ours[k]) for k in ours)
    tiny = read_config(tiny_miras_dir)
    assert read_config(tmp_path / "dst") == cfg
    assert cfg.sam == tiny.sam and cfg.aux == tiny.aux
    assert cfg.llm["num_hidden_layers"] == tiny.llm["num_hidden_layers"]
    assert cfg.vision["image_size"] == tiny.vision["image_size"]
    assert not cfg.random_init and not cfg.generation.logit_bias
    proposer = load(tmp_path / "dst")
    out = proposer.propose(TurnRequest(noise_image(30, 40), (), "Segment the cup."))
    assert all(m.size == (30, 40) for m in out.masks)
    proposer.close()


def test_convert_with_separate_sam_checkpoint(tiny_miras_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from annotator.proposers.miras.convert import convert_miras

    ours = make_authors_checkpoint(tiny_miras_dir, tmp_path / "src", keep_sam=False)
    sam = {k.removeprefix("sam."): v for k, v in ours.items() if k.startswith("sam.")}
    torch.save(sam, tmp_path / "sam_tiny.pth")
    with pytest.raises(WeightsError, match="no SAM weights"):
        convert_miras(tmp_path / "src", tmp_path / "no-sam", overrides=TINY_OVERRIDES)
    convert_miras(
        tmp_path / "src",
        tmp_path / "dst",
        sam_checkpoint=tmp_path / "sam_tiny.pth",
        overrides=TINY_OVERRIDES,
    )
    converted = load_file(str(tmp_path / "dst" / "model.safetensors"))
    assert all(torch.equal(converted[k], ours[k]) for k in ours)


def test_convert_refuses_unknown_tensors(tiny_miras_dir: Path, tmp_path: Path) -> None:
    from annotator.proposers.miras.convert import convert_miras

    make_authors_checkpoint(tiny_miras_dir, tmp_path / "src")
    torch.save(
        {"model.some_new_head.weight": torch.ones(1)}, tmp_path / "src" / "pytorch_model-extra.bin"
    )
    with pytest.raises(WeightsError, match=r"no place in MIRAS.*some_new_head"):
        convert_miras(tmp_path / "src", tmp_path / "dst", overrides=TINY_OVERRIDES)
    assert not (tmp_path / "dst" / "config.json").exists()


def test_without_torch_miras_says_it_needs_the_full_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desktop bundle has no torch: the proposer says so in one line, loading nothing."""
    from annotator.core.errors import ProposerError
    from annotator.proposers.miras import MirasProposer

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ProposerError, match="needs the full install with torch"):
        MirasProposer(tmp_path)
