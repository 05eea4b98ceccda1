"""``annotator bench propose --proposer vlm``: turns/s and per-turn latency of the ``vlm``
proposer through the batch job, one turn in flight (the naive way) and ``--concurrency`` turns
in flight, in the same run on the same records. Without ``--url`` it runs against the tests'
OpenAI-compatible server on 127.0.0.1 answering after a fixed delay (``--delay-ms``, 200), so the
figure is the client's: what concurrency recovers of the server's latency. Segmentation turns
get a box and go through real MobileSAM (one image, so its embedding is computed once).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SPEEDUP = 6.0  # at concurrency 8 against a 200 ms server


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--proposer vlm")
    g.add_argument("--url", default=None, help="server (default: a local test server)")
    g.add_argument("--model", default="fake-vl-7b", help="model name to ask for")
    g.add_argument("--box-format", default="pixels", choices=("pixels", "norm1000", "norm1000-yx"))
    g.add_argument("--concurrency", type=int, default=8, help="turns in flight (default 8)")
    g.add_argument("--delay-ms", type=float, default=200.0, help="the local server's delay")
    g.add_argument("--records", type=int, default=24, help="conversations (4 turns each)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import cv2

    from annotator.bench.sam_bench import synthetic_scene
    from annotator.bench.vlm_test_server import BoxScript, VlmTestServer
    from annotator.proposers.sam import open_segmenter

    image, shapes = synthetic_scene(1024, 768)
    target = shapes[sorted(shapes)[0]]
    ys, xs = target.nonzero()
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    sam = open_segmenter("mobile-sam")
    sam.prepare(image)  # the embedding is computed once, outside the timings
    with tempfile.TemporaryDirectory(prefix="vlm-bench-") as tmp:
        folder = Path(tmp)
        cv2.imwrite(str(folder / "scene.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        script = BoxScript(box, image.shape[1], image.shape[0], args.box_format)
        if args.url:
            return _measure(args, args.url, folder, sam, None)
        with VlmTestServer(script, delay_s=args.delay_ms / 1000) as server:
            return _measure(args, server.url, folder, sam, server)


def _measure(
    args: argparse.Namespace, url: str, folder: Path, sam: Any, server: Any
) -> dict[str, Any]:
    runs = {}
    for lanes in (1, args.concurrency):
        runs[lanes] = _one_run(args, url, folder, sam, lanes)
    base, fast = runs[1], runs[args.concurrency]
    speedup = fast["turns_per_s"] / base["turns_per_s"] if base["turns_per_s"] else 0.0
    out: dict[str, Any] = {
        "server": url if server is None else f"local test server, {args.delay_ms:g} ms per request",
        "model": args.model,
        "records": args.records,
        "turns": fast["turns"],
        "sequential": base,
        f"concurrency_{args.concurrency}": fast,
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_SPEEDUP,
    }
    if server is not None:
        out["server_max_in_flight"] = server.max_in_flight
        out["meets_target"] = speedup >= TARGET_SPEEDUP
    return out


def _one_run(
    args: argparse.Namespace, url: str, folder: Path, sam: Any, lanes: int
) -> dict[str, Any]:
    from annotator.core.model import Conversation, Image, Turn
    from annotator.proposers.vlm import VlmProposer
    from annotator.services.propose_job import run_propose_batch
    from annotator.storage import ListQuery, open_store

    h, w = 768, 1024
    turns = tuple(
        Turn(i, q, a)
        for i, (q, a) in enumerate(
            [
                ("What is in the picture?", "Some shapes."),
                ("Which ones have corners?", "The square and the triangle."),
                ("Which of those is larger?", "The square."),
                ("Please segment it.", "Sure, [SEG]."),
            ]
        )
    )
    convs = [
        Conversation(
            Image("scene.png", w, h, "", root=str(folder)), f"target {k}", turns, key=f"{k}"
        )
        for k in range(args.records)
    ]
    with tempfile.TemporaryDirectory(prefix="vlm-bench-db-") as tmp:
        store = open_store(Path(tmp) / "bench.sqlite3")
        try:
            store.add_conversations(convs, actor="bench")
            proposer = VlmProposer(
                url, args.model, box_format=args.box_format, concurrency=lanes, segmenter=sam
            )
            start = time.perf_counter()
            summary = run_propose_batch(store, proposer, query=ListQuery())
            elapsed = time.perf_counter() - start
            latencies = [
                p.elapsed_s for cid in store.ids(ListQuery()) for p in store.proposals(cid)
            ]
        finally:
            store.close()
    return {
        "turns": summary.turns,
        "masks": summary.masks,
        "failed": len(summary.failed),
        "seconds": round(elapsed, 2),
        "turns_per_s": round(summary.turns / elapsed, 2) if elapsed else 0.0,
        "turn_latency_ms_median": round(statistics.median(latencies) * 1000, 1),
        "turn_latency_ms_p95": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000, 1),
    }
