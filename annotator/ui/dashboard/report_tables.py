"""The report as rows of text: what the dashboard's tables show and its CSV files hold.

One source for both, so a CSV export always says what the screen said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PRECISION_AT = ("0.5", "0.6", "0.7", "0.8", "0.9")


@dataclass(frozen=True)
class SummaryRow:
    label: str
    values: dict[str, Any]  # column key -> number (None: not defined)
    ids: tuple[int, ...]  # the records behind the row


def summary_columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, header)`` of the summary table; the edge IoU only when it was computed."""
    cols = [
        ("n", "n"),
        ("giou", "gIoU"),
        ("ciou", "cIoU"),
        ("precision", "Precision"),
        ("recall", "Recall"),
        ("f1", "F1"),
        ("f1_paper", "F1 (paper)"),
        ("boundary_iou", "Boundary IoU"),
    ]
    cols += [(f"p@{t}", f"P@{t}") for t in PRECISION_AT]
    if report["options"].get("edge"):
        cols.append(("edge_iou_miras", "Edge IoU (MIRAS code)"))
    return cols


def _flatten(agg: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in agg.items() if k != "precision_at"}
    for t in PRECISION_AT:
        out[f"p@{t}"] = agg["precision_at"][t]
    return out


def summary_rows(report: dict[str, Any]) -> list[SummaryRow]:
    mvr = report["model_vs_reference"]
    all_ids = tuple(sorted({r["conversation_id"] for r in report["records"]}))
    rows = [SummaryRow("Model vs reference: all", _flatten(mvr["overall"]), all_ids)]
    for turn, agg in mvr["by_turn"].items():
        ids = tuple(mvr["ids_by_turn"].get(turn, ()))
        rows.append(SummaryRow(f"Model vs reference: turn {turn}", _flatten(agg), ids))
    pairs = [p for p in report["agreement"]["pairs"] if not p["same_author"]]
    agreement_ids = tuple(sorted({i for p in pairs for i in p["conversation_ids"]}))
    rows.append(
        SummaryRow(
            "Agreement between reviewers", _flatten(report["agreement"]["overall"]), agreement_ids
        )
    )
    return rows


RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("conversation_id", "Record"),
    ("turn_index", "Turn"),
    ("focus", "Focus"),
    ("image_path", "Image"),
    ("status", "Status"),
    ("proposer", "Proposer"),
    ("iou", "IoU"),
    ("boundary_iou", "Boundary IoU"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("changed_pixels", "Changed px"),
    ("bleu4", "BLEU-4"),
    ("rouge_l", "ROUGE-L"),
)


def record_columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    cols = list(RECORD_COLUMNS)
    if report["options"].get("edge"):
        cols.append(("edge_iou_miras", "Edge IoU (MIRAS code)"))
    return cols


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summary_csv_rows(report: dict[str, Any]) -> list[list[str]]:
    cols = summary_columns(report)
    out = [["", *(h for _, h in cols)]]
    for row in summary_rows(report):
        out.append([row.label, *(format_value(row.values.get(k)) for k, _ in cols)])
    return out


def record_csv_rows(
    report: dict[str, Any], records: Sequence[dict[str, Any]] | None = None
) -> list[list[str]]:
    cols = record_columns(report)
    rows = report["records"] if records is None else records
    return [[h for _, h in cols], *([format_value(r.get(k)) for k, _ in cols] for r in rows)]


def footnotes(report: dict[str, Any]) -> list[str]:
    """Plain sentences about edits, text agreement and what was skipped."""
    lines = []
    edits = report["edits"]["summary"]
    if edits["n"]:
        cp, di = edits["changed_pixels"], edits["delta_iou"]
        lines.append(
            f"Edits after the proposal: {edits['n']} records, {edits['unchanged']} unchanged; "
            f"changed pixels mean {cp['mean']:.0f}, median {cp['median']:.0f}, max {cp['max']}; "
            f"ΔIoU mean {di['mean']:.3f}."
        )
    else:
        lines.append("Edits after the proposal: no record has both a proposal and a final mask.")
    text = report.get("text")
    if text and text["overall"]["n"]:
        o = text["overall"]
        lines.append(
            f"Answers vs verified answers ({o['n']} turns): BLEU-4 {o['bleu4']:.3f}, "
            f"ROUGE-L {o['rouge_l']:.3f}."
        )
    double = report.get("double_review")
    if double and double["pairs"]:
        kappa, agree, m = double["cohen_kappa"], double["verdict_agreement"], double["mask_iou"]
        lines.append(
            f"Double review ({double['pairs']} records, {double['turn_verdicts']} turn "
            f"verdicts): agreement {_maybe(agree)}, Cohen's κ {_maybe(kappa)}, target mask IoU "
            f"{_maybe(m['mean'])} over {m['n']}."
        )
    if report["skipped"]:
        lines.append(
            "Not evaluated: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report["skipped"].items())
            + "."
        )
    return lines


def _maybe(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
