"""LISA checkpoints through the MIRAS pipeline: ``annotator models convert-lisa`` turns a tiny
checkpoint written in LISA's naming and layout into ours, and the converted checkpoint answers and
segments exactly as LISA's own forward pass (``lisa_reference``) does on the same weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from annotator.core.errors import WeightsError
from annotator.proposers.base import Exchange, TurnRequest

torch = pytest.importorskip("torch")
lisa_reference = pytest.importorskip("lisa_reference")

QUESTION = "What is on the table?"
HISTORY = (("Is there a table in the room?", "Yes, a wooden table by the window."),)


def scene(height: int = 180, width: int = 260) -> np.ndarray:
    """Not square (CLIP crops, SAM pads) and not noise: gradients with a bright disc."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    img[(y - 90) ** 2 + (x - 150) ** 2 < 40**2] = (250, 240, 40)
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def lisa() -> object:
    return lisa_reference.build(seed=3)


@pytest.fixture(scope="module")
def lisa_dir(lisa: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lisa") / "LISA-tiny"
    lisa_reference.write_checkpoint(lisa, out)
    return out


@pytest.fixture(scope="module")
def converted(lisa_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from annotator.cli import main

    dst = tmp_path_factory.mktemp("converted") / "lisa-ours"
    assert main(["models", "convert-lisa", str(lisa_dir), str(dst)]) == 0
    return dst


@pytest.fixture(scope="module")
def proposer(converted: Path) -> object:
    from annotator.proposers.miras import MirasProposer

    p = MirasProposer(converted, device="cpu", dtype="float32")
    yield p
    p.close()


def test_the_converted_config_is_lisas(converted: Path) -> None:
    cfg = json.loads((converted / "config.json").read_text())
    assert cfg["mm_projector"] == "linear"
    assert cfg["image_aspect_ratio"] == "crop"  # CLIP's processor, no padding
    assert cfg["mm_use_im_start_end"] is True
    assert cfg["aux"] is None
    assert cfg["vision"]["image_size"] == 224 and cfg["vision"]["patch_size"] == 14
    assert cfg["llm"]["rms_norm_eps"] == 1e-6
    assert cfg["generation"]["max_new_tokens"] == 512
    assert cfg["generation"]["logit_bias"] == {}
    assert cfg["random_init"] is False


@pytest.mark.parametrize("history", [(), HISTORY], ids=["first-turn", "with-history"])
def test_answer_and_masks_match_lisas_forward(
    lisa: object, proposer: object, history: tuple[tuple[str, str], ...]
) -> None:
    image = scene()
    ref_ids, ref_masks = lisa_reference.evaluate(lisa, image, history, QUESTION)
    tok = lisa.tokenizer  # type: ignore[attr-defined]
    eos = tok.eos_token_id
    seg = tok.convert_tokens_to_ids(lisa_reference.SEG)
    assert seg in ref_ids, "the tiny weights must exercise [SEG] for this test to mean anything"

    out = proposer.propose(  # type: ignore[attr-defined]
        TurnRequest(image, tuple(Exchange(q, a) for q, a in history), QUESTION)
    )
    expected_text = tok.decode([i for i in ref_ids if i != eos], skip_special_tokens=False)
    assert out.answer == expected_text.strip()
    assert out.detail["seg_tokens"] == ref_ids.count(seg) == len(ref_masks)
    assert len(out.masks) == len(ref_masks)
    for ours, theirs in zip(out.masks, ref_masks, strict=True):
        assert ours.size == image.shape[:2]
        assert theirs.any() and not theirs.all(), "a degenerate reference mask proves little"
        assert np.array_equal(ours.to_array(), theirs)


def test_without_the_clip_tower_asks_for_it_and_takes_it(lisa: object, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from annotator.proposers.miras.convert import convert_lisa

    src = tmp_path / "no-clip"
    lisa_reference.write_checkpoint(lisa, src, with_clip=False)
    with pytest.raises(WeightsError, match="--clip"):
        convert_lisa(src, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()

    clip_dir = tmp_path / "clip-vit-large-patch14"
    lisa.clip.save_pretrained(str(clip_dir))  # type: ignore[attr-defined]
    convert_lisa(src, tmp_path / "dst", clip_checkpoint=clip_dir)
    written = load_file(str(tmp_path / "dst" / "model.safetensors"))
    clip_state = lisa.clip.state_dict()  # type: ignore[attr-defined]
    for k, v in clip_state.items():
        name = "vision_tower." + (k if k.startswith("vision_model.") else "vision_model." + k)
        assert torch.equal(written[name], v)

    with_clip = tmp_path / "with-clip"
    lisa_reference.write_checkpoint(lisa, with_clip)
    with pytest.raises(WeightsError, match="already holds CLIP"):
        convert_lisa(with_clip, tmp_path / "twice", clip_checkpoint=clip_dir)


def test_unknown_tensors_are_refused(lisa: object, tmp_path: Path) -> None:
    from annotator.proposers.miras.convert import convert_lisa

    src = tmp_path / "odd"
    lisa_reference.write_checkpoint(lisa, src)
    torch.save({"model.lora_A.weight": torch.zeros(2, 2)}, src / "pytorch_model-extra.bin")
    with pytest.raises(WeightsError, match="no place in MIRAS"):
        convert_lisa(src, tmp_path / "dst")
