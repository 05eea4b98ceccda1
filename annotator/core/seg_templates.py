"""The final, segmentation turn of a PRIST conversation: the request and the answer holding
``[SEG]``, in PRIST's own wordings. Measured on the released test split (508 records,
tests/data/prist/test.json): 11 request wordings and 15 answers, each used 23 to 58 times;
listed most used first. The app offers them as an editable list (Settings)."""

from __future__ import annotations

from annotator.core.model import SEG_TOKEN

SEG_REQUESTS: tuple[str, ...] = (
    "Based on the conversation above, generate a segmentation that supports the answers.",
    "Using the conversation above, create a segmentation that validates the answers.",
    "Please use the conversation above to outline a segmentation that aligns with the answers "
    "provided.",
    "Segment the provided conversation to match the answers accordingly.",
    "Please segment the conversation above to align with the provided answers.",
    "Please structure the above conversation into segments that correspond to the answers.",
    "Segment the above conversation in a way that substantiates the answers.",
    "Please divide the conversation above to correspond with the given answers.",
    "Use the above dialogue to produce a segmentation that backs up the answers.",
    "Use the above conversation to create a segmentation that justifies the answers.",
    "Please use the above conversation to provide a segmentation that supports the answers.",
)

SEG_ANSWERS: tuple[str, ...] = (
    "Certainly, [SEG].",
    "Segmented as [SEG].",
    "The result is [SEG].",
    "The identified area is [SEG].",
    "[SEG].",
    "Sure, it is [SEG].",
    "Identified as [SEG].",
    "Here is the segmentation: [SEG].",
    "The segmentation is [SEG].",
    "Sure, [SEG].",
    "The segmentation mask is [SEG].",
    "Definitely, [SEG].",
    "Sure, the segmentation result is [SEG].",
    "It is [SEG].",
    "This is the segmentation: [SEG].",
)


def is_request(text: str) -> bool:
    """Can stand as the final question: text, without ``[SEG]``."""
    return bool(text.strip()) and SEG_TOKEN not in text


def is_answer(text: str) -> bool:
    """Keeps the PRIST form of the final answer: ``[SEG]`` exactly once."""
    return text.count(SEG_TOKEN) == 1


def usable_requests(texts: list[str]) -> list[str]:
    return [t.strip() for t in texts if is_request(t)]


def usable_answers(texts: list[str]) -> list[str]:
    return [t.strip() for t in texts if is_answer(t)]
