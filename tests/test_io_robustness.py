"""Random near-valid input to every reader: the only error allowed is InputError."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fixtures_io import shape, write_image, write_labelme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.core.errors import InputError
from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.io.jsonl_reader import read_jsonl
from annotator.io.jsonl_writer import write_jsonl
from annotator.io.labelme import match_focus, read_labelme
from annotator.io.prist_reader import read_prist

GOOD_RECORDS: list[dict[str, Any]] = [
    {
        "img_id": "a.jpg",
        "focus": "Red car",
        "dialogue": [
            {"from": "human", "value": "What is parked?"},
            {"from": "gpt", "value": "A red car."},
            {"from": "human", "value": "Segment it."},
            {"from": "gpt", "value": "Sure, [SEG]."},
        ],
    },
    {
        "img_id": "b.jpg",
        "focus": "Знак",
        "dialogue": [
            {"from": "human", "value": "Where is the sign?"},
            {"from": "gpt", "value": "Certainly, [SEG]."},
        ],
    },
]

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from(["human", "gpt", "[SEG]", "../x.jpg", "a.jpg"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=8,
)


def paths_in(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_in(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths_in(v, (*prefix, i))
    return out


@st.composite
def near_valid(draw: st.DrawFn, base: Any) -> str:
    """``base`` with a few structural mutations, then maybe a few byte-level ones."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        spots = paths_in(doc)
        path = draw(st.sampled_from(spots))
        if not path:
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[last] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
    text = json.dumps(
        doc, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2]))
    )
    for _ in range(draw(st.integers(0, 2))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        text = (
            text[:i]
            + draw(st.sampled_from(["", "[", "}", '"', ",", "NaN", "\\", "\x00"]))
            + text[i + 1 :]
        )
    return text


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("robust")
    write_image(d / "a.jpg", 40, 30)
    write_image(d / "b.jpg", 30, 40)
    write_labelme(
        d / "a.json",
        40,
        30,
        [
            shape("red car", [[1, 1], [20, 2], [10, 20]]),
            shape("Red car", [[2, 2], [8, 2]], "rectangle"),
        ],
    )
    write_labelme(d / "b.json", 30, 40, [shape("знак", [[5, 5], [5, 15]], "circle")])
    return d


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(near_valid(GOOD_RECORDS), st.sampled_from(["exact", "substring"]))
def test_prist_reader_raises_only_input_error(folder: Path, text: str, match: str) -> None:
    path = folder / "records.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        result = read_prist(path, images_dir=folder, match=match)
    except InputError as exc:
        assert exc.file is not None
        return
    assert len(result.conversations) == len(json.loads(text))


GOOD_LABELME = {
    "imageHeight": 30,
    "imageWidth": 40,
    "shapes": [
        {"label": "red car", "points": [[1, 1], [20, 2], [10, 20]], "shape_type": "polygon"},
        {"label": "wheel", "points": [[5, 5], [5, 9]], "shape_type": "circle"},
        {"label": "box", "points": [[1, 1], [9, 9]], "shape_type": "rectangle"},
    ],
}


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(near_valid(GOOD_LABELME), st.text(max_size=8), st.sampled_from(["exact", "substring"]))
def test_labelme_reader_raises_only_input_error(
    tmp_path_factory: pytest.TempPathFactory, text: str, focus: str, match: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "robust-labelme.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        lm = read_labelme(path)
    except InputError:
        return
    result = match_focus(lm, focus or "x", match=match, height=30, width=40)
    assert result.mask is None or result.mask.size == (30, 40)


def _jsonl_base(folder: Path) -> dict[str, Any]:
    mask = Mask.from_polygons([[[1, 1], [20, 2], [10, 20]]], 30, 40)
    conv = Conversation(
        image=Image("a.jpg", 40, 30, "ab" * 32),
        focus="red car",
        turns=(
            Turn(
                0,
                "Where?",
                "Here [SEG]",
                masks=(
                    MaskAnnotation(
                        mask, MaskLayer.DRAFT, Provenance(MaskSource.IMPORTED, "import")
                    ),
                ),
            ),
        ),
        key="k",
        id=3,
    )
    path = folder / "base.jsonl"
    write_jsonl(path, [conv])
    return json.loads(path.read_text(encoding="utf-8"))


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_jsonl_reader_raises_only_input_error(folder: Path, data: st.DataObject) -> None:
    base = _jsonl_base(folder)
    text = data.draw(near_valid(base))
    path = folder / "robust.jsonl"
    path.write_text(text.replace("\n", " ") + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        result = read_jsonl(path)
    except InputError:
        return
    assert len(result.entries) == 1
