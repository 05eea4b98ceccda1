"""SAM run by ONNX Runtime, from graphs exported once from the same verified weights.

The graphs (encoder, the decoder's per-image state, its per-click part with and without an
earlier mask, the upscaling of the click's image tokens into logits) are
exported from the very modules the torch backend runs, into the models directory, named by the
checkpoint's sha256, and checked once before first use against SAM's own decoder run by torch
on fixed inputs: the masks must match with IoU ≥ 0.99 and the encoder's embedding to a tight
tolerance. A failed export or check raises
:class:`ProposerError`, and the engine falls back to torch.

The decoder graphs hold the same weights many times over (the two click graphs share all but
1 %), so every graph keeps its larger tensors in one file of distinct tensors beside them, which
ONNX Runtime reads as external data: a third less on disk, and nothing a graph computes changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.core.atomic_file import atomic_open, replacing
from annotator.core.compute_budget import wanted_torch_threads
from annotator.core.errors import Cancelled, ProposerError, WeightsError
from annotator.core.metrics import iou
from annotator.core.progress import Task
from annotator.proposers.sam.backend import STATE_NAMES, Decoded, DecoderState, FloatArray
from annotator.proposers.sam.low_res import decode_whole
from annotator.proposers.weights import sha256_file

if TYPE_CHECKING:
    import torch

    from annotator.proposers.sam.backend import SamBackend
    from annotator.proposers.sam.torch_backend import TorchSamBackend

log = logging.getLogger(__name__)

GRAPHS = ("encoder", "state", "click", "refine_click", "upscale")
WEIGHTS = "weights"  # the graphs' shared external data
GRAPH_VERSION = 7  # bump when torch_graphs or the files' layout change: old exports are not reused
MIN_MASK_IOU = 0.99
MAX_EMBEDDING_ERROR = 1e-3  # max abs difference, relative to the embedding's max abs value
_OPSET = 17
_CANCEL_POLL_S = 0.02
_PARTIAL_EXPORT_MAX_AGE_S = 3600.0  # an export takes minutes
_GRAPH_SOURCES = ("torch_graphs.py", "factored_decoder.py")  # what the graphs are exported from
_EXTERNAL_MIN_BYTES = 1024  # smaller tensors stay inside their graph
_EXTERNAL_ALIGN = 4096  # page-aligned offsets let ONNX Runtime map a tensor rather than copy it


class OnnxSamBackend:
    name = "onnxruntime"

    def __init__(self, files: GraphFiles) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = wanted_torch_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads would otherwise spin and take CPU from the UI between clicks.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        try:
            self._sessions = {
                name: ort.InferenceSession(str(path), options, providers=providers)
                for name, path in files.graphs().items()
            }
        except Exception as exc:  # ORT raises its own exception types
            raise ProposerError(f"ONNX Runtime cannot load the SAM graphs: {exc}") from exc
        self._encoder = self._sessions["encoder"]

    def encode(self, image_input: FloatArray, task: Task) -> FloatArray:
        import onnxruntime as ort

        task.start(1, "encoding image")
        task.check()
        run_options = ort.RunOptions()
        done = threading.Event()

        def watch() -> None:
            # ORT checks ``terminate`` while it runs; that is how an encode is cancelled.
            while not done.wait(_CANCEL_POLL_S):
                if task.token.cancelled:
                    run_options.terminate = True
                    return

        watcher = threading.Thread(target=watch, name="sam-onnx-cancel", daemon=True)
        watcher.start()
        try:
            (embedding,) = self._encoder.run(None, {"image": image_input}, run_options)
        except Exception as exc:
            if task.token.cancelled:
                raise Cancelled("image encoding cancelled") from None
            raise ProposerError(f"ONNX Runtime failed to encode the image: {exc}") from exc
        finally:
            done.set()
            watcher.join()
        task.step(message="image encoded")
        return np.ascontiguousarray(embedding, dtype=np.float32)

    def image_state(self, embedding: FloatArray) -> DecoderState:
        return DecoderState(*self._sessions["state"].run(None, {"image_embeddings": embedding}))

    def decode(
        self,
        state: DecoderState,
        coords: FloatArray,
        labels: FloatArray,
        outputs: Sequence[int],
        covered: tuple[int, int],
        mask_input: FloatArray | None = None,
    ) -> Decoded:
        feed = dict(zip(STATE_NAMES, state.arrays(), strict=True))
        feed.update(
            point_coords=coords,
            point_labels=labels,
            outputs=np.asarray(outputs, dtype=np.int64),
            covered=np.asarray(covered, dtype=np.int64),
        )
        graph = "click"
        if mask_input is not None:
            graph = "refine_click"
            feed["mask_input"] = mask_input
        logits, below, right, hyper, scores = self._sessions[graph].run(None, feed)
        return Decoded(logits, below, right, hyper, scores[0])

    def upscale(self, cells: FloatArray, hyper: FloatArray) -> FloatArray:
        return self._sessions["upscale"].run(None, {"cells": cells, "hyper": hyper})[0]


def runtime_available() -> bool:
    """Whether checked graphs can run here (ONNX Runtime alone; the desktop bundle has no
    torch and no exporter)."""
    return importlib.util.find_spec("onnxruntime") is not None


def onnx_available() -> bool:
    """Whether graphs can also be exported here (the exporter needs the ``onnx`` package)."""
    return runtime_available() and importlib.util.find_spec("onnx") is not None


@dataclass(frozen=True)
class GraphFiles:
    directory: Path
    stem: str  # model id, weights' sha256 prefix and graph version

    @classmethod
    def for_model(cls, directory: Path, model_id: str, model_sha256: str) -> GraphFiles:
        return cls(directory, f"{model_id}-{model_sha256[:16]}-v{GRAPH_VERSION}")

    @property
    def marker(self) -> Path:
        """Written after the check: versions and the graphs' sha256."""
        return self.directory / f"{self.stem}-checked.json"

    @property
    def failed(self) -> Path:
        """Written when the export or the check failed: versions and the reason."""
        return self.directory / f"{self.stem}-failed.json"

    def graphs(self) -> dict[str, Path]:
        return {name: self.directory / f"{self.stem}-{name}.onnx" for name in GRAPHS}

    @property
    def weights(self) -> Path:
        return self.directory / f"{self.stem}-{WEIGHTS}.data"

    def files(self) -> dict[str, Path]:
        """Everything the check marker hashes: the graphs and their shared weights."""
        return {**self.graphs(), WEIGHTS: self.weights}

    def remove_stale_files(self) -> None:
        """Graphs of this model from earlier graph versions are never loaded again, and a
        partial export (a process killed while writing) is never finished: both go. A partial
        file younger than an hour may be another process's export in flight, so it stays."""
        prefix = self.marker.name.removesuffix(f"-v{GRAPH_VERSION}-checked.json")
        mine = {self.marker, self.failed, *self.files().values()}
        for path in self.directory.glob(f"{prefix}-v*"):
            if path not in mine:
                path.unlink(missing_ok=True)
        cutoff = time.time() - _PARTIAL_EXPORT_MAX_AGE_S
        for path in self.directory.glob(f".{prefix}-v*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue  # gone already, or not ours to remove

    def recorded_failure(self) -> str | None:
        """Why the export or check failed with the installed versions; None when it did not."""
        failure = _read_marker(self.failed)
        if failure is None or failure.get("versions") != _versions():
            return None
        return str(failure.get("reason"))

    def checked(self) -> bool:
        """True when all graphs and their weights are there, were checked against torch with
        the installed versions, and still have the bytes that were checked."""
        marker = _read_marker(self.marker)
        if marker is None or marker.get("versions") != _versions():
            return False
        for name, path in self.files().items():
            try:
                if sha256_file(path) != marker.get(f"{name}_sha256"):
                    return False
            except WeightsError:
                return False
        return True


def graph_status(model_id: str, model_sha256: str, directory: Path) -> str:
    """What ``models list`` says of a model's ONNX graphs: ``checked`` (ready to use),
    ``failed: <reason>`` (not retried until the installed versions change), ``not exported
    yet``, or that ONNX Runtime is not installed."""
    if not runtime_available():
        return "ONNX Runtime not installed"
    files = GraphFiles.for_model(directory, model_id, model_sha256)
    if files.checked():
        return "checked"
    reason = files.recorded_failure()
    return "not exported yet" if reason is None else f"failed: {reason}"


def load_checked_onnx_backend(
    model_id: str, model_sha256: str, directory: Path
) -> OnnxSamBackend | None:
    """The ONNX backend from graphs exported and checked earlier, without importing torch;
    None when there are none (or they changed since they were checked)."""
    if not runtime_available():
        return None
    files = GraphFiles.for_model(directory, model_id, model_sha256)
    if not files.checked():
        return None
    files.remove_stale_files()
    return OnnxSamBackend(files)


def adopt_checked_graphs(
    model_id: str, model_sha256: str, source: Path, directory: Path
) -> GraphFiles:
    """Take graphs exported and checked against torch by another installation of this version
    (the desktop bundle's build, a machine with torch) into ``directory``, for an installation
    that cannot check them itself. Refused unless they were exported from this graph code and
    still have the bytes that were checked; the new marker keeps the versions they were checked
    with."""
    theirs = GraphFiles.for_model(source, model_id, model_sha256)
    marker = _read_marker(theirs.marker)
    if marker is None:
        raise ProposerError(f"{theirs.marker}: no checked graphs of {model_id} there")
    versions = _versions()
    checked_with = marker.get("versions") or {}
    for key in ("graph", "graph_source"):
        if checked_with.get(key) != versions[key]:
            raise ProposerError(
                f"{theirs.marker}: exported by other graph code ({key} {checked_with.get(key)}, "
                f"here {versions[key]})"
            )
    adopted: dict[str, Any] = {"versions": versions, "checked_with": checked_with}
    for name, path in theirs.files().items():
        digest = sha256_file(path)
        if digest != marker.get(f"{name}_sha256"):
            raise ProposerError(f"{path}: not the bytes that were checked")
        adopted[f"{name}_sha256"] = digest
    ours = GraphFiles.for_model(directory, model_id, model_sha256)
    directory.mkdir(parents=True, exist_ok=True)
    for name, path in theirs.files().items():
        with replacing(ours.files()[name]) as tmp:
            shutil.copyfile(path, tmp)
    _atomic_write_text(ours.marker, json.dumps(adopted, indent=2))  # last: they are complete
    return ours


def prepare_onnx_backend(
    model_id: str,
    model_sha256: str,
    reference: TorchSamBackend,
    directory: Path,
    task: Task | None = None,
) -> OnnxSamBackend:
    """Export the graphs from ``reference``, check them against it and load them; graphs that
    were checked already (and are unchanged) are loaded as they are."""
    task = task or Task()
    if not onnx_available():
        raise ProposerError("ONNX export needs the packages onnx and onnxruntime")
    try:
        return _prepare(GraphFiles.for_model(directory, model_id, model_sha256), reference, task)
    except OSError as exc:
        raise ProposerError(f"cannot write the ONNX graphs to {directory}: {exc}") from exc


def _prepare(files: GraphFiles, reference: TorchSamBackend, task: Task) -> OnnxSamBackend:
    if files.checked():
        return OnnxSamBackend(files)
    reason = files.recorded_failure()
    if reason is not None:
        # Not tried again at every start; new package versions or removing the file retry.
        raise ProposerError(f"{reason} (recorded in {files.failed})")
    files.directory.mkdir(parents=True, exist_ok=True)
    files.marker.unlink(missing_ok=True)
    try:
        return _export_and_check(files, reference, task)
    except ProposerError as exc:
        record = {"versions": _versions(), "reason": str(exc)}
        _atomic_write_text(files.failed, json.dumps(record, indent=2))
        raise


def _export_and_check(files: GraphFiles, reference: TorchSamBackend, task: Task) -> OnnxSamBackend:
    # Unchecked graphs (never checked, damaged, or from other versions) are exported afresh.
    graphs = files.graphs()
    task.start(len(graphs) + 1, "exporting SAM to ONNX (once per model)")
    points = {
        "point_coords": {1: "points"},
        "point_labels": {1: "points"},
        "outputs": {0: "masks"},
        "logits": {0: "masks", 1: "rows", 2: "columns"},
        "below": {0: "rows_below"},
        "right": {0: "rows", 1: "columns_right"},
        "hyper": {0: "masks"},
    }
    cells = {
        "cells": {0: "rows", 1: "columns"},
        "hyper": {0: "masks"},
        "logits": {0: "masks", 1: "rows", 2: "columns"},
    }
    click_inputs = [*STATE_NAMES, "point_coords", "point_labels", "outputs", "covered"]
    click_outputs = ["logits", "below", "right", "hyper", "scores"]
    examples = _examples(reference)
    exports = {
        "encoder": (reference.encoder, ["image"], ["embedding"], {}),
        "state": (reference.state_graph, ["image_embeddings"], list(STATE_NAMES), {}),
        "click": (reference.click_graph, click_inputs, click_outputs, points),
        "refine_click": (
            reference.refine_click_graph,
            [*click_inputs, "mask_input"],
            click_outputs,
            points,
        ),
        "upscale": (reference.upscale_graph, ["cells", "hyper"], ["logits"], cells),
    }
    for name, (module, inputs, outputs, dynamic) in exports.items():
        _export(module, examples[name], inputs, outputs, dynamic, graphs[name])
        task.step(message=f"exported the {name.replace('_', ' ')} graph")
    _share_weights(graphs, files.weights)
    backend = OnnxSamBackend(files)
    try:
        check_against(backend, reference)
    except ProposerError:
        raise
    except Exception as exc:  # ORT's own errors: a graph that runs wrongly is a failed check
        raise ProposerError(f"the exported SAM graphs do not run: {exc}") from exc
    marker: dict[str, Any] = {"versions": _versions()}
    marker.update({f"{name}_sha256": sha256_file(path) for name, path in files.files().items()})
    _atomic_write_text(files.marker, json.dumps(marker, indent=2))
    files.failed.unlink(missing_ok=True)
    files.remove_stale_files()
    task.step()
    return backend


def check_against(
    candidate: SamBackend, reference: TorchSamBackend, *, encoder: bool = True
) -> dict[str, float]:
    """Run ``candidate`` and SAM's own decoder (``reference.reference_decode``) on fixed inputs;
    raise :class:`ProposerError` unless they agree. Returns the figures (minimum mask IoU,
    relative embedding error). ``encoder=False`` checks the decoder alone, on a random
    embedding."""
    rng = np.random.default_rng(20250213)
    emb_error = 0.0
    if encoder:
        image = rng.normal(0.0, 1.0, size=(1, 3, 1024, 1024)).astype(np.float32)
        ref_emb = reference.encode(image, Task())
        got_emb = candidate.encode(image, Task())
        scale = float(np.abs(ref_emb).max()) or 1.0
        emb_error = float(np.abs(ref_emb - got_emb).max()) / scale
        if emb_error > MAX_EMBEDDING_ERROR:
            raise ProposerError(f"ONNX encoder differs from torch (relative error {emb_error:.2e})")
    else:
        ref_emb = rng.normal(0.0, 0.3, size=(1, 256, 64, 64)).astype(np.float32)
    min_iou = 1.0
    for coords, labels, mask, has in _decoder_cases(rng):
        ref_low, _ = reference.reference_decode(ref_emb, coords, labels, mask, has)
        state = candidate.image_state(ref_emb)
        prior = mask if has[0] else None
        # Upscaled in three blocks (image, padding below, padding right): placement is checked too.
        got_low, _ = decode_whole(candidate, state, coords, labels, range(4), prior, (49, 40))
        for a, b in zip(ref_low > 0, got_low > 0, strict=True):
            min_iou = min(min_iou, iou(b, a))
    if min_iou < MIN_MASK_IOU:
        raise ProposerError(f"decoder masks differ from SAM's decoder (IoU {min_iou:.4f})")
    log.info(
        "ONNX graphs agree with torch: mask IoU ≥ %.4f, embedding error %.1e", min_iou, emb_error
    )
    return {"min_mask_iou": min_iou, "embedding_error": emb_error}


def _decoder_cases(
    rng: np.random.Generator,
) -> list[tuple[FloatArray, FloatArray, FloatArray, FloatArray]]:
    none = np.zeros((1, 1, 256, 256), np.float32)
    prior = rng.normal(0.0, 4.0, size=(1, 1, 256, 256)).astype(np.float32)
    f = np.float32
    return [
        (np.array([[[400, 300], [0, 0]]], f), np.array([[1, -1]], f), none, np.zeros(1, f)),
        (
            np.array([[[400, 300], [600, 500], [0, 0]]], f),
            np.array([[1, 0, -1]], f),
            prior,
            np.ones(1, f),
        ),
        (np.array([[[100, 120], [700, 650]]], f), np.array([[2, 3]], f), none, np.zeros(1, f)),
    ]


def _examples(reference: TorchSamBackend) -> dict[str, tuple[Any, ...]]:
    """Inputs to trace each graph with."""
    import torch

    embedding = torch.zeros(1, 256, 64, 64)
    prompts = (
        torch.tensor([[[500.0, 400.0], [0.0, 0.0]]]),
        torch.tensor([[1.0, -1.0]]),
        torch.tensor([1, 2, 3]),
        torch.tensor([48, 40]),  # covered cells: both other blocks non-empty
    )
    with torch.inference_mode(False), torch.no_grad():
        state = reference.state_graph(embedding)
    return {
        "encoder": (torch.zeros(1, 3, 1024, 1024),),
        "state": (embedding,),
        "click": (*state, *prompts),
        "refine_click": (*state, *prompts, torch.zeros(1, 1, 256, 256)),
        "upscale": (torch.zeros(48, 64, 256), torch.zeros(3, 32)),
    }


def _export(
    module: torch.nn.Module,
    example: tuple[Any, ...],
    inputs: list[str],
    outputs: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    target: Path,
) -> None:
    import warnings

    import torch

    try:
        with (
            replacing(target) as tmp,
            warnings.catch_warnings(),
            torch.inference_mode(False),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")  # tracer warnings about Python-side constants
            torch.onnx.export(
                module,
                example,
                tmp,
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=dynamic_axes,
                opset_version=_OPSET,
                dynamo=False,
            )
    except Exception as exc:
        raise ProposerError(f"exporting SAM to ONNX failed: {exc}") from exc


def _share_weights(graphs: dict[str, Path], weights: Path) -> None:
    """Move the graphs' larger tensors into ``weights``, each distinct tensor once, and point
    the graphs at it (ONNX external data, by file name: the files move together)."""
    import onnx
    from onnx.external_data_helper import set_external_data

    models = {name: onnx.load(path) for name, path in graphs.items()}
    placed: dict[bytes, tuple[int, int]] = {}  # sha256 of the bytes → (offset, length)
    with atomic_open(weights, "wb") as out:
        for model in models.values():
            for tensor in model.graph.initializer:
                raw = tensor.raw_data
                if len(raw) < _EXTERNAL_MIN_BYTES:
                    continue
                key = hashlib.sha256(raw).digest()
                if key not in placed:
                    out.write(b"\0" * (-out.tell() % _EXTERNAL_ALIGN))
                    placed[key] = (out.tell(), len(raw))
                    out.write(raw)
                offset, length = placed[key]
                set_external_data(tensor, location=weights.name, offset=offset, length=length)
                tensor.ClearField("raw_data")
    for name, model in models.items():
        with atomic_open(graphs[name], "wb") as fh:
            fh.write(model.SerializeToString())


def _versions() -> dict[str, str]:
    """What the check depends on; read from package metadata and our graph modules' bytes, so
    torch is not imported. A change to a graph module re-exports even if nobody bumped
    ``GRAPH_VERSION``."""
    digest = hashlib.sha256()
    for name in _GRAPH_SOURCES:
        digest.update((Path(__file__).parent / name).read_bytes())
    out = {"graph": str(GRAPH_VERSION), "graph_source": digest.hexdigest()[:16]}
    for package in ("torch", "onnxruntime", "mobilesam-mirror", "segment-anything"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "absent"
    return out


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)
