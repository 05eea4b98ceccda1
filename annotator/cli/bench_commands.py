"""``annotator bench NAME [--json]``: run one benchmark and print its figures."""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from annotator.bench import BENCHMARKS


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="run a benchmark and print its figures")
    names = bench.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, module_name in BENCHMARKS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        p = names.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        p.add_argument("--json", action="store_true", help="print one JSON object")
        module.add_arguments(p)
        p.set_defaults(run=_runner(module))


def _runner(module: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from annotator.bench.machine import machine_info

        figures: dict[str, Any] = module.run(args)
        figures["machine"] = machine_info()
        if args.json:
            print(json.dumps(figures, indent=2, default=str))
        else:
            for key, value in figures.items():
                print(f"{key:>28}: {value}")
        return 0

    return run
