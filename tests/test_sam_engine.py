"""The SAM engine with the real MobileSAM weights: clicks, boxes, negative clicks, refinement from
the previous logits, full-resolution masks, and refusals of bad prompts."""

from __future__ import annotations

import threading
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fixtures_sam import box_around, iou

from annotator.core.errors import InputError, ProposerError
from annotator.core.mask import Mask
from annotator.proposers.sam import geometry
from annotator.proposers.sam.low_res import decode_whole
from annotator.proposers.segmenter import Segmenter

Scene = tuple[np.ndarray, dict[str, np.ndarray]]


def test_engine_is_a_segmenter(sam_engine: Any) -> None:
    assert isinstance(sam_engine, Segmenter)
    assert sam_engine.runtime == "torch"


def test_single_positive_click_finds_each_shape(
    sam_engine: Any, scene_handle: Any, scene: Scene, scene_points: dict[str, tuple[float, float]]
) -> None:
    image, shapes = scene
    assert scene_handle.original_size == image.shape[:2]
    assert scene_handle.input_size == (768, 1024)
    for name, (x, y) in scene_points.items():
        answer = sam_engine.segment(scene_handle, [(x, y)], [1])
        assert len(answer.candidates) == 3
        assert [c.output_index for c in answer.candidates] == [1, 2, 3]
        assert all(np.isfinite(s) for s in answer.scores)
        best = answer.best
        assert best.quality == max(c.quality for c in answer.candidates)
        assert best.stability >= 0.9, name  # a clean shape is no speckle
        assert best.mask.shape == image.shape[:2] and best.mask.dtype == bool
        assert best.low_res_logits.shape == (256, 256)
        assert iou(best.mask, shapes[name]) >= 0.95, name
        # The candidates are different answers, not copies of one.
        assert len({c.mask.tobytes() for c in answer.candidates}) > 1


def test_masks_come_before_the_padding_logits(
    sam_engine: Any,
    scene_handle: Any,
    scene_points: dict[str, tuple[float, float]],
    monkeypatch: Any,
) -> None:
    """A click upscales the cells the 4:3 image covers; every candidate's mask is made from
    them. The cells on the encoder's padding are upscaled once, when the logits are first asked
    for (as the next click's mask_input), for all candidates; the whole map then equals a
    click that upscaled every cell at once."""
    backend = sam_engine.backend
    blocks: list[tuple[int, ...]] = []
    real = backend.upscale

    def counting(cells: Any, hyper: Any) -> Any:
        blocks.append(cells.shape)
        return real(cells, hyper)

    monkeypatch.setattr(backend, "upscale", counting)
    answer = sam_engine.segment(scene_handle, [scene_points["ellipse"]], [1])
    masks = answer.masks
    assert blocks == []
    first = answer.candidates[0].low_res_logits
    assert blocks == [(64 - 49, 64, 256)]  # the rows below a 1024 x 768 image's 49
    for candidate in answer.candidates:
        candidate.low_res_logits  # noqa: B018
    assert len(blocks) == 1

    handle = scene_handle
    state = backend.image_state(handle.embedding)
    click = geometry.to_input_frame(
        np.array([scene_points["ellipse"]]), handle.original_size, handle.input_size
    )
    coords = np.concatenate([click, np.zeros((1, 2), np.float32)])[None]  # + SAM's padding point
    labels = np.array([[1, -1]], np.float32)
    whole, _ = decode_whole(backend, state, coords, labels, [1, 2, 3])
    np.testing.assert_array_equal(first, whole[0])
    for candidate, mask, logits in zip(answer.candidates, masks, whole, strict=True):
        np.testing.assert_array_equal(candidate.low_res_logits, logits)
        frames = (handle.original_size, handle.input_size)
        np.testing.assert_array_equal(mask, geometry.upsample_logits(logits, *frames) > 0)


def test_box_prompt_and_negative_click(
    sam_engine: Any, scene_handle: Any, scene: Scene, scene_points: dict[str, tuple[float, float]]
) -> None:
    _, shapes = scene
    for name in ("triangle", "disc"):
        answer = sam_engine.segment(
            scene_handle, None, None, box=box_around(shapes[name], 4), multimask=False
        )
        assert len(answer.candidates) == 1 and answer.candidates[0].output_index == 0
        assert iou(answer.best.mask, shapes[name]) >= 0.95, name
    # A box around two shapes takes both; a negative click in one of them removes it.
    both = shapes["ellipse"] | shapes["rectangle"]
    box = box_around(both, 4)
    whole = sam_engine.segment(scene_handle, None, None, box=box, multimask=False).best.mask
    assert iou(whole, both) >= 0.9
    ex, ey = scene_points["ellipse"]
    rx, ry = scene_points["rectangle"]
    only = sam_engine.segment(
        scene_handle, [(ex, ey), (rx, ry)], [1, 0], box=box, multimask=False
    ).best.mask
    assert iou(only, shapes["ellipse"]) >= 0.95
    assert not only[int(ry), int(rx)]


def test_previous_logits_are_used_as_mask_input(
    sam_engine: Any, scene_handle: Any, scene: Scene, scene_points: dict[str, tuple[float, float]]
) -> None:
    _, shapes = scene
    x, y = scene_points["rectangle"]
    first = sam_engine.segment(scene_handle, [(x, y)], [1])
    prompts = ([(x, y), (x + 40, y + 20)], [1, 1])
    plain = sam_engine.segment(scene_handle, *prompts, multimask=False)
    refined = sam_engine.segment(
        scene_handle, *prompts, mask_input=first.best.low_res_logits, multimask=False
    )
    assert not np.array_equal(plain.best.low_res_logits, refined.best.low_res_logits)
    assert iou(refined.best.mask, shapes["rectangle"]) >= 0.95
    # The same inputs give the same answer (no state kept between calls).
    again = sam_engine.segment(
        scene_handle, *prompts, mask_input=first.best.low_res_logits, multimask=False
    )
    np.testing.assert_array_equal(again.best.low_res_logits, refined.best.low_res_logits)


def test_full_resolution_masks_match_sam_postprocessing(
    sam_engine: Any, scene_handle: Any, scene_points: dict[str, tuple[float, float]]
) -> None:
    """The one-resize upsampling agrees with SAM's own two-step interpolation (IoU ≥ 0.99), also
    for image sizes whose padding does not fall on a low-res cell border."""
    import torch
    from mobile_sam.modeling import Sam

    sam_geometry = SimpleNamespace(image_encoder=SimpleNamespace(img_size=1024))

    answer = sam_engine.segment(scene_handle, [scene_points["disc"]], [1])
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    blob = 40.0 - np.hypot(xx - 90, yy - 70) + 6 * np.sin(xx / 7)  # a smooth shape with detail
    for low_res, size in [
        (answer.best.low_res_logits, (768, 1024)),
        (blob, (333, 500)),
        (blob, (1200, 1600)),
        (blob, (1000, 701)),
    ]:
        input_size = geometry.input_size_for(*size)
        ours = geometry.upsample_logits(low_res, size, input_size) > 0
        reference = Sam.postprocess_masks(
            sam_geometry,  # type: ignore[arg-type]  # only image_encoder.img_size is read
            torch.from_numpy(np.array(low_res))[None, None],
            input_size,
            size,
        )
        ref = (reference[0, 0] > 0).numpy()
        assert ours.shape == ref.shape == size
        assert iou(ours, ref) >= 0.99, size


def test_candidate_converts_to_core_mask(
    sam_engine: Any, scene_handle: Any, scene_points: dict[str, tuple[float, float]]
) -> None:
    best = sam_engine.segment(scene_handle, [scene_points["triangle"]], [1]).best
    mask = best.to_mask()
    assert isinstance(mask, Mask) and mask.size == (768, 1024)
    assert mask.area == int(best.mask.sum())
    assert not best.mask.flags.writeable  # shared by every caller: read-only


def test_bad_prompts_are_refused_with_clear_errors(sam_engine: Any, scene_handle: Any) -> None:
    seg = sam_engine.segment
    with pytest.raises(InputError, match=r"point \(1100, 10\) lies outside the 1024x768 image"):
        seg(scene_handle, [(1100, 10)], [1])
    with pytest.raises(InputError, match="labels must be 1"):
        seg(scene_handle, [(10, 10)], [2])
    with pytest.raises(InputError, match="1 points but labels"):
        seg(scene_handle, [(10, 10)], [1, 0])
    with pytest.raises(InputError, match="at least one point or a box"):
        seg(scene_handle, [], [])
    with pytest.raises(InputError, match="non-finite"):
        seg(scene_handle, [(np.nan, 3)], [1])
    with pytest.raises(InputError, match="box is"):
        seg(scene_handle, None, None, box=(1, 2, 3))
    with pytest.raises(InputError, match="empty inside"):
        seg(scene_handle, None, None, box=(2000, 10, 2100, 50))
    with pytest.raises(InputError, match="256x256"):
        seg(scene_handle, [(10, 10)], [1], mask_input=np.zeros((64, 64), np.float32))
    with pytest.raises(InputError, match="non-finite"):
        seg(scene_handle, [(10, 10)], [1], mask_input=np.full((256, 256), np.inf, np.float32))
    with pytest.raises(ProposerError, match="prepared by 'sam-vit-h'"):
        seg(replace(scene_handle, model_id="sam-vit-h"), [(10, 10)], [1])


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((10, 10, 3), np.float32), "dtype uint8"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_images_are_refused(sam_engine: Any, image: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        sam_engine.prepare(image, "bad")


def test_prepare_without_key_hashes_the_pixels(sam_engine: Any, scene: Scene) -> None:
    from annotator.core.image_key import pixel_key

    image = scene[0]
    key = pixel_key(image)
    assert key == pixel_key(image.copy())
    changed = image.copy()
    changed[0, 0, 0] ^= 1
    assert pixel_key(changed) != key
    handle = sam_engine.prepare(image)
    assert handle.key == key
    assert sam_engine.prepare(image.copy()).source == "memory"


def test_threads_are_cores_minus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from annotator.core.compute_budget import THREADS_ENV, available_cores, wanted_torch_threads
    from annotator.proposers.torch_runtime import ensure_torch_threads

    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert wanted_torch_threads() == max(1, available_cores() - 1)
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(ProposerError, match="at least 1"):
        wanted_torch_threads()
    monkeypatch.setenv(THREADS_ENV, "2")
    seen: list[int] = []
    before = torch.get_num_threads()
    try:
        # Applied on the thread that runs the model, whatever the main thread had.
        worker = threading.Thread(
            target=lambda: seen.extend([ensure_torch_threads(), torch.get_num_threads()])
        )
        worker.start()
        worker.join()
    finally:
        torch.set_num_threads(before)
    assert seen == [2, 2]


def test_decoder_graph_matches_sam_prompt_encoder_and_decoder(
    sam_engine: Any, scene_handle: Any
) -> None:
    """Our one prompt embedding (shared by torch and ONNX) gives exactly what SAM's own prompt
    encoder and mask decoder give, for clicks, a box, and a previous mask; the factored decoder
    the engine runs (per-image state + per-click graph) gives the same to float rounding, also
    for a subset of the masks in another order (each mask's hypernetwork picked per row)."""
    import torch

    backend = sam_engine.backend
    model = backend.model

    def factored(
        emb: Any, coords: Any, labels: Any, mask: Any, has: Any, wanted: Any = (0, 1, 2, 3)
    ) -> Any:
        state = backend.image_state(emb.numpy())
        prior = mask.numpy() if has[0] else None
        # 49 x 40 cells upscaled with the click, the cells below and right of them after.
        logits, scores = decode_whole(
            backend, state, coords.numpy(), labels.numpy(), wanted, prior, (49, 40)
        )
        return torch.from_numpy(logits.copy())[None], torch.from_numpy(scores[None].copy())

    decoders = [(backend.reference_decoder, 1e-4), (factored, 5e-4)]
    emb = torch.from_numpy(scene_handle.embedding.copy())
    rng = np.random.default_rng(3)
    prior = torch.from_numpy(rng.normal(0, 3, (1, 1, 256, 256)).astype(np.float32))
    pts = torch.tensor([[[300.0, 200.0], [520.0, 410.0]]])
    lab = torch.tensor([[1, 0]])
    box = torch.tensor([[100.0, 120.0, 700.0, 650.0]])
    cases = [
        ({"points": (pts, lab), "boxes": None, "masks": None}, "no-box", None),
        ({"points": (pts, lab), "boxes": box, "masks": None}, "box", None),
        ({"points": None, "boxes": box, "masks": None}, "box-only", None),
        ({"points": (pts, lab), "boxes": None, "masks": prior}, "no-box", prior),
    ]
    with torch.inference_mode():
        for kwargs, kind, mask in cases:
            sparse, dense = model.prompt_encoder(**kwargs)
            ref_masks, ref_scores = model.mask_decoder.predict_masks(
                emb, model.prompt_encoder.get_dense_pe(), sparse, dense
            )
            coords = [] if kwargs["points"] is None else [pts[0]]
            labels = [] if kwargs["points"] is None else [lab[0].float()]
            if kind == "no-box":
                coords.append(torch.zeros(1, 2))
                labels.append(torch.tensor([-1.0]))
            else:
                coords.append(box.reshape(2, 2))
                labels.append(torch.tensor([2.0, 3.0]))
            args = (
                emb,
                torch.cat(coords)[None],
                torch.cat(labels)[None],
                mask if mask is not None else torch.zeros(1, 1, 256, 256),
                torch.ones(1) if mask is not None else torch.zeros(1),
            )
            for decode, atol in decoders:
                ours_masks, ours_scores = decode(*args)
                torch.testing.assert_close(ours_masks, ref_masks, atol=atol, rtol=1e-4)
                torch.testing.assert_close(ours_scores, ref_scores, atol=1e-5, rtol=1e-5)
            picked, _ = factored(*args, wanted=(3, 1))
            torch.testing.assert_close(picked, ref_masks[:, [3, 1]], atol=5e-4, rtol=1e-4)


def test_key_reused_for_other_pixels_is_refused(sam_engine: Any, scene_handle: Any) -> None:
    with pytest.raises(InputError, match="'scene-0' was prepared for a 1024x768 image"):
        sam_engine.prepare(np.zeros((100, 200, 3), np.uint8), "scene-0")


def test_decoder_state_is_made_once_per_image(
    sam_engine: Any, scene: Any, scene_points: dict[str, tuple[float, float]], monkeypatch: Any
) -> None:
    """Preparing an image makes its click-independent decoder state; every click reuses it,
    refining ones too; the states kept are bounded."""
    from annotator.proposers.sam import engine as engine_module

    backend = sam_engine.backend
    made: list[str] = []
    real = backend.image_state

    def counting(embedding: Any) -> Any:
        made.append("state")
        return real(embedding)

    monkeypatch.setattr(backend, "image_state", counting)
    image = np.ascontiguousarray(scene[0][:, ::-1])  # pixels no other test prepared
    handle = sam_engine.prepare(image, "state-once")
    assert made == ["state"]
    point = scene_points["disc"]
    flipped = (image.shape[1] - 1 - point[0], point[1])
    first = sam_engine.segment(handle, [flipped], [1])
    sam_engine.segment(handle, [flipped, (flipped[0] + 5, flipped[1])], [1, 1])
    sam_engine.segment(handle, [flipped], [1], mask_input=first.best.low_res_logits)
    assert made == ["state"]
    monkeypatch.setattr(engine_module, "_DECODER_STATES_KEPT", 1)
    sam_engine.prepare(np.ascontiguousarray(np.roll(image, 7, axis=0)), "state-rolled")
    made.clear()
    sam_engine.segment(handle, [flipped], [1])  # pushed out by the newer image: made again
    assert made == ["state"]
