"""``annotator propose``, ``annotator serve``, ``annotator import miras`` and the MIRAS model
commands (``annotator models convert-miras`` / ``make-tiny-miras``, registered by
``model_commands`` through :func:`register_models`). Heavy imports happen inside the handlers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from annotator.cli.progress_bar import progress_task
from annotator.core.errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "propose",
        help="propose answers and masks for every turn of the selected conversations",
        description="Runs a proposer (MIRAS by default) over the conversations that still need "
        "its proposals and stores them, one transaction per conversation. Safe to interrupt and "
        "run again; several machines can share one database (claims, or --shard K/N).",
    )
    _proposer_arguments(p)
    p.add_argument(
        "--status",
        default="draft",
        help="which conversations: a status, or 'all' (default: draft)",
    )
    p.add_argument("--limit", type=int, default=None, help="at most N conversations this run")
    p.add_argument(
        "--shard", type=_shard, default=None, metavar="K/N", help="only ids with id %% N == K"
    )
    p.add_argument(
        "--history",
        choices=["draft", "model"],
        default="draft",
        help="earlier turns as the model sees them: the conversation's own answers (default) or "
        "the model's answers to them",
    )
    p.add_argument("--images", type=Path, default=None, help="image directory (if images moved)")
    p.add_argument("--worker", default=None, help="worker name for claims (default: host[/shard])")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_propose)

    s = sub.add_parser(
        "serve",
        help="serve a proposer over HTTP for `--proposer remote` clients",
        description="Loads the proposer once and answers proposal requests over HTTP (JSON). "
        "Listens on loopback unless --host is given; on a shared network give an access token "
        "(--token-file or $ANNOTATOR_SERVE_TOKEN). Requests past --max-in-flight, or images "
        "that do not fit the decode memory now, are answered 503 with Retry-After.",
    )
    _proposer_arguments(s, remote=False)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    s.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    s.add_argument("--max-images", type=int, default=64, help="images kept for later turns")
    s.add_argument(
        "--image-mb", type=int, default=512, help="memory for the images kept (default 512 MiB)"
    )
    s.add_argument(
        "--decode-mb",
        type=int,
        default=768,
        help="memory for uploads being received and decoded at once (default 768 MiB; an image "
        "at the 80-megapixel cap needs up to 714)",
    )
    s.add_argument(
        "--max-in-flight",
        type=int,
        default=16,
        help="uploads and proposal requests handled at once; 503 past it (default 16)",
    )
    s.set_defaults(run=run_serve)


def register_import(import_kinds: Any) -> None:
    """``annotator import miras``: attached to the ``import`` group by ``data_commands``."""
    m = import_kinds.add_parser(
        "miras",
        help="MIRAS outputs made elsewhere (the authors' evaluation JSON + mask images), "
        "as proposals",
    )
    m.add_argument("file", type=Path, help="JSON array of {img_id, focus, response: [...]}")
    m.add_argument("--masks", type=Path, default=None, help="directory of predicted mask images")
    m.add_argument(
        "--mask-name",
        default="{stem}_mask_{index}",
        help="mask file name without extension; {stem}, {index}, {img_id} (default: %(default)s)",
    )
    m.add_argument("--threshold", type=int, default=50, help="mask pixel threshold (0-255)")
    m.add_argument("--proposer", default="miras", help="proposer name to record")
    m.add_argument("--version", default="imported", help="proposer version to record")
    m.add_argument("--json", action="store_true", help="print the summary as JSON")
    m.set_defaults(run=run_import_miras)


def register_models(models_sub: Any) -> None:
    _convert_parser(
        models_sub,
        "convert-miras",
        summary="convert the authors' MIRAS checkpoint (MGMSA layout) into this tool's layout",
        description="",
        src_help="the authors' checkpoint directory",
    )
    _convert_parser(
        models_sub,
        "convert-lisa",
        summary="convert a LISA checkpoint (e.g. LISA-7B-v1-explanatory) for `--proposer miras`",
        description="Reads a local Hugging Face LISA directory (sharded safetensors or .bin, "
        "config.json, tokenizer files) and writes this tool's checkpoint layout; then "
        "`annotator propose --proposer miras --checkpoint DST` runs it.",
        src_help="the LISA checkpoint directory",
    )

    t = models_sub.add_parser(
        "make-tiny-miras",
        help="write a tiny random MIRAS checkpoint (a few MB) for trying the pipeline",
        description="The checkpoint has the real layout but random weights: its proposals are "
        "NOISE. A documented logit bias on [SEG] and </s> makes its answers end and often "
        "contain [SEG], so the mask path runs.",
    )
    t.add_argument("dir", type=Path, help="checkpoint directory to create")
    t.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="PRIST JSON or text file to train the tokenizer on (default: a built-in sample)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-aux", action="store_true", help="without the high-resolution encoder")
    t.add_argument("--seg-bias", type=float, default=None, help="logit bias on [SEG]")
    t.add_argument("--eos-bias", type=float, default=None, help="logit bias on </s>")
    t.add_argument("--force", action="store_true", help="overwrite a non-empty DIR")
    t.set_defaults(run=run_make_tiny)


def _convert_parser(
    models_sub: Any, name: str, *, summary: str, description: str, src_help: str
) -> None:
    """The converters' common options: a MIRAS and a LISA checkpoint differ only in the
    defaults the converter applies (``proposers.miras.convert``)."""
    c = models_sub.add_parser(name, help=summary, description=description or None)
    c.add_argument("src", type=Path, help=src_help)
    c.add_argument("dst", type=Path, help="new checkpoint directory")
    c.add_argument("--sam", type=Path, default=None, help="sam_vit_h_4b8939.pth, if SRC lacks SAM")
    c.add_argument(
        "--clip",
        type=Path,
        default=None,
        help="local openai/clip-vit-large-patch14 directory, if SRC lacks the vision tower",
    )
    c.add_argument("--name", default=None, help="model name to record (default: SRC's name)")
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fill in or correct a source config value (JSON value), e.g. "
        "vision_num_attention_heads=16",
    )
    c.add_argument("--force", action="store_true", help="write into a non-empty DST")
    c.set_defaults(run=run_convert, lisa=name == "convert-lisa")


# -- shared options -------------------------------------------------------------------------
def _proposer_arguments(p: argparse.ArgumentParser, *, remote: bool = True) -> None:
    p.add_argument("--proposer", default="miras", help="proposer name (entry point; default miras)")
    p.add_argument("--checkpoint", default=None, help="model checkpoint directory (miras)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1 ...")
    if remote:
        p.add_argument(
            "--url", default=None, help="server address (remote, vlm), e.g. http://gpu:8765"
        )
        p.add_argument(
            "--timeout", type=float, default=None, help="seconds per request (remote, vlm)"
        )
        vlm = p.add_argument_group("vlm: an OpenAI-compatible vision-language server")
        vlm.add_argument("--model", default=None, help="the model the server serves")
        vlm.add_argument(
            "--box-format",
            choices=("pixels", "norm1000", "norm1000-yx"),
            default=None,
            help="how the model writes boxes: pixels (Qwen2.5-VL), norm1000, norm1000-yx (Gemini)",
        )
        vlm.add_argument("--temperature", type=float, default=None, help="default 0")
        vlm.add_argument("--max-tokens", type=int, default=None, help="per answer (default 512)")
        vlm.add_argument(
            "--concurrency", type=int, default=None, help="turns in flight at once (default 1)"
        )
        vlm.add_argument(
            "--key-env",
            default=None,
            help="environment variable holding the API key (default ANNOTATOR_VLM_API_KEY)",
        )
    p.add_argument(
        "--token",
        default=None,
        help="access token (remote client / server); visible to other users in `ps`, so "
        "prefer --token-file or $ANNOTATOR_SERVE_TOKEN",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the access token (one line); default: $ANNOTATOR_SERVE_TOKEN",
    )


def _shard(value: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N, got {value!r}") from None
    if n < 1 or not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"need 0 <= K < N, got {value!r}")
    return k, n


def _load_proposer(args: argparse.Namespace, *, with_token: bool) -> Any:
    from annotator.proposers.base import load_proposer

    options = {
        "checkpoint": args.checkpoint,
        "device": args.device,
        "url": getattr(args, "url", None),
        "timeout": getattr(args, "timeout", None),
        "token": access_token(args) if with_token else None,
        **{
            name: getattr(args, name, None)
            for name in ("model", "box_format", "temperature", "max_tokens", "concurrency")
        },
        "key_env": getattr(args, "key_env", None),
    }
    print(f"loading proposer {args.proposer} ...", file=sys.stderr)
    return load_proposer(args.proposer, **options)


def access_token(args: argparse.Namespace) -> str | None:
    """The token of ``serve`` / ``--proposer remote``: --token, --token-file or the variable."""
    from annotator.io.access_token import resolve_token

    return resolve_token(args.token, args.token_file)


def _noise_warning(info: Any) -> None:
    if info.proposes_noise:
        print(
            f"WARNING: {info.name} {info.version} has random weights; its proposals are noise "
            "(a test model, not MIRAS).",
            file=sys.stderr,
        )


# -- handlers ---------------------------------------------------------------------------------
def run_propose(args: argparse.Namespace) -> int:
    from annotator.core.status import Status
    from annotator.proposers.base import HistorySource
    from annotator.services.propose_job import conversation_image, run_propose_batch
    from annotator.storage import ListQuery, open_store

    if args.status == "all":
        status = None
    else:
        try:
            status = Status(args.status)
        except ValueError:
            raise InputError(f"--status must be 'all' or one of {', '.join(Status)}") from None
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    proposer = _load_proposer(args, with_token=args.proposer == "remote")
    info = proposer.info()
    _noise_warning(info)
    images = args.images

    def load(image: Any) -> Any:
        return conversation_image(image, images)

    try:
        with open_store(args.db) as store, progress_task(f"proposing ({info.name})") as task:
            summary = run_propose_batch(
                store,
                proposer,
                query=ListQuery(status=status),
                history=HistorySource(args.history),
                limit=args.limit,
                shard=args.shard,
                worker=args.worker,
                load=load,
                task=task,
            )
    finally:
        proposer.close()
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        d = summary.as_dict()
        print(
            f"{d['proposer']} {d['version']}: {d['conversations']} conversations, {d['turns']} "
            f"turns, {d['masks']} masks in {d['elapsed_s']} s ({d['turns_per_s']} turns/s); "
            f"{d['skipped_turns']} turns already proposed"
        )
        for conv_id, error in summary.failed:
            print(f"  conversation {conv_id} failed: {error}")
    return 1 if summary.failed else 0


def serve_limits(args: argparse.Namespace) -> Any:
    from annotator.proposers.serve_limits import MIB, ServeLimits

    for name in ("max_images", "image_mb", "decode_mb", "max_in_flight"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    return ServeLimits(max_in_flight=args.max_in_flight, decode_budget_bytes=args.decode_mb * MIB)


def run_serve(args: argparse.Namespace) -> int:
    from annotator.proposers.serve_limits import MIB
    from annotator.proposers.server import ImageStore, ProposerServer

    token = access_token(args)  # a bad token file is reported before the model loads
    limits = serve_limits(args)
    proposer = _load_proposer(args, with_token=False)
    info = proposer.info()
    _noise_warning(info)
    try:
        server = ProposerServer(
            (args.host, args.port),
            proposer,
            token=token,
            images=ImageStore(max_images=args.max_images, max_bytes=args.image_mb * MIB),
            log=lambda line: print(line, file=sys.stderr),
            limits=limits,
        )
    except OSError as exc:
        proposer.close()
        raise InputError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    print(f"serving {info.name} {info.version} ({info.device}) on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        proposer.close()
    return 0


def run_import_miras(args: argparse.Namespace) -> int:
    from annotator.services.miras_import import import_miras_outputs
    from annotator.storage import open_store

    with open_store(args.db) as store, progress_task("importing MIRAS outputs") as task:
        summary = import_miras_outputs(
            store,
            args.file,
            masks_dir=args.masks,
            mask_name=args.mask_name,
            threshold=args.threshold,
            proposer=args.proposer,
            version=args.version,
            task=task,
        )
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(
            f"{summary.records} records: {summary.conversations} conversations got "
            f"{summary.proposals} proposals ({summary.masks} masks)"
        )
        for problem in summary.problems:
            print(f"  {problem}")
    return 1 if summary.problems else 0


def run_convert(args: argparse.Namespace) -> int:
    from annotator.proposers.miras.convert import convert_lisa, convert_miras

    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(raw)
        except ValueError:
            overrides[key] = raw
    with progress_task("converting") as task:
        cfg = (convert_lisa if args.lisa else convert_miras)(
            args.src,
            args.dst,
            sam_checkpoint=args.sam,
            clip_checkpoint=args.clip,
            name=args.name,
            overrides=overrides,
            force=args.force,
            task=task,
        )
    print(f"wrote {args.dst} ({cfg.name}, weights sha256 {cfg.weights_sha256})")
    return 0


def run_make_tiny(args: argparse.Namespace) -> int:
    from annotator.proposers.miras.tiny import (
        DEFAULT_EOS_BIAS,
        DEFAULT_SEG_BIAS,
        make_tiny_miras,
    )
    from annotator.proposers.miras.tiny_tokenizer import corpus_from_file

    corpus = corpus_from_file(args.corpus) if args.corpus is not None else None
    with progress_task("building") as task:
        cfg = make_tiny_miras(
            args.dir,
            corpus=corpus,
            seed=args.seed,
            with_aux=not args.no_aux,
            seg_bias=DEFAULT_SEG_BIAS if args.seg_bias is None else args.seg_bias,
            eos_bias=DEFAULT_EOS_BIAS if args.eos_bias is None else args.eos_bias,
            force=args.force,
            task=task,
        )
    size = sum(f.stat().st_size for f in Path(args.dir).iterdir()) / 1e6
    print(
        f"wrote {args.dir} ({size:.1f} MB, vocabulary {cfg.llm['vocab_size']}): RANDOM weights, "
        "its proposals are noise"
    )
    return 0
