"""The ONNX Runtime path: exported once from the verified weights, checked against torch, masks
identical to the torch path's (IoU ≥ 0.99), cancellable, and replaced by torch when unusable."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fixtures_sam import iou

from annotator.core.errors import Cancelled, NotFoundError, ProposerError
from annotator.core.progress import Task
from annotator.proposers.sam import EngineOptions, SamEngine
from annotator.proposers.sam.onnx_backend import GRAPH_VERSION, GRAPHS, WEIGHTS

pytest.importorskip("onnx", reason="the ONNX exporter needs the onnx package")


@pytest.fixture(scope="module")
def onnx_engine(mobile_sam_registry: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Graphs go to the shared models directory (exported once per machine, like in use).
    options = EngineOptions(runtime="onnx", disk_cache_dir=tmp_path_factory.mktemp("onnx-disk"))
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=options) as engine:
        engine.load()
        yield engine


def test_onnx_masks_match_torch(
    onnx_engine: Any,
    sam_engine: Any,
    scene: Any,
    scene_handle: Any,
    scene_points: dict[str, tuple[float, float]],
) -> None:
    assert onnx_engine.runtime == "onnxruntime"
    graphs = sorted((onnx_engine.registry.root / "onnx").glob("mobile-sam-*"))
    version = f"-v{GRAPH_VERSION}-"
    names = sorted(p.name.split(version)[-1] for p in graphs)
    assert names == sorted(["checked.json", f"{WEIGHTS}.data", *(f"{n}.onnx" for n in GRAPHS)])
    checked = json.loads(graphs[0].read_text())
    for graph in graphs[1:]:
        part = graph.name.split(version)[-1].rsplit(".", 1)[0]
        assert checked[f"{part}_sha256"] == hashlib.sha256(graph.read_bytes()).hexdigest()
    assert {"graph", "graph_source", "torch", "onnxruntime"} <= set(checked["versions"])

    _, shapes = scene
    # The decoder on the same embedding: the same masks as torch.
    for name, point in scene_points.items():
        ours = onnx_engine.segment(scene_handle, [point], [1])
        ref = sam_engine.segment(scene_handle, [point], [1])
        for a, b in zip(ours.candidates, ref.candidates, strict=True):
            assert iou(a.mask, b.mask) >= 0.99
            assert a.score == pytest.approx(b.score, abs=1e-3)
        assert iou(ours.best.mask, shapes[name]) >= 0.95
    # The encoder: the same embedding up to float rounding.
    encoded = onnx_engine.encode(scene[0], "onnx-scene")
    scale = float(np.abs(scene_handle.embedding).max())
    assert float(np.abs(encoded.embedding - scene_handle.embedding).max()) / scale < 1e-3


def test_graphs_keep_each_distinct_tensor_once(onnx_engine: Any) -> None:
    """The graphs' larger tensors live in the one weights file, each distinct one once: the two
    click graphs (which share all but a few of theirs) point at the same bytes."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    from annotator.proposers.sam.onnx_backend import GraphFiles

    sha = onnx_engine.weights.sha256
    files = GraphFiles.for_model(onnx_engine.registry.root / "onnx", "mobile-sam", sha)
    where: dict[str, dict[str, tuple[int, int]]] = {}
    for name, path in files.graphs().items():
        model = onnx.load(str(path), load_external_data=False)
        where[name] = {}
        for tensor in model.graph.initializer:
            if uses_external_data(tensor):
                info = ExternalDataInfo(tensor)
                assert info.location == files.weights.name
                where[name][tensor.name] = (info.offset, info.length)
            else:
                assert len(tensor.raw_data) < 1024  # only small tensors stay in the graph
    spans = {span for graph in where.values() for span in graph.values()}
    data = files.weights.read_bytes()
    blobs = [data[offset : offset + length] for offset, length in spans]
    assert len(set(blobs)) == len(blobs)  # no tensor stored twice
    shared = set(where["click"].values()) & set(where["refine_click"].values())
    assert sum(length for _, length in shared) > 18 * 2**20  # the decoder's weights, once
    assert len(data) < sum(length for _, length in spans) + 4096 * len(spans)


def test_onnx_encode_is_cancellable(onnx_engine: Any, scene: Any) -> None:
    image = np.ascontiguousarray(scene[0][::-1, ::-1])
    task = Task()
    timer = threading.Timer(0.3, task.token.cancel)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            onnx_engine.prepare(image, "onnx-cancel", task)
    finally:
        timer.cancel()
    assert onnx_engine.cached("onnx-cancel") is None


def test_damaged_graphs_are_exported_again(
    onnx_engine: Any, mobile_sam_registry: Any, tmp_path: Path
) -> None:
    for graph in (onnx_engine.registry.root / "onnx").glob("mobile-sam-*"):
        shutil.copyfile(graph, tmp_path / graph.name)
    decoder = next(tmp_path.glob("*-click.onnx"))
    good = decoder.read_bytes()
    decoder.write_bytes(good[:5000])
    options = EngineOptions(runtime="auto", onnx_dir=tmp_path, disk_cache=False)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=options) as engine:
        assert engine.runtime == "onnxruntime"
        assert "exported graphs agree" in engine.runtime_note  # exported and checked again
    assert len(decoder.read_bytes()) > 5000


def test_without_usable_onnx_auto_falls_back_to_torch(
    mobile_sam_registry: Any, tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("a file where the graphs' directory should be")
    auto = EngineOptions(runtime="auto", onnx_dir=not_a_dir, disk_cache=False)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=auto) as engine:
        assert engine.runtime == "torch"
        assert "ONNX Runtime unavailable" in engine.runtime_note
    strict = EngineOptions(runtime="onnx", onnx_dir=not_a_dir, disk_cache=False)
    with (
        SamEngine("mobile-sam", registry=mobile_sam_registry, options=strict) as engine,
        pytest.raises(ProposerError, match="cannot write the ONNX graphs"),
    ):
        engine.load()


def test_check_refuses_graphs_that_disagree(onnx_engine: Any, sam_engine: Any) -> None:
    """The agreement check is real: against a decoder with other weights it fails."""
    import copy

    import torch

    from annotator.proposers.sam.onnx_backend import check_against
    from annotator.proposers.sam.torch_backend import TorchSamBackend

    figures = check_against(onnx_engine.backend, sam_engine.backend)
    assert figures["min_mask_iou"] >= 0.99 and figures["embedding_error"] < 1e-3

    model = sam_engine.backend.model
    other = copy.deepcopy(model.mask_decoder)
    with torch.no_grad():
        for p in other.output_hypernetworks_mlps.parameters():
            p.mul_(-1.0)
    altered = SimpleNamespace(
        image_encoder=model.image_encoder, prompt_encoder=model.prompt_encoder, mask_decoder=other
    )
    reference = TorchSamBackend(altered)  # type: ignore[arg-type]
    with pytest.raises(ProposerError, match="decoder masks differ"):
        check_against(onnx_engine.backend, reference, encoder=False)


def test_recorded_failure_is_not_retried_at_every_start(
    mobile_sam_registry: Any, tmp_path: Path
) -> None:
    from annotator.proposers.sam.onnx_backend import GraphFiles, _versions

    sha = mobile_sam_registry.resolve("mobile-sam").sha256
    files = GraphFiles.for_model(tmp_path, "mobile-sam", sha)
    record = {"versions": _versions(), "reason": "exporter crashed"}
    files.failed.write_text(json.dumps(record))
    auto = EngineOptions(runtime="auto", onnx_dir=tmp_path, disk_cache=False)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=auto) as engine:
        assert engine.runtime == "torch" and "exporter crashed" in engine.runtime_note
    assert not files.graphs()["encoder"].exists()  # no export was attempted
    # Other package versions: tried again.
    files.failed.write_text(json.dumps({**record, "versions": {"graph": "0"}}))
    strict = EngineOptions(runtime="onnx", onnx_dir=tmp_path, disk_cache=False)
    with SamEngine("mobile-sam", registry=mobile_sam_registry, options=strict) as engine:
        assert engine.runtime == "onnxruntime"
    assert files.checked() and not files.failed.exists()


def test_stale_graph_files_are_removed(tmp_path: Path) -> None:
    """Older graph versions and partial exports left by a killed process go; this version's
    graphs, another model's files and a partial export that may still be in flight stay."""
    import os

    from annotator.proposers.sam.onnx_backend import GraphFiles

    files = GraphFiles.for_model(tmp_path, "mobile-sam", "ab" * 32)
    prefix = files.stem.removesuffix(f"-v{GRAPH_VERSION}")
    kept = [*files.graphs().values(), files.marker, tmp_path / f"other-{'cd' * 8}-v1-click.onnx"]
    in_flight = tmp_path / f".{files.stem}-encoder.x1y2.onnx"
    kept.append(in_flight)
    old_partial = tmp_path / f".{files.stem}-click.a1b2.onnx"
    gone = [
        tmp_path / f"{prefix}-v1-click.onnx",
        tmp_path / f"{prefix}-v1-checked.json",
        tmp_path / f".{prefix}-v1-encoder.q9w8.onnx",
        old_partial,
    ]
    for path in [*kept, *gone]:
        path.write_bytes(b"x")
    hours_ago = os.stat(old_partial).st_mtime - 2 * 3600
    for path in gone:
        os.utime(path, (hours_ago, hours_ago))
    files.remove_stale_files()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


def test_graph_status_says_whether_the_fast_runtime_is_ready(tmp_path: Path) -> None:
    """``models list`` reports a model's ONNX graphs: not exported, checked (all graphs there
    with the bytes that were checked), damaged again, or a recorded failure with its reason."""
    from annotator.proposers.sam.onnx_backend import GraphFiles, _versions, graph_status

    sha = "cd" * 32
    assert graph_status("mobile-sam", sha, tmp_path) == "not exported yet"
    files = GraphFiles.for_model(tmp_path, "mobile-sam", sha)
    marker: dict[str, Any] = {"versions": _versions()}
    for name, path in files.files().items():
        path.write_bytes(name.encode())
        marker[f"{name}_sha256"] = hashlib.sha256(name.encode()).hexdigest()
    files.marker.write_text(json.dumps(marker))
    assert graph_status("mobile-sam", sha, tmp_path) == "checked"
    files.weights.write_bytes(b"changed")
    assert graph_status("mobile-sam", sha, tmp_path) == "not exported yet"
    files.failed.write_text(json.dumps({"versions": _versions(), "reason": "exporter crashed"}))
    assert graph_status("mobile-sam", sha, tmp_path) == "failed: exporter crashed"


def test_checked_graphs_are_adopted_by_an_installation_without_torch(
    onnx_engine: Any, mobile_sam_registry: Any, tmp_path: Path
) -> None:
    """The desktop bundle takes the graphs its build checked; only unchanged bytes of this
    graph code are taken, and the copy then loads without torch."""
    from annotator.proposers.sam import onnx_backend as ob

    sha = mobile_sam_registry.resolve("mobile-sam").sha256
    source = mobile_sam_registry.root / "onnx"
    theirs = ob.GraphFiles.for_model(source, "mobile-sam", sha)
    assert theirs.checked()
    target = tmp_path / "bundle-onnx"
    ours = ob.adopt_checked_graphs("mobile-sam", sha, source, target)
    assert ours.checked()
    marker = json.loads(ours.marker.read_text(encoding="utf-8"))
    assert marker["checked_with"] == json.loads(theirs.marker.read_text("utf-8"))["versions"]
    assert ob.load_checked_onnx_backend("mobile-sam", sha, target) is not None

    damaged = tmp_path / "damaged"
    shutil.copytree(source, damaged)
    weights = ob.GraphFiles.for_model(damaged, "mobile-sam", sha).weights
    with weights.open("r+b") as fh:
        fh.seek(weights.stat().st_size // 2)
        fh.write(b"\x01\x02")
    with pytest.raises(ProposerError, match="not the bytes that were checked"):
        ob.adopt_checked_graphs("mobile-sam", sha, damaged, tmp_path / "no")
    other = tmp_path / "other-code"
    shutil.copytree(source, other)
    files = ob.GraphFiles.for_model(other, "mobile-sam", sha)
    stale = json.loads(files.marker.read_text(encoding="utf-8"))
    stale["versions"]["graph_source"] = "0" * 16
    files.marker.write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(ProposerError, match="other graph code"):
        ob.adopt_checked_graphs("mobile-sam", sha, other, tmp_path / "no2")
    assert not (tmp_path / "no").exists() and not (tmp_path / "no2").exists()  # nothing copied


def test_a_models_directory_with_checked_graphs_alone_runs_mobile_sam(
    onnx_engine: Any, mobile_sam_registry: Any, scene: Any, tmp_path: Path
) -> None:
    """The desktop bundle ships MobileSAM's checked graphs without the checkpoint: the model
    resolves as graphs only and clicks give the same masks; what needs the checkpoint says so."""
    from annotator.proposers.sam import onnx_backend as ob
    from annotator.proposers.weights_registry import WeightsRegistry

    sha = mobile_sam_registry.resolve("mobile-sam").sha256
    registry = WeightsRegistry(tmp_path / "models")
    with pytest.raises(NotFoundError, match="not installed"):
        registry.resolve("mobile-sam")
    assert not registry.has("mobile-sam")
    ob.adopt_checked_graphs(
        "mobile-sam", sha, mobile_sam_registry.root / "onnx", tmp_path / "models" / "onnx"
    )
    weights = registry.resolve("mobile-sam")
    assert weights.graphs_only and weights.sha256 == sha and registry.has("mobile-sam")
    assert weights.path.name.endswith("-checked.json")
    assert not registry.is_installed_and_valid("mobile-sam")  # the checkpoint is not here

    options = EngineOptions(runtime="auto", disk_cache=False)
    with SamEngine("mobile-sam", registry=registry, options=options) as engine:
        assert engine.runtime == "onnxruntime"
        handle = engine.prepare(scene[0], "graphs-only")
        reference = onnx_engine.prepare(scene[0], "graphs-only-ref")
        ours = engine.segment(handle, [(300.0, 200.0)], [1])
        theirs = onnx_engine.segment(reference, [(300.0, 200.0)], [1])
        assert np.array_equal(ours.best.mask, theirs.best.mask)
    torch_options = EngineOptions(runtime="torch", disk_cache=False)
    with (
        SamEngine("mobile-sam", registry=registry, options=torch_options) as engine,
        pytest.raises(ProposerError, match=r"ONNX graphs only.*models install mobile-sam"),
    ):
        engine.load()
    # Graphs that changed after their check cannot be exported again without the checkpoint.
    graphs = ob.GraphFiles.for_model(tmp_path / "models" / "onnx", "mobile-sam", sha)
    graphs.weights.write_bytes(graphs.weights.read_bytes()[:-4096])
    with (
        SamEngine("mobile-sam", registry=registry, options=options) as engine,
        pytest.raises(ProposerError, match=r"without its checkpoint .*: its graphs did not load"),
    ):
        engine.load()
