"""Per-turn MIRAS proposal latency, tokens/s and peak memory, with and without reusing the image
features across the turns of a conversation.

Runs real PRIST conversations (questions and draft answers as history) on a noise image of a
typical size. "reuse" keeps CLIP/aux tokens and SAM's image embedding for the later turns (what
the app does); "no reuse" -- the naive baseline, measured in the same run on the same turns --
encodes the image again for every turn. Greedy decoding is deterministic, so both runs generate
the same tokens. ``--full-size-random`` builds MIRAS-7B dimensions with random weights directly
on the device (bf16 on a GPU), with no weights file, to check that it fits and how fast it runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    from annotator.bench import vlm_propose_bench

    p.add_argument(
        "--proposer", default="miras", choices=("miras", "vlm"), help="which proposer (miras)"
    )
    p.add_argument("--checkpoint", default=None, help="MIRAS checkpoint directory")
    p.add_argument(
        "--full-size-random",
        action="store_true",
        help="build MIRAS-7B with random weights on the device instead of loading a checkpoint",
    )
    p.add_argument("--no-aux", action="store_true", help="full-size model without the aux encoder")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda ...")
    p.add_argument("--conversations", type=int, default=3, help="conversations to run (each twice)")
    p.add_argument(
        "--prist",
        type=Path,
        default=None,
        help="PRIST JSON for the questions (default: the sample project's)",
    )
    p.add_argument("--image-size", default="640x480", help="WxH of the test image")
    vlm_propose_bench.add_arguments(p)


def _dialogues(path: Path | None, n: int) -> list[list[tuple[str, str]]]:
    from annotator.services.sample_project import sample_dir

    path = path or sample_dir() / "dialogues.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for rec in records[:n]:
        msgs = rec["dialogue"]
        out.append([(q["value"], a["value"]) for q, a in zip(msgs[0::2], msgs[1::2], strict=True)])
    return out


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.proposer == "vlm":
        from annotator.bench import vlm_propose_bench

        return vlm_propose_bench.run(args)
    import numpy as np

    from annotator.proposers.base import TurnRequest, history_for
    from annotator.proposers.bench import miras_full_size as bs

    if not args.checkpoint and not args.full_size_random:
        raise SystemExit("error: give --checkpoint DIR or --full-size-random")
    w, h = (int(x) for x in args.image_size.lower().split("x"))
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    if args.full_size_random:
        proposer = bs.full_size_random_proposer(device=args.device, with_aux=not args.no_aux)
    else:
        from annotator.proposers.miras import MirasProposer

        proposer = MirasProposer(args.checkpoint, device=args.device)
    load_s = time.perf_counter() - t0
    loaded, pipeline = proposer.loaded, proposer.pipeline
    device = loaded.device
    dialogues = _dialogues(args.prist, args.conversations)

    def conversation(dialogue: list[tuple[str, str]], *, reuse: bool) -> tuple[float, list[Any]]:
        questions = [q for q, _ in dialogue]
        drafts = [a for _, a in dialogue]
        pipeline.forget_images()
        pipeline.cache_images = 4 if reuse else 0
        outs = []
        start = time.perf_counter()
        for t, q in enumerate(questions):
            outs.append(proposer.propose(TurnRequest(image, history_for(questions, drafts, t), q)))
        return time.perf_counter() - start, outs

    conversation(dialogues[0][:1], reuse=True)  # warm-up (kernels, allocator), not counted
    bs.reset_peak_memory(device)
    reuse_times, plain_times, turns, plain_turns = [], [], [], []
    for d in dialogues:
        seconds, outs = conversation(d, reuse=True)
        reuse_times.append(seconds)
        turns.extend(outs)
    for d in dialogues:
        seconds, outs = conversation(d, reuse=False)
        plain_times.append(seconds)
        plain_turns.extend(outs)
    same = all(
        a.answer == b.answer and a.masks == b.masks for a, b in zip(turns, plain_turns, strict=True)
    )
    per_turn = [o.timing["total_s"] for o in turns]
    later = [o.timing["total_s"] for o in turns if o.detail["image_cached"]]
    decode_rates = [o.detail["tokens_per_s"] for o in turns if o.detail["new_tokens"] > 1]
    image_s = [o.timing["image_s"] for o in turns if not o.detail["image_cached"]]
    cfg = loaded.config
    return {
        "model": cfg.name,
        "random_weights": cfg.random_init,
        "device": bs.device_name(device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "torch": bs.torch_version(),
        "parameters": bs.parameter_counts(proposer),
        "load_s": round(load_s, 2),
        "image_size": f"{w}x{h}",
        "conversations": len(dialogues),
        "turns": len(turns),
        "turn_latency_s_mean": round(statistics.fmean(per_turn), 4),
        "turn_latency_s_p50": round(_percentile(per_turn, 50), 4),
        "turn_latency_s_p90": round(_percentile(per_turn, 90), 4),
        "later_turn_latency_s_mean": round(statistics.fmean(later), 4) if later else None,
        "image_encode_s_mean": round(statistics.fmean(image_s), 4) if image_s else None,
        "prefill_s_mean": round(statistics.fmean(o.timing["prefill_s"] for o in turns), 4),
        "masks_s_mean": round(statistics.fmean(o.timing["masks_s"] for o in turns), 4),
        "new_tokens_mean": round(statistics.fmean(o.detail["new_tokens"] for o in turns), 1),
        "prompt_tokens_max": max(o.detail["prompt_tokens"] for o in turns),
        "decode_tokens_per_s_mean": round(statistics.fmean(decode_rates), 2)
        if decode_rates
        else None,
        "conversation_s_with_feature_reuse": round(statistics.fmean(reuse_times), 4),
        "conversation_s_without_reuse": round(statistics.fmean(plain_times), 4),
        "reuse_speedup": round(statistics.fmean(plain_times) / statistics.fmean(reuse_times), 3),
        "reuse_gives_identical_output": same,
        **bs.peak_memory_mb(device),
    }
