"""``annotator bench serve``: the proposer server under many clients on 127.0.0.1 -- requests/s,
p50/p95 latency, the server process's peak RSS, 503 refusals and connection resets.

Half the clients (``--big-share``) upload an image just under the pixel cap over and over and
ask a turn about it after each upload (the worst case for memory: each decode holds two
240 MB pixel buffers);
the others upload a 640x480 image once and then ask turns (the everyday load). The server runs
in its own process (``serve_bench_server``) with a proposer that needs no model, so the figures
are the server's. The naive way, measured in the same run, is the same server with every limit
off (and the earlier 2 GiB image store); it runs with ``--naive-clients`` (8, as in issue 23)
under an address-space cap so that it cannot exhaust a shared machine, and the bounded server
runs under that load too, for a like-for-like comparison.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.core.errors import InputError

TARGET_PEAK_RSS_MB = 2000  # issue 23: under 2 GB whatever the clients send
_SMALL_SIZE = (480, 640)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", type=int, default=50, help="clients at once (default 50)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each run (20)")
    p.add_argument(
        "--big-share",
        type=float,
        default=0.5,
        help="share of clients uploading images near the pixel cap (default 0.5)",
    )
    p.add_argument(
        "--big-body",
        choices=("smooth", "noise"),
        default="smooth",
        help="the near-cap image: smooth (a few MB of PNG, so many decode at once) or noise "
        "(~240 MB of PNG per upload; takes ~15 s to build)",
    )
    p.add_argument(
        "--pixels",
        type=int,
        default=None,
        help="pixels of the large image (default: just under the server's cap, 80 million)",
    )
    p.add_argument(
        "--naive-clients", type=int, default=8, help="clients for the unbounded baseline (8)"
    )
    p.add_argument(
        "--naive-cap-gb",
        type=float,
        default=8.0,
        help="address-space cap of the unbounded baseline's process (default 8 GB)",
    )
    p.add_argument("--no-naive", action="store_true", help="skip the unbounded baseline")


@dataclass(frozen=True)
class _Image:
    key: str
    png: bytes
    label: str


@dataclass
class _Tally:
    """One client's results (merged after the run; no locks while it runs)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    resets: int = 0
    timeouts: int = 0

    def merge(self, other: _Tally) -> None:
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        self.statuses.update(other.statuses)
        self.resets += other.resets
        self.timeouts += other.timeouts


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.clients < 1 or args.seconds <= 0 or not 0 <= args.big_share <= 1:
        raise InputError("need --clients >= 1, --seconds > 0 and 0 <= --big-share <= 1")
    big, small = _near_cap_image(args.big_body, args.pixels), _small_image()
    bounded = _one_run("bounded", args.clients, args, big, small, as_limit=0)
    out: dict[str, Any] = {
        "proposer": "bench-constant: answers with the image size and no mask, no model "
        "(serve_bench_server.ConstantProposer), so the figures are the server's",
        "server": "annotator serve's server in its own process on 127.0.0.1",
        "images": {"near_cap": big.label, "small": small.label},
        "bounded": bounded,
    }
    if not args.no_naive:
        # Like for like: the bounded server under the baseline's smaller load, then the baseline.
        n = args.naive_clients
        out["bounded_at_naive_clients"] = _one_run("bounded", n, args, big, small, as_limit=0)
        cap = int(args.naive_cap_gb * 1e9)
        out["naive_unbounded"] = _one_run("unbounded", n, args, big, small, cap)
        out["naive_unbounded"]["address_space_cap_gb"] = args.naive_cap_gb
    peak = bounded["server"].get("peak_rss_mb")
    out["target_peak_rss_mb"] = TARGET_PEAK_RSS_MB
    out["meets_target"] = peak is not None and peak < TARGET_PEAK_RSS_MB
    return out


# -- images ---------------------------------------------------------------------------------
def _near_cap_image(kind: str, pixels_wanted: int | None) -> _Image:
    import cv2
    import numpy as np

    from annotator.proposers.base import image_key
    from annotator.proposers.remote_protocol import MAX_IMAGE_PIXELS

    # By default 8944 x 8944: 79,995,136 pixels, just under the cap.
    side = math.isqrt(min(pixels_wanted or MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS))
    if kind == "noise":
        pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    else:  # every row the same: PNG's "up" filter makes a tiny body with a full-size decode
        pixels = np.empty((side, side, 3), dtype=np.uint8)
        pixels[..., 0] = (np.arange(side) % 256).astype(np.uint8)[None, :]
        pixels[..., 1:] = 128
    key = image_key(pixels)
    # Smooth: most compressed, the smallest body for the largest decode; noise does not
    # compress, so the fastest level.
    level = 9 if kind == "smooth" else 1
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    del pixels
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise InputError("the benchmark image could not be encoded")
    png = buf.tobytes()
    label = f"{side}x{side} {kind} ({side * side:,} pixels), PNG {len(png) / 1e6:.2f} MB"
    return _Image(key, png, label)


def _small_image() -> _Image:
    import numpy as np

    from annotator.proposers.base import image_key
    from annotator.proposers.remote_protocol import encode_png

    h, w = _SMALL_SIZE
    pixels = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    png = encode_png(pixels)
    return _Image(image_key(pixels), png, f"{w}x{h} noise, PNG {len(png) / 1e6:.1f} MB")


# -- one run --------------------------------------------------------------------------------
def _one_run(
    mode: str, clients: int, args: argparse.Namespace, big: _Image, small: _Image, as_limit: int
) -> dict[str, Any]:
    server = _start_server(mode, as_limit)
    try:
        url = json.loads(server.stdout.readline())["url"]
        host, port = url.removeprefix("http://").rsplit(":", 1)
        n_big = round(clients * args.big_share)
        deadline = time.monotonic() + args.seconds
        tallies = [_Tally() for _ in range(clients)]
        threads = [
            threading.Thread(
                target=_client,
                args=(host, int(port), big if n < n_big else small, n < n_big, deadline, t),
                daemon=True,
            )
            for n, t in enumerate(tallies)
        ]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - start
        figures = _stop_server(server)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    total = _Tally()
    for t in tallies:
        total.merge(t)
    return _report(mode, args.seconds, clients, n_big, elapsed, total, figures)


def _start_server(mode: str, as_limit: int) -> subprocess.Popen[str]:
    import annotator

    root = str(Path(annotator.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "annotator.bench.serve_bench_server", mode, str(as_limit)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _stop_server(server: subprocess.Popen[str]) -> dict[str, Any]:
    """The server's own figures; an empty dict (and ``exited``) if it died during the run."""
    try:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write("stop\n")
        server.stdin.flush()
        line = server.stdout.readline()
        server.wait(timeout=30)
        return json.loads(line) if line else {"exited": server.returncode}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {"exited": server.poll()}


def _client(
    host: str, port: int, image: _Image, reupload: bool, deadline: float, tally: _Tally
) -> None:
    """Upload ``image`` (again after each turn when ``reupload``), ask turns until ``deadline``."""
    conn: http.client.HTTPConnection | None = None
    held = False
    question = json.dumps({"image": image.key, "history": [], "question": "what is it?"})
    while time.monotonic() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=120)
        size = "near_cap" if reupload else "small"
        if held:
            kind, method, path, body = f"propose_{size}", "POST", "/v1/propose", question.encode()
        else:
            kind, method, path, body = f"upload_{size}", "PUT", f"/v1/images/{image.key}", image.png
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            resp.read()
        except TimeoutError:
            tally.timeouts += 1
            conn.close()
            conn = None
            continue
        except (OSError, http.client.HTTPException):  # reset, broken pipe, closed mid-answer
            tally.resets += 1
            conn.close()
            conn = None
            continue
        seconds = time.perf_counter() - t0
        tally.statuses[f"{kind} {resp.status}"] += 1
        if resp.status < 300:
            tally.latencies.setdefault(kind, []).append(seconds)
        if resp.status == 201:
            held = True
        elif resp.status == 200:
            held = not reupload
        elif resp.status == 404:
            held = False  # evicted: upload again
        elif resp.status == 503:
            retry = float(resp.getheader("Retry-After") or 1)
            time.sleep(max(0.0, min(retry, deadline - time.monotonic())))
        if resp.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _report(
    mode: str,
    args_seconds: float,
    clients: int,
    n_big: int,
    elapsed: float,
    total: _Tally,
    figures: dict[str, Any],
) -> dict[str, Any]:
    answered = sum(total.statuses.values())
    ok = sum(n for k, n in total.statuses.items() if k.split()[1].startswith("2"))
    refused = sum(n for k, n in total.statuses.items() if k.endswith(" 503"))
    return {
        "limits": mode,
        "clients": clients,
        "near_cap_clients": n_big,
        "seconds_asked": args_seconds,
        "seconds_until_last_answer": round(elapsed, 1),
        "requests_answered": answered,
        "requests_per_s": round(answered / elapsed, 1),
        "ok": ok,
        "ok_per_s": round(ok / elapsed, 1),
        "refused_503": refused,
        "resets": total.resets,
        "client_timeouts": total.timeouts,
        "statuses": dict(sorted(total.statuses.items())),
        "latency_ms": {
            kind: {
                "n": len(values),
                "p50": _percentile_ms(values, 0.50),
                "p95": _percentile_ms(values, 0.95),
            }
            for kind, values in sorted(total.latencies.items())
        },
        "server": figures,
    }


def _percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[int(q * (len(ordered) - 1))] * 1000, 1)
