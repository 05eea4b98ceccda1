"""``annotator import ...``, ``annotator export ...`` and ``annotator stats``."""

from __future__ import annotations

import argparse
import json
import sys
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from annotator.cli.common import open_db, print_json
from annotator.cli.progress_bar import progress_task
from annotator.core.status import Status

if TYPE_CHECKING:
    pass

LIST_AT_MOST = 20  # left-out records listed one by one in the text summary


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="import conversations into the database")
    kinds = imp.add_subparsers(dest="kind", metavar="FORMAT", required=True)
    p = kinds.add_parser("prist", help="a PRIST dialogue JSON file with images and LabelMe masks")
    p.add_argument("dialogues", help="the PRIST JSON array (img_id, dialogue, focus)")
    p.add_argument("--images", required=True, help="directory holding the images named by img_id")
    p.add_argument("--masks", help="directory of LabelMe JSON files (default: the image directory)")
    p.add_argument(
        "--match",
        choices=("exact", "substring"),
        default="exact",
        help="which shapes form a focus' mask: label equal to the focus (default), or label "
        "containing it (the original PRIST loader's rule)",
    )
    p.add_argument("--report", help="also write the flagged records as JSON to this file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run_import_prist)

    from annotator.cli.miras_commands import register_import

    register_import(kinds)

    j = kinds.add_parser(
        "jsonl", help="our own JSONL export (prist format) with reviews and proposals"
    )
    j.add_argument("file", help="a .jsonl file written by `annotator export jsonl`")
    j.add_argument(
        "--images",
        help="directory holding the images; each image there must have the size and sha256 "
        "its records give (default: none, images unresolved and unchecked)",
    )
    j.add_argument(
        "--replace",
        action="store_true",
        help="records exported from this database (same id and key, e.g. the app's rescue file "
        "after a failed save) overwrite the stored ones instead of being skipped",
    )
    j.add_argument("--json", action="store_true", help="print the summary as JSON")
    j.set_defaults(run=run_import_jsonl)

    exp = sub.add_parser("export", help="export conversations (approved ones by default)")
    fmts = exp.add_subparsers(dest="kind", metavar="FORMAT", required=True)
    c = fmts.add_parser("coco", help="COCO JSON with RLE segmentation")
    c.add_argument("out", help="output .json file (written atomically)")
    c.add_argument(
        "--categories",
        choices=("focus", "single"),
        default="focus",
        help="one category per focus (default) or a single 'target' category",
    )
    c.add_argument(
        "--polygons",
        action="store_true",
        help="polygon segmentation instead of RLE; reports the IoU of each against its mask",
    )
    c.set_defaults(run=run_export)
    jl = fmts.add_parser("jsonl", help="one conversation per line")
    jl.add_argument("out", help="output .jsonl file (written atomically)")
    jl.add_argument(
        "--format",
        dest="fmt",
        choices=("prist", "miras"),
        default="prist",
        help="prist: input schema + masks + reviews (default); miras: LLaVA-style training",
    )
    jl.set_defaults(run=run_export)
    lm = fmts.add_parser("labelme", help="one LabelMe JSON per image")
    lm.add_argument("out", help="output directory")
    lm.set_defaults(run=run_export)
    for p_ in (c, jl, lm):
        p_.add_argument(
            "--status",
            default="approved",
            help="which conversations: a status, or 'all' (default: approved)",
        )
        p_.add_argument(
            "--mask",
            default="final",
            metavar="SOURCE",
            help="whose masks (and answers) to write: final (the verified ones, default), "
            "draft (the imported ones), proposal (each turn's latest proposal) or "
            "proposal:NAME (proposer NAME's only). A record without them is left out and "
            "counted with the reason; no other source fills in",
        )
        p_.add_argument("--json", action="store_true", help="print the export report as JSON")
    if find_spec("annotator.services.corrections_export") is not None:  # without importing it
        cr = fmts.add_parser(
            "corrections", help="(proposal, corrected mask, reason) triples as JSONL"
        )
        cr.add_argument("out", help="output .jsonl file")
        cr.add_argument("--json", action="store_true", help="print the summary as JSON")
        cr.set_defaults(run=run_export_corrections)

    st = sub.add_parser("stats", help="counts by status, reviewer and flag")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.set_defaults(run=run_stats)


def run_import_prist(args: argparse.Namespace) -> int:
    from annotator.services.import_job import import_prist

    with open_db(args) as store, progress_task("reading") as task:
        summary = import_prist(
            store,
            args.dialogues,
            images_dir=args.images,
            masks_dir=args.masks,
            match=args.match,
            task=task,
        )
    report = [
        {
            "record": r.record,
            "line": r.line,
            "img_id": r.img_id,
            "focus": r.focus,
            "flag": str(r.code),
            "message": r.message,
        }
        for r in summary.report
    ]
    if args.report:
        from annotator.core.atomic_file import atomic_text

        with atomic_text(args.report) as fh:
            fh.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    figures = {
        "file": summary.file,
        "records": summary.records,
        "added": summary.added,
        "skipped": summary.skipped,
        "flagged": summary.flagged,
        "flags_by_code": summary.flags_by_code(),
    }
    if args.json:
        print_json({**figures, "report": report})
        return 0
    print(
        f"{summary.file}: {summary.records} records, {summary.added} added, "
        f"{summary.skipped} already present, {summary.flagged} flagged"
    )
    for r in report[:50]:
        where = f"record {r['record']}" + (f" (line {r['line']})" if r["line"] else "")
        print(f"  {where} {r['img_id']} / {r['focus']!r}: {r['flag']}: {r['message']}")
    if len(report) > 50:
        print(f"  ... {len(report) - 50} more (use --report FILE for all)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        stats = store.stats()
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
        return 0
    out = sys.stdout
    out.write(
        f"conversations {stats['conversations']}  turns {stats['turns']}  "
        f"images {stats['images']}  masks {stats['masks']}  flagged {stats['flagged']}\n"
    )
    out.write(
        "by status:   "
        + "  ".join(f"{s} {stats['by_status'].get(str(s), 0)}" for s in Status)
        + "\n"
    )
    if stats.get("by_reviewer"):
        out.write(
            "by reviewer: "
            + "  ".join(f"{k} {v}" for k, v in sorted(stats["by_reviewer"].items()))
            + "\n"
        )
    if stats.get("flags_by_code"):
        out.write(
            "flags:       "
            + "  ".join(f"{k} {v}" for k, v in sorted(stats["flags_by_code"].items()))
            + "\n"
        )
    return 0


def run_import_jsonl(args: argparse.Namespace) -> int:
    from annotator.services.import_job import import_jsonl

    with open_db(args) as store, progress_task("reading") as task:
        summary = import_jsonl(
            store, args.file, images_dir=args.images, replace_existing=args.replace, task=task
        )
    figures = {
        "file": summary.file,
        "records": summary.records,
        "added": summary.added,
        "skipped": summary.skipped,
        "replaced": summary.replaced,
        "flagged": summary.flagged,
    }
    if args.json:
        print_json(figures)
    else:
        print(
            f"{summary.file}: {summary.records} records, {summary.added} added, "
            f"{summary.replaced} replaced, {summary.skipped} already present, "
            f"{summary.flagged} flagged"
        )
    return 0


def _status(value: str) -> Status | None:
    if value == "all":
        return None
    try:
        return Status(value)
    except ValueError:
        raise SystemExit(f"error: --status must be 'all' or one of {', '.join(Status)}") from None


def _turn(index: int | None) -> str:
    return "" if index is None else f" turn {index + 1}"  # numbered as people count


def run_export(args: argparse.Namespace) -> int:
    from annotator.core.export_mask import MaskChoice
    from annotator.services import export_job

    status = _status(args.status)
    mask = MaskChoice.parse(args.mask)  # refused (one line, exit 2) before the database opens
    with open_db(args) as store, progress_task("exporting") as task:
        if args.kind == "coco":
            report = export_job.export_coco(
                store,
                args.out,
                status=status,
                mask=mask,
                categories=args.categories,
                polygons=args.polygons,
                task=task,
            )
        elif args.kind == "jsonl":
            report = export_job.export_jsonl(
                store, args.out, fmt=args.fmt, status=status, mask=mask, task=task
            )
        else:
            report = export_job.export_labelme(store, args.out, status=status, mask=mask, task=task)
    if args.json:
        print_json(report.as_dict())
        return 0
    # Nothing written because everything was left out is not a failure: the line says why.
    print(
        f"wrote {report.path} (--mask {report.mask}, {report.annotations:,} masks): "
        f"{report.summary()}"
    )
    for issue in report.skipped[:LIST_AT_MOST]:
        print(
            f"  left out conversation {issue.conversation_id}{_turn(issue.turn_index)}: "
            f"{issue.reason}: {issue.message}"
        )
    if len(report.skipped) > LIST_AT_MOST:
        print(f"  ... {len(report.skipped) - LIST_AT_MOST:,} more (use --json for all)")
    for note in report.notes:
        print(
            f"  written without part of conversation {note.conversation_id}"
            f"{_turn(note.turn_index)}: {note.message}"
        )
    if report.fidelity:
        worst = min(f.iou for f in report.fidelity)
        print(
            f"  polygons: {len(report.fidelity)} masks, {len(report.lossy)} lossy, "
            f"lowest IoU {worst:.4f}"
        )
        for f in report.lossy:
            print(
                f"    conversation {f.conversation_id} turn {f.turn_index}: IoU {f.iou:.4f}, "
                f"{f.parts_dropped} part(s) dropped"
            )
    return 0


def run_export_corrections(args: argparse.Namespace) -> int:
    from annotator.services.corrections_export import export_corrections

    with open_db(args) as store, progress_task("exporting corrections") as task:
        result = export_corrections(store, args.out, task=task)
    if args.json:
        print(
            json.dumps(result if isinstance(result, dict) else vars(result), indent=2, default=str)
        )
    else:
        print(f"wrote {args.out}: {result}")
    return 0
