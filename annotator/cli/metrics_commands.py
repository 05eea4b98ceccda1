"""``annotator metrics``: model proposals against the reviewed masks, reviewer agreement, edits."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

PRECISION_AT = ("0.5", "0.6", "0.7", "0.8", "0.9")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "metrics",
        help="quality of the proposals against the approved masks, and reviewer agreement",
        description="Model proposals against the reference masks per turn index and overall, "
        "agreement where a record was annotated twice, and how much each record was edited "
        "after its proposal.",
    )
    p.add_argument("--proposer", help="only this proposer's proposals (default: the latest of any)")
    p.add_argument(
        "--turn",
        choices=("final", "all"),
        default="final",
        help="evaluate the target (last) turn only, or every turn with a proposal",
    )
    p.add_argument(
        "--reference",
        choices=("final", "draft"),
        default="final",
        help="compare with the FINAL masks of approved records (default) or with the imported "
        "DRAFT masks of every record (the dataset's labels, as the paper evaluates)",
    )
    p.add_argument(
        "--edge", action="store_true", help="add the MIRAS code's edge IoU (slow; for comparison)"
    )
    p.add_argument("--no-text", action="store_true", help="skip BLEU-4 / ROUGE-L of the answers")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument(
        "--no-records", action="store_true", help="with --json: leave out the per-record rows"
    )
    p.set_defaults(run=run_metrics)


def run_metrics(args: argparse.Namespace) -> int:
    from annotator.cli.progress_bar import progress_task
    from annotator.services.quality_report import ReportOptions, build_report
    from annotator.storage import open_store

    options = ReportOptions(
        proposer=args.proposer,
        turns=args.turn,
        reference=args.reference,
        edge=args.edge,
        text=not args.no_text,
        workers=args.workers,
    )
    with open_store(args.db) as store, progress_task("reading") as task:
        report = build_report(store, options, task=task)
    if args.json:
        if args.no_records:
            report = {k: v for k, v in report.items() if k != "records"}
            report["edits"] = {"summary": report["edits"]["summary"]}
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_report(report, sys.stdout)
    return 0


def _f(value: float | None) -> str:
    return f"{'-':>5}" if value is None else f"{value:.3f}"


def _metric_line(label: str, agg: dict[str, Any]) -> str:
    at = "  ".join(_f(agg["precision_at"][k]) for k in PRECISION_AT)
    return (
        f"{label:<10}{agg['n']:>6}  {_f(agg['giou'])}  {_f(agg['ciou'])}  "
        f"{_f(agg['precision'])}  {_f(agg['recall'])}  {_f(agg['f1'])}  "
        f"{_f(agg['f1_paper'])}  {_f(agg['boundary_iou'])}  {at}"
        + (f"  {_f(agg['edge_iou_miras'])}" if "edge_iou_miras" in agg else "")
    )


def print_report(report: dict[str, Any], out: TextIO) -> None:
    opts = report["options"]
    out.write(
        f"{report['database']}: {report['counts']['conversations']} conversations, "
        f"{report['counts']['records']} evaluated ({report['counts']['pairs']} turn pairs); "
        f"reference {opts['reference'].upper()} masks, turns: {opts['turns']}, "
        f"proposer: {opts['proposer'] or 'latest of any'}\n"
    )
    if report["proposers"]:
        out.write("proposers: " + ", ".join(f"{k} ({v})" for k, v in report["proposers"].items()))
        out.write("\n")
    edge = "  edgeIoU*" if opts["edge"] else ""
    head = (
        f"{'':<10}{'n':>6}  gIoU   cIoU   prec   recall F1     F1pap  BIoU   "
        "P@.5   P@.6   P@.7   P@.8   P@.9" + edge + "\n"
    )
    out.write("\nmodel vs reference\n" + head)
    mvr = report["model_vs_reference"]
    out.write(_metric_line("overall", mvr["overall"]) + "\n")
    for turn, agg in mvr["by_turn"].items():
        out.write(_metric_line(f"turn {turn}", agg) + "\n")
    agr = report["agreement"]
    out.write("\nagreement between reviewers (records annotated twice)\n" + head)
    out.write(_metric_line("pairs", agr["overall"]) + "\n")
    if agr["same_author_pairs"]:
        out.write(f"  ({agr['same_author_pairs']} pairs by the same author left out)\n")
    double = report["double_review"]
    out.write("\ndouble review (a second reviewer, blind to the first)\n")
    if double["pairs"]:
        out.write(
            f"  {double['pairs']} records, {double['turn_verdicts']} turn verdicts: agreement "
            f"{_f(double['verdict_agreement'])}, Cohen's kappa {_f(double['cohen_kappa'])}, "
            f"target mask IoU {_f(double['mask_iou']['mean'])} (n {double['mask_iou']['n']})\n"
        )
    else:
        out.write("  none yet (ask for one with `annotator review ID --request-second`)\n")
    edits = report["edits"]["summary"]
    out.write("\nedits after the proposal (target turn)\n")
    if edits["n"]:
        cp, di = edits["changed_pixels"], edits["delta_iou"]
        out.write(
            f"  {edits['n']} records, {edits['unchanged']} unchanged; changed pixels mean "
            f"{cp['mean']:.0f}, median {cp['median']:.0f}, max {cp['max']}; "
            f"delta IoU mean {di['mean']:.3f}, median {di['median']:.3f}\n"
        )
    else:
        out.write("  none (no record has both a proposal and a final mask)\n")
    text = report.get("text")
    if text:
        o = text["overall"]
        out.write(
            f"\nanswers vs verified answers: n {o['n']}, BLEU-4 {_f(o['bleu4'])}, "
            f"ROUGE-L {_f(o['rouge_l'])}\n"
        )
    reasoning = report.get("reasoning")
    if reasoning and (reasoning["scores"] or reasoning["pairwise"]):
        print_reasoning(reasoning, out)
    if report["skipped"]:
        out.write("\nskipped: " + ", ".join(f"{k} {v}" for k, v in report["skipped"].items()))
        out.write("\n")
    if opts["edge"]:
        out.write("* edge IoU as in the MIRAS evaluation code, for comparison with the paper\n")


def _interval(stat: dict[str, Any]) -> str:
    if stat["mean"] is None:
        return f"{'-':>17}"
    if stat["low"] is None:
        return f"{stat['mean']:.2f}{'':>13}"
    return f"{stat['mean']:.2f} [{stat['low']:.2f}, {stat['high']:.2f}]"


def print_reasoning(reasoning: dict[str, Any], out: TextIO) -> None:
    """The judge's scores (mean [95% interval] per criterion) and pairwise win rates."""
    keys = [c["key"] for c in reasoning["criteria"]]
    scale = reasoning["scale"]
    out.write(
        f"\nreasoning (LLM judge, scale {scale['min']}-{scale['max']}; {reasoning['interval']})\n"
    )
    head = f"{'':<10}{'n':>5}  " + "  ".join(f"{c['name'][:17]:<17}" for c in reasoning["criteria"])
    for group in reasoning["scores"]:
        out.write(
            f"{group['proposer']} judged by {group['judge']} ({group['prompt_version']}, "
            f"against {group['reference']} answers); {group['failed']} failed\n{head}\n"
        )
        by_turn = ((f"turn {t}", v) for t, v in group["by_turn"].items())
        for label, stats in [("overall", group["overall"]), *by_turn]:
            n = max((stats[k]["n"] for k in keys), default=0)
            out.write(f"{label:<10}{n:>5}  " + "  ".join(_interval(stats[k]) for k in keys) + "\n")
    for pair in reasoning["pairwise"]:
        out.write(
            f"{pair['a']} vs {pair['b']} judged by {pair['judge']} ({pair['prompt_version']}): "
            f"n {pair['n']}, wins {pair['wins']}, ties {pair['ties']}, losses {pair['losses']}, "
            f"win rate {_f(pair['win_rate'])}; {pair['failed']} failed\n"
        )
