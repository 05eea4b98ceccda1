"""``SamEngine``: the :class:`~annotator.proposers.segmenter.Segmenter` behind SAM clicks.

One engine per model. It loads verified weights once, encodes images on its own worker thread
(cancellable, requests before prefetches), keeps embeddings in a memory LRU and on disk, and
answers clicks on the caller's thread from a cached embedding.

Typical use (a script; the GUI does the same from its worker thread)::

    with SamEngine() as engine:
        handle = engine.prepare(rgb_array, key=image.sha256)
        answer = engine.segment(handle, points=[(420, 310)], labels=[1])
        mask = answer.best.mask                       # or let the user pick a candidate
        again = engine.segment(handle, [(420, 310), (500, 200)], [1, 0],
                               mask_input=answer.best.low_res_logits, multimask=False)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from annotator.core.appdirs import cache_dir
from annotator.core.compute_budget import wanted_torch_threads
from annotator.core.errors import InputError, ProposerError
from annotator.core.image_key import pixel_key
from annotator.core.progress import Task
from annotator.proposers.sam import geometry
from annotator.proposers.sam.backend import DecoderState, SamBackend
from annotator.proposers.sam.embedding_cache import (
    DiskEmbeddingCache,
    MemoryEmbeddingCache,
    cache_key,
)
from annotator.proposers.sam.encode_worker import EncodeWorker
from annotator.proposers.sam.low_res import LowResLogits, covered_cells
from annotator.proposers.segmenter import (
    Candidate,
    FloatArray,
    ImageLoader,
    ImageSource,
    PreparedImage,
    Segmentation,
)
from annotator.proposers.weights_registry import InstalledWeights, WeightsRegistry

log = logging.getLogger(__name__)

RUNTIME_ENV = "ANNOTATOR_SAM_RUNTIME"
RUNTIMES = ("auto", "torch", "onnx")
AUTO_ONNX_ARCHS = ("vit_t",)
_WAIT_POLL_S = 0.02
_DECODER_STATES_KEPT = 4  # ~10 MB each: the open image and the ones just before it
_CLICK_HOLDS_PREFETCH_S = 2.0  # after a click; a burst of clicks keeps it held
_MULTIMASK_OUTPUTS = [1, 2, 3]
_SINGLE_OUTPUT = [0]


@dataclass(frozen=True)
class EngineOptions:
    """How an engine runs. ``disk_cache_dir=None`` means ``<cache dir>/sam-embeddings``;
    ``disk_cache=False`` keeps embeddings in memory only."""

    runtime: str = "auto"  # "auto": ONNX Runtime when it exports and checks, else torch
    device: str = "cpu"
    memory_cache_mb: float = 512.0
    disk_cache: bool = True
    disk_cache_dir: Path | None = None
    disk_cache_mb: float = 4096.0
    prefetch_limit: int = 4
    onnx_dir: Path | None = None  # exported graphs; default ``<models dir>/onnx``


class SamEngine:
    """Thread-safe SAM segmenter. Create it cheaply; the model loads on first use or
    :meth:`load` (seconds; the GUI calls it on a worker thread)."""

    def __init__(
        self,
        model_id: str = "mobile-sam",
        *,
        registry: WeightsRegistry | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self._model_id = model_id
        self.registry = registry or WeightsRegistry()
        self.options = options or EngineOptions(
            runtime=os.environ.get(RUNTIME_ENV, "auto").strip() or "auto"
        )
        if self.options.runtime not in RUNTIMES:
            raise ProposerError(
                f"unknown SAM runtime {self.options.runtime!r}; use one of {', '.join(RUNTIMES)}"
            )
        self.weights: InstalledWeights = self.registry.resolve(model_id)
        self.memory_cache = MemoryEmbeddingCache(self.options.memory_cache_mb)
        self.disk_cache: DiskEmbeddingCache | None = None
        if self.options.disk_cache:
            directory = self.options.disk_cache_dir or cache_dir() / "sam-embeddings"
            self.disk_cache = DiskEmbeddingCache(directory, self.options.disk_cache_mb)
        self._backend: SamBackend | None = None
        self._load_lock = threading.Lock()
        self._worker = EncodeWorker(self._prepare_now, prefetch_limit=self.options.prefetch_limit)
        # Decoder state per image key: what makes every click on the image cheap.
        self._states: OrderedDict[str, DecoderState] = OrderedDict()
        self._states_lock = threading.Lock()
        self.runtime_note = ""  # why the runtime in use was chosen (e.g. an ONNX fallback)

    # -- properties ----------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def runtime(self) -> str:
        """The runtime in use ("torch" or "onnxruntime"); loads the model if needed."""
        return self.backend.name

    @property
    def backend(self) -> SamBackend:
        if self._backend is None:
            self.load()
        assert self._backend is not None
        return self._backend

    # -- lifecycle -----------------------------------------------------------------------
    def load(self, task: Task | None = None) -> None:
        """Verify and load the weights, and prepare the runtime (idempotent).

        With ONNX graphs exported and checked earlier, torch is not even imported: start-up
        takes a fraction of a second and far less memory."""
        with self._load_lock:
            if self._backend is not None:
                return
            # Masks are upsampled with OpenCV on the click thread: the same core budget as the
            # model (OpenCV would otherwise start a thread per core).
            cv2.setNumThreads(wanted_torch_threads())
            self._backend = self._load_backend(task)

    def _load_backend(self, task: Task | None) -> SamBackend:
        from annotator.proposers.sam.onnx_backend import (
            load_checked_onnx_backend,
            prepare_onnx_backend,
        )

        why_torch = None
        if self.options.runtime == "torch":
            why_torch = "asked for"
        elif self.options.device != "cpu":
            why_torch = "ONNX Runtime is used on the CPU only"
        elif self.options.runtime == "auto" and self.weights.arch not in AUTO_ONNX_ARCHS:
            # Measured for ViT-B: a 1.5-minute export and 8 GB to gain nothing on the encode (the
            # clicks run the same factored decoder either way); ViT-H exceeds ONNX's 2 GB limit.
            why_torch = "ONNX Runtime is used for MobileSAM only (no gain for the ViT encoders)"
        onnx_wanted = why_torch is None
        # Next to the weights they derive from (one export per machine, shared by all users of
        # the models directory), named by the weights' sha256.
        onnx_dir = self.options.onnx_dir or self.registry.root / "onnx"
        if onnx_wanted:
            try:
                ready = load_checked_onnx_backend(self.model_id, self.weights.sha256, onnx_dir)
            except ProposerError as exc:
                log.warning("checked ONNX graphs did not load, exporting again: %s", exc)
                ready = None
            if ready is not None:
                self.runtime_note = "onnxruntime: graphs checked against torch when exported"
                return ready
        # Past here the checkpoint is loaded with torch (to run it, or to export the graphs).
        reason = f"torch is wanted ({why_torch})" if why_torch else "its graphs did not load"
        if self.weights.graphs_only:
            raise ProposerError(
                f"model {self.model_id!r} is installed as ONNX graphs only, without its checkpoint "
                f"({onnx_dir}): {reason}; `annotator models install {self.model_id}` adds it"
            )
        if importlib.util.find_spec("torch") is None:  # the desktop bundle
            raise ProposerError(
                f"model {self.model_id!r}: this installation has no torch, and {onnx_dir} holds "
                f"no ONNX graphs checked for it ({reason}); `annotator models adopt-graphs DIR` "
                "takes those an installation with torch checked"
            )

        from annotator.proposers.sam.model_loading import load_sam_model
        from annotator.proposers.sam.torch_backend import TorchSamBackend

        model = load_sam_model(self.weights, device=self.options.device, task=task)
        torch_backend = TorchSamBackend(model, self.options.device)
        if not onnx_wanted:
            self.runtime_note = f"torch: {why_torch}"
            return torch_backend
        try:
            backend = prepare_onnx_backend(
                self.model_id, self.weights.sha256, torch_backend, onnx_dir, task
            )
        except ProposerError as exc:
            if self.options.runtime == "onnx":
                raise
            self.runtime_note = f"torch: ONNX Runtime unavailable ({exc})"
            log.warning("SAM runs on torch: %s", exc)
            return torch_backend
        self.runtime_note = "onnxruntime: exported graphs agree with torch"
        return backend

    def close(self) -> None:
        """Stop the worker thread (a running encode is cancelled)."""
        self._worker.close()

    def __enter__(self) -> SamEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- preparing images ----------------------------------------------------------------
    def cached(self, key: str) -> PreparedImage | None:
        """The prepared image from memory or disk, without encoding."""
        ckey = self._cache_key(key)
        hit = self.memory_cache.get(ckey)
        if hit is not None:
            return _with_source(hit, "memory")
        if self.disk_cache is not None:
            hit = self.disk_cache.get(ckey)
            if hit is not None and hit.model_id == self.model_id and hit.key == key:
                self.memory_cache.put(ckey, _with_source(hit, "memory"))
                return hit
        return None

    def prepare(
        self, image: NDArray[np.uint8], key: str | None = None, task: Task | None = None
    ) -> PreparedImage:
        """Embedding of ``image`` (RGB uint8 H×W×3) whose pixels ``key`` identifies (the
        image file's sha256; by default a sha256 of the pixels themselves, a few ms).
        Encoding runs on the engine's worker thread; this call waits for it and raises
        :class:`Cancelled` as soon as ``task`` is cancelled. The decoder's state for the image
        is made here too, so the first click is as quick as the next ones."""
        geometry.check_rgb_image(image)
        key = key or pixel_key(image)
        task = task or Task()
        hit = self.memory_cache.get(self._cache_key(key))
        if hit is not None:
            if hit.original_size != image.shape[:2]:
                h, w = hit.original_size
                raise InputError(
                    f"key {key!r} was prepared for a {w}x{h} image, this one is "
                    f"{image.shape[1]}x{image.shape[0]}: the key must identify the pixels"
                )
            prepared = _with_source(hit, "memory")
        else:
            prepared = self.wait(self.prepare_async(image, key, task), task)
        self._state(prepared)
        return prepared

    def prepare_async(
        self, image: ImageSource, key: str, task: Task | None = None
    ) -> Future[PreparedImage]:
        """Start preparing ``image`` (an array or a function that loads it) on the worker
        thread; cancel through ``task.token``."""
        task = task or Task()
        load = _loader(image)
        return self._worker.submit(key, load, task.token, task.on_progress)

    def wait(self, future: Future[PreparedImage], task: Task | None = None) -> PreparedImage:
        """Wait for a prepared image; stop waiting (raise :class:`Cancelled`) when ``task``
        is cancelled."""
        task = task or Task()
        while True:
            task.check()
            try:
                return future.result(timeout=_WAIT_POLL_S)
            except FutureTimeout:
                continue

    def prefetch(self, items: Iterable[tuple[str, ImageSource]]) -> list[Future[PreparedImage]]:
        """Prepare these ``(key, image or loader)`` in the background, in order, at most
        ``options.prefetch_limit``; replaces the previous prefetch list. Images already cached
        are skipped. Clicks are never blocked by prefetching."""
        loaders = [(key, _loader(source)) for key, source in items]
        return self._worker.prefetch(loaders, skip=self._is_cached)

    def pending(self) -> list[str]:
        return self._worker.pending()

    def _is_cached(self, key: str) -> bool:
        ckey = self._cache_key(key)
        return ckey in self.memory_cache or (
            self.disk_cache is not None and ckey in self.disk_cache
        )

    def _cache_key(self, key: str) -> str:
        return cache_key(key, self.model_id, self.weights.sha256)

    def _prepare_now(self, key: str, load: ImageLoader, task: Task) -> PreparedImage:
        """Runs on the worker thread: memory, then disk, then encode."""
        ckey = self._cache_key(key)
        hit = self.memory_cache.get(ckey)
        if hit is not None:
            return _with_source(hit, "memory")
        image = geometry.check_rgb_image(load())
        task.check()
        if self.disk_cache is not None:
            hit = self.disk_cache.get(ckey, expect=(key, self.model_id, image.shape[:2]))
            if hit is not None:
                self.memory_cache.put(ckey, _with_source(hit, "memory"))
                return hit
        prepared = self.encode(image, key, task)
        self.memory_cache.put(ckey, _with_source(prepared, "memory"))
        if self.disk_cache is not None:
            try:
                self.disk_cache.put(ckey, prepared)
            except OSError as exc:  # a full disk costs the cache, never the answer
                log.warning("could not write the embedding cache: %s", exc)
        return prepared

    def encode(self, image: NDArray[np.uint8], key: str, task: Task | None = None) -> PreparedImage:
        """Encode on the calling thread, bypassing the caches (benchmarks, tests)."""
        geometry.check_rgb_image(image)
        task = task or Task()
        backend = self.backend
        model_input = geometry.encoder_input(image)
        task.check()
        embedding = backend.encode(model_input, task)
        embedding.setflags(write=False)
        h, w = image.shape[:2]
        return PreparedImage(
            key=key,
            model_id=self.model_id,
            original_size=(h, w),
            input_size=geometry.input_size_for(h, w),
            embedding=embedding,
            source="encoded",
        )

    # -- clicks --------------------------------------------------------------------------
    def segment(
        self,
        handle: PreparedImage,
        points: Sequence[Sequence[float]] | NDArray[np.floating] | None,
        labels: Sequence[int] | NDArray[np.integer] | None,
        box: Sequence[float] | None = None,
        mask_input: FloatArray | None = None,
        multimask: bool = True,
    ) -> Segmentation:
        if handle.model_id != self.model_id:
            raise ProposerError(
                f"image prepared by {handle.model_id!r}, this engine runs {self.model_id!r}"
            )
        coords, point_labels = _prompt_arrays(handle, points, labels, box)
        # The click gets the cores: prefetching pauses while the user is clicking.
        self._worker.hold_prefetch(_CLICK_HOLDS_PREFETCH_S)
        if mask_input is not None:
            mask_input = _mask_input_array(mask_input)
        state = self._state(handle)
        outputs = _MULTIMASK_OUTPUTS if multimask else _SINGLE_OUTPUT
        covered = covered_cells(handle.input_size)
        decoded = self.backend.decode(state, coords, point_labels, outputs, covered, mask_input)
        logits = LowResLogits(self.backend.upscale, decoded)
        extent = geometry.low_res_extent(handle.input_size)
        upsample = partial(
            geometry.upsample_logits,
            original_size=handle.original_size,
            input_size=handle.input_size,
        )
        return Segmentation(
            tuple(
                Candidate(
                    score=float(decoded.scores[i]),
                    output_index=i,
                    _image_logits=logits.covered(k),
                    _all_logits=partial(logits.complete, k),
                    _upsample=upsample,
                    _extent=extent,
                )
                for k, i in enumerate(outputs)
            )
        )

    def _state(self, handle: PreparedImage) -> DecoderState:
        """The decoder state of ``handle``, made once per image."""
        with self._states_lock:
            state = self._states.get(handle.key)
            if state is not None:
                self._states.move_to_end(handle.key)
                return state
        state = self.backend.image_state(handle.embedding)
        with self._states_lock:
            self._states[handle.key] = state
            while len(self._states) > _DECODER_STATES_KEPT:
                self._states.popitem(last=False)
        return state


def _with_source(item: PreparedImage, source: str) -> PreparedImage:
    return item if item.source == source else replace(item, source=source)


def _loader(source: ImageSource) -> ImageLoader:
    if isinstance(source, np.ndarray):
        array = source
        return lambda: array
    if callable(source):
        return source
    raise InputError(f"expected an image array or a function loading one, got {type(source)}")


def _prompt_arrays(
    handle: PreparedImage,
    points: Sequence[Sequence[float]] | NDArray[np.floating] | None,
    labels: Sequence[int] | NDArray[np.integer] | None,
    box: Sequence[float] | None,
) -> tuple[FloatArray, FloatArray]:
    """Prompts in the encoder frame, shaped for the decoder: the clicks, then either the two box
    corners (labels 2, 3) or one padding point (label -1), as SAM's prompt encoder expects."""
    h, w = handle.original_size
    pts = np.zeros((0, 2), np.float64) if points is None else np.asarray(points, np.float64)
    lab = np.zeros((0,), np.int64) if labels is None else np.asarray(labels)
    if pts.size == 0:
        pts = pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(f"points must be a list of (x, y), got shape {pts.shape}")
    if lab.ndim != 1 or len(lab) != len(pts):
        raise InputError(f"{len(pts)} points but labels of shape {lab.shape}")
    if not np.isfinite(pts).all():
        raise InputError("a point has a non-finite coordinate")
    if len(lab) and not np.isin(lab, (0, 1)).all():
        raise InputError("point labels must be 1 (object) or 0 (not object)")
    outside = (pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h)
    if outside.any():
        x, y = pts[int(np.argmax(outside))]
        raise InputError(f"point ({x:g}, {y:g}) lies outside the {w}x{h} image")
    if box is None:
        if len(pts) == 0:
            raise InputError("give at least one point or a box")
        extra_pts, extra_lab = np.zeros((1, 2)), np.array([-1.0])
    else:
        b = np.asarray(box, np.float64).reshape(-1)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise InputError(f"a box is (x0, y0, x1, y1), got {box!r}")
        x0, x1 = sorted((float(np.clip(b[0], 0, w)), float(np.clip(b[2], 0, w))))
        y0, y1 = sorted((float(np.clip(b[1], 0, h)), float(np.clip(b[3], 0, h))))
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise InputError(f"the box {tuple(b.tolist())} is empty inside the {w}x{h} image")
        extra_pts, extra_lab = np.array([[x0, y0], [x1, y1]]), np.array([2.0, 3.0])
    all_pts = np.concatenate([pts, extra_pts])
    coords = geometry.to_input_frame(all_pts, handle.original_size, handle.input_size)
    if box is None:
        coords[-1] = 0.0  # the padding point sits at the origin, as in SAM
    all_labels = np.concatenate([lab.astype(np.float64), extra_lab]).astype(np.float32)
    return coords[None], all_labels[None]


def _mask_input_array(mask_input: FloatArray) -> FloatArray:
    side = geometry.LOW_RES_SIDE
    arr = np.asarray(mask_input, dtype=np.float32)
    if arr.size != side * side:
        raise InputError(f"mask_input must be {side}x{side} low-res logits, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError("mask_input has non-finite values")
    return np.ascontiguousarray(arr.reshape(1, 1, side, side))
