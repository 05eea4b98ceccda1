"""Benchmarks behind ``annotator bench NAME``. Each module in :data:`BENCHMARKS` exposes
``add_arguments(parser)`` and ``run(args) -> dict``; the command adds the machine description and
prints the figures (JSON with ``--json``)."""

from __future__ import annotations

BENCHMARKS: dict[str, str] = {
    "store": "annotator.bench.store_bench",
    "sam": "annotator.bench.sam_bench",
    "ui": "annotator.bench.ui_bench",
    "propose": "annotator.bench.propose_bench",
    "metrics": "annotator.bench.metrics_bench",
    "authoring": "annotator.bench.authoring_bench",
    "image-lookup": "annotator.bench.image_lookup_bench",
    "serve": "annotator.bench.serve_bench",
    "team": "annotator.bench.team_bench",
}
