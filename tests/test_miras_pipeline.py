"""MIRAS end to end on a tiny random checkpoint: real multi-turn PRIST conversations, history,
[SEG] detection, masks at the image's size, and the feature cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_miras import dialogue_turns, noise_image

from annotator.proposers.base import (
    Exchange,
    Proposer,
    TurnRequest,
    history_for,
    image_key,
    load_proposer,
)

torch = pytest.importorskip("torch")


def run_conversation(proposer, image, questions, drafts, *, model_history: bool):
    outputs = []
    answers: list[str] = []
    for t, q in enumerate(questions):
        hist = history_for(questions, answers if model_history else drafts, t)
        out = proposer.propose(TurnRequest(image, hist, q))
        outputs.append(out)
        answers.append(out.answer)
    return outputs


def test_prompt_is_llava_v1_with_image_in_first_question(tiny_miras) -> None:
    from annotator.proposers.miras.prompt import build_prompt

    cfg = tiny_miras.pipeline.m.config
    prompt = build_prompt(cfg, (Exchange("What is it?", "A cup."),), "Segment it.")
    assert prompt == (
        f"{cfg.system_prompt} USER: <image>\nWhat is it? ASSISTANT: A cup.</s>"
        "USER: Segment it. ASSISTANT:"
    )
    # A question cannot open a second image slot.
    sneaky = build_prompt(cfg, (), "look <image> here")
    assert sneaky.count("<image>") == 1


def test_multi_turn_prist_conversations_end_to_end(tiny_miras, prist_records) -> None:
    seen_seg = 0
    max_new = tiny_miras.pipeline.m.config.generation.max_new_tokens
    shapes = [(97, 143), (160, 90), (64, 64)]
    for i, record in enumerate(prist_records[:3]):
        questions, drafts = dialogue_turns(record)
        h, w = shapes[i]
        image = noise_image(h, w, seed=i)
        outputs = run_conversation(tiny_miras, image, questions, drafts, model_history=True)
        assert len(outputs) == len(questions)
        prompt_sizes = [o.detail["prompt_tokens"] for o in outputs]
        assert prompt_sizes == sorted(prompt_sizes) and len(set(prompt_sizes)) == len(outputs)
        for t, out in enumerate(outputs):
            n_seg = out.detail["seg_tokens"]
            assert out.answer.count("[SEG]") == n_seg == len(out.masks) == len(out.scores)
            assert all(m.size == (h, w) for m in out.masks)
            assert out.detail["image_cached"] == (t > 0)
            assert out.timing["total_s"] >= out.timing["decode_s"] >= 0
            assert out.detail["new_tokens"] <= max_new
            seen_seg += n_seg
    # The tiny checkpoint's documented [SEG] bias makes the mask path run on real questions.
    assert seen_seg > 0


def test_history_choice_changes_what_the_model_sees(tiny_miras, prist_records) -> None:
    questions, drafts = dialogue_turns(prist_records[5])
    image = noise_image(80, 120, seed=7)
    with_drafts = run_conversation(tiny_miras, image, questions, drafts, model_history=False)
    with_model = run_conversation(tiny_miras, image, questions, drafts, model_history=True)
    # First turn: same input, same output; later turns see different histories.
    assert with_drafts[0].answer == with_model[0].answer
    tok = tiny_miras.pipeline.m.tokenizer
    from annotator.proposers.miras.prompt import build_prompt

    cfg = tiny_miras.pipeline.m.config
    last = len(questions) - 1
    for outputs, answers in (
        (with_drafts, drafts),
        (with_model, [o.answer for o in with_model]),
    ):
        prompt = build_prompt(cfg, history_for(questions, answers, last), questions[last])
        for q, a in zip(questions[:last], answers[:last], strict=True):
            assert q.strip() in prompt and a.strip() in prompt
        text_tokens = len(tok(prompt.replace("<image>", ""), add_special_tokens=False).input_ids)
        expected = 1 + text_tokens + cfg.image_token_count  # BOS + text + image tokens
        assert outputs[last].detail["prompt_tokens"] == expected


def test_cached_image_features_give_identical_proposals(tiny_miras_dir: Path, tiny_miras) -> None:
    from annotator.proposers.miras import MirasProposer

    uncached = MirasProposer(tiny_miras_dir, device="cpu", cache_images=0)
    image = noise_image(70, 110, seed=3)
    req1 = TurnRequest(image, (), "What is on the table? Please segment it.")
    req2 = TurnRequest(image, (Exchange(req1.question, "A red cup."),), "Segment the cup.")
    a = [tiny_miras.propose(r) for r in (req1, req2)]
    b = [uncached.propose(r) for r in (req1, req2)]
    assert a[1].detail["image_cached"] is True
    assert b[1].detail["image_cached"] is False
    for x, y in zip(a, b, strict=True):
        assert x.answer == y.answer
        assert x.masks == y.masks
    uncached.close()


def _naive_greedy(pipeline, image, history, question):
    """Greedy decoding without a KV cache: the whole sequence is recomputed every step, and the
    [SEG] states are read from one final full forward at the positions that produced [SEG]."""
    from annotator.proposers.miras.prompt import build_prompt

    m = pipeline.m
    lm = m.network.language_model
    state, _ = pipeline.image_state(image, image_key(image))
    embeds, _ = pipeline.prompt_embeddings(build_prompt(m.config, history, question), state.tokens)
    bias = pipeline._logit_bias()
    ids: list[int] = []
    with torch.inference_mode():
        for _ in range(m.config.generation.max_new_tokens):
            seq = embeds
            if ids:
                new = lm.get_input_embeddings()(torch.tensor([ids]))
                seq = torch.cat([embeds, new], dim=1)
            hidden = lm.model(inputs_embeds=seq, use_cache=False).last_hidden_state
            logits = lm.lm_head(hidden[0, -1]).float() + (0 if bias is None else bias)
            token = int(logits.argmax())
            if token == m.tokenizer.eos_token_id:
                break
            ids.append(token)
        start = embeds.shape[1] - 1  # the state at position p predicts token p + 1
        seg_states = [hidden[0, start + j] for j, t in enumerate(ids) if t == m.seg_token_id]
    return ids, seg_states, state


def test_seg_states_and_masks_match_a_naive_full_recompute(tiny_miras, prist_records) -> None:
    pipeline = tiny_miras.pipeline
    checked = 0
    for n, record in enumerate(prist_records[10:40]):
        questions, drafts = dialogue_turns(record)
        image = noise_image(90, 130, seed=n)
        hist = history_for(questions, drafts, len(questions) - 1)
        ids, seg_states, state = _naive_greedy(pipeline, image, hist, questions[-1])
        if not seg_states:
            continue
        out = tiny_miras.propose(TurnRequest(image, hist, questions[-1]))
        assert out.detail["new_tokens"] == len(ids)
        assert out.answer == pipeline.decode_text(ids)[0]
        assert len(out.masks) == len(seg_states)
        masks, _ = pipeline.masks(seg_states, state)
        for got, want in zip(out.masks, masks, strict=True):
            a, b = got.to_array(), want.to_array()
            union = (a | b).sum()
            assert union == 0 or (a & b).sum() / union > 0.99
        checked += 1
        if checked == 2:
            break
    assert checked > 0, "no [SEG] in any final turn of 30 records"


def test_masks_follow_image_size_and_orientation(tiny_miras) -> None:
    for h, w in ((31, 200), (200, 31), (257, 129)):
        image = noise_image(h, w, seed=h)
        hist = (Exchange("What is in the picture?", "A sign."),)
        out = tiny_miras.propose(TurnRequest(image, hist, "Please segment the sign [SEG]."))
        assert all(m.size == (h, w) for m in out.masks)


def test_without_aux_encoder(tmp_path: Path, prist_records) -> None:
    from annotator.proposers.miras import MirasProposer
    from annotator.proposers.miras.config import read_config
    from annotator.proposers.miras.tiny import make_tiny_miras

    make_tiny_miras(tmp_path / "noaux", corpus=None, with_aux=False)
    assert read_config(tmp_path / "noaux").aux is None
    proposer = MirasProposer(tmp_path / "noaux", device="cpu")
    questions, drafts = dialogue_turns(prist_records[0])
    outputs = run_conversation(
        proposer, noise_image(50, 60), questions, drafts, model_history=False
    )
    assert len(outputs) == len(questions)
    assert proposer.info().proposes_noise
    proposer.close()


def test_found_through_entry_points(tiny_miras_dir: Path) -> None:
    from annotator.core.errors import NotFoundError, ProposerError

    proposer = load_proposer("miras", checkpoint=str(tiny_miras_dir), device="cpu")
    assert isinstance(proposer, Proposer)
    info = proposer.info()
    assert info.name == "miras" and info.proposes_noise and "RANDOM" in info.description
    proposer.close()
    with pytest.raises(ProposerError, match="does not take option"):
        load_proposer("miras", checkpoint=str(tiny_miras_dir), url="http://x")
    with pytest.raises(ProposerError, match="needs option"):
        load_proposer("miras")
    with pytest.raises(NotFoundError, match="no proposer named"):
        load_proposer("no-such-model")


def test_importing_the_proposer_packages_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys, annotator.proposers.base, annotator.proposers.miras, "
        "annotator.proposers.miras.config, annotator.proposers.miras.prompt;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_image_is_refused() -> None:
    from annotator.core.errors import ProposerError

    with pytest.raises(ProposerError, match="uint8 RGB"):
        TurnRequest(np.zeros((4, 4), dtype=np.uint8), (), "q")
    with pytest.raises(ProposerError, match="uint8 RGB"):
        TurnRequest(np.zeros((4, 4, 3), dtype=np.float32), (), "q")


def test_cancel_stops_generation(tiny_miras) -> None:
    from annotator.core.errors import Cancelled
    from annotator.core.progress import Task

    task = Task()
    task.token.cancel()
    with pytest.raises(Cancelled):
        tiny_miras.propose(TurnRequest(noise_image(20, 20), (), "q"), task)
    # The proposer still works afterwards.
    assert isinstance(tiny_miras.propose(TurnRequest(noise_image(20, 20), (), "q")).answer, str)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_half_precision_on_gpu(tiny_miras_dir: Path) -> None:
    from annotator.proposers.miras import MirasProposer

    proposer = MirasProposer(tiny_miras_dir, device="cuda")
    assert "bfloat16" in proposer.info().device or "float16" in proposer.info().device
    out = proposer.propose(TurnRequest(noise_image(40, 60), (), "Segment it."))
    assert all(m.size == (40, 60) for m in out.masks)
    proposer.close()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_pipeline_runs(tiny_miras_dir: Path, dtype: str) -> None:
    """The GPU precisions, run on the CPU so that dtype mismatches show up without a GPU."""
    from annotator.proposers.miras.checkpoint import load_checkpoint
    from annotator.proposers.miras.inference import MirasPipeline

    dt = getattr(torch, dtype)
    loaded = load_checkpoint(tiny_miras_dir, device=torch.device("cpu"), dtype=dt)
    assert {p.dtype for p in loaded.network.parameters()} == {dt}
    pipeline = MirasPipeline(loaded)
    segs = 0
    # Whether random weights write [SEG] depends on the input: try until the mask path ran.
    for seed in range(5, 10):
        image = noise_image(45, 77, seed=seed)
        for q in ("What is on the left?", "Please segment the sign.", "Segment it again."):
            out = pipeline.propose(image, image_key(image), (Exchange("Q", "A"),), q)
            assert all(m.size == (45, 77) for m in out.masks)
            segs += len(out.masks)
        if segs:
            break
    assert segs > 0


def test_random_model_path_with_a_wider_vocabulary_than_its_tokenizer() -> None:
    """The --full-size-random path (built on the device, no weights file), with small dims: the
    model's vocabulary is wider than the local tokenizer, as with the 7B one."""
    from annotator.proposers.bench.miras_full_size import full_size_random_proposer
    from annotator.proposers.miras.config import tiny_config

    proposer = full_size_random_proposer(device="cpu", config=tiny_config(32004))
    assert proposer.info().proposes_noise
    assert proposer.loaded.network.language_model.lm_head.out_features == 32004
    out = proposer.propose(TurnRequest(noise_image(30, 40), (), "What is it?"))
    assert out.detail["new_tokens"] >= out.detail["unknown_tokens"] >= 0
    assert isinstance(out.answer, str)
