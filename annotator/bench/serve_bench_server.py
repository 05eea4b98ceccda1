"""The server process of ``annotator bench serve``: ``annotator serve``'s server with a proposer
that needs no model, so the benchmark measures the server (reading, decoding, limits) alone.

Run as ``python -m annotator.bench.serve_bench_server MODE AS_LIMIT_BYTES``: it prints
``{"url": ...}`` on one line, serves until its standard input closes or gets a line, then
prints its figures (peak RSS, refusals, reservations) as one JSON line and exits. Its own
process, so its peak RSS is the server's and not the clients'.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
from typing import Any

PROPOSER_NAME = "bench-constant"


class ConstantProposer:
    """Answers every turn with the image's size and no mask, at once."""

    def info(self) -> Any:
        from annotator.proposers.base import ProposerInfo

        return ProposerInfo(PROPOSER_NAME, "1", "answers without a model (benchmark)")

    def propose(self, request: Any, task: Any = None) -> Any:
        from annotator.proposers.base import TurnOutput

        h, w = request.image.shape[:2]
        return TurnOutput(f"{w}x{h}: {request.question}", (), (), {"total_s": 0.0})

    def close(self) -> None:
        pass


def peak_rss_bytes() -> int:
    """The process's peak resident memory (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def main(argv: list[str]) -> int:
    from annotator.proposers.serve_limits import MIB, ServeLimits
    from annotator.proposers.server import ImageStore, ProposerServer

    mode, as_limit = argv[0], int(argv[1])
    if as_limit > 0:
        # The unbounded baseline grows with its clients: a cap on its address space makes it
        # fail (MemoryError, counted as errors) before it can take a shared machine down.
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
    if mode == "bounded":
        limits, images = ServeLimits(), ImageStore()
    else:  # the server before the limits, with its 2 GiB image store
        limits, images = ServeLimits.unbounded(), ImageStore(max_bytes=2048 * MIB)
    server = ProposerServer(("127.0.0.1", 0), ConstantProposer(), images=images, limits=limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(json.dumps({"url": server.url}), flush=True)
    sys.stdin.readline()
    server.shutdown()
    figures = {
        "peak_rss_mb": round(peak_rss_bytes() / 1e6),
        "refused_503": server.refused,
        "uploads_decoded": server.uploads,
        "turns_proposed": server.served,
        "decode_reserved_peak_mb": round(server.budget.peak / 1e6),
        "in_flight_peak": server.in_flight.peak,
        "connections_peak": server.connections.peak,
        "images_held_at_end": len(server.images),
    }
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
