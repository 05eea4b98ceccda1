"""Encoding off the caller's thread: priorities, sharing, cancellation and prefetching. The
scheduling is tested with a stand-in encode whose steps are controlled; cancellation and
prefetching also with the real MobileSAM encoder."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from annotator.core.errors import Cancelled
from annotator.core.progress import CancelToken, Task
from annotator.proposers.sam.encode_worker import EncodeWorker
from annotator.proposers.segmenter import PreparedImage

STEPS = 40


class Recorder:
    """A prepare function: ``STEPS`` steps of ``step_s`` each, checking its task every step."""

    def __init__(self, step_s: float = 0.01) -> None:
        self.step_s = step_s
        self.log: list[str] = []
        self.started: dict[str, threading.Event] = {}
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def event(self, key: str) -> threading.Event:
        with self.lock:
            return self.started.setdefault(key, threading.Event())

    def __call__(self, key: str, load: Any, task: Task) -> PreparedImage:
        image = load()
        self.threads.add(threading.current_thread().name)
        self.log.append(f"start {key}")
        self.event(key).set()
        task.start(STEPS)
        try:
            for _ in range(STEPS):
                time.sleep(self.step_s)
                task.step()
        except Cancelled:
            self.log.append(f"stop {key}")
            raise
        self.log.append(f"done {key}")
        return PreparedImage(
            key, "fake", image.shape[:2], image.shape[:2], np.zeros((1, 1, 1, 1), np.float32)
        )


def _img() -> np.ndarray:
    return np.zeros((4, 4, 3), np.uint8)


def _load() -> np.ndarray:
    return _img()


def test_request_preempts_running_prefetch_which_resumes_later() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec, prefetch_limit=4)
    try:
        a, b = worker.prefetch([("A", _load), ("B", _load)], skip=lambda _: False)
        assert rec.event("A").wait(10)
        c = worker.submit("C", _load, CancelToken(), None)
        assert c.result(timeout=30).key == "C"
        assert a.result(timeout=30).key == "A" and b.result(timeout=30).key == "B"
    finally:
        worker.close()
    assert rec.log == [
        "start A",
        "stop A",
        "start C",
        "done C",
        "start A",
        "done A",
        "start B",
        "done B",
    ]
    assert rec.threads == {"sam-encoder"}


def test_same_image_is_encoded_once_for_all_who_ask() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec)
    try:
        first = worker.submit("X", _load, CancelToken(), None)
        (pre,) = worker.prefetch([("X", _load)], skip=lambda _: False)
        second = worker.submit("X", _load, CancelToken(), None)
        assert first is second is pre
        assert first.result(timeout=30).key == "X"
    finally:
        worker.close()
    assert rec.log == ["start X", "done X"]


def test_cancelled_request_stops_the_encode() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec)
    token = CancelToken()
    progress: list[int] = []
    try:
        fut = worker.submit("X", _load, token, lambda done, total, msg: progress.append(done))
        assert rec.event("X").wait(10)
        while not progress or progress[-1] < 3:
            time.sleep(0.005)
        token.cancel()
        with pytest.raises(Cancelled):
            fut.result(timeout=10)
        assert rec.log == ["start X", "stop X"]
        assert max(progress) < STEPS
        # The worker carries on with the next request.
        assert worker.submit("Y", _load, CancelToken(), None).result(timeout=30).key == "Y"
    finally:
        worker.close()


def test_job_continues_while_another_waiter_wants_it() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec)
    impatient, patient = CancelToken(), CancelToken()
    try:
        fut = worker.submit("X", _load, impatient, None)
        worker.submit("X", _load, patient, None)
        assert rec.event("X").wait(10)
        impatient.cancel()
        assert fut.result(timeout=30).key == "X"
    finally:
        worker.close()
    assert rec.log == ["start X", "done X"]


def test_new_prefetch_list_drops_images_no_longer_wanted() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec, prefetch_limit=3)
    try:
        a, b, c = worker.prefetch([(k, _load) for k in "ABCDE"], skip=lambda _: False)
        assert rec.event("A").wait(10)
        (d,) = worker.prefetch([("D", _load)], skip=lambda _: False)
        assert d.result(timeout=30).key == "D"
        for dropped in (a, b, c):
            with pytest.raises(Cancelled):
                dropped.result(timeout=10)
    finally:
        worker.close()
    assert rec.log == ["start A", "stop A", "start D", "done D"]


def test_prefetch_skips_cached_images_and_errors_reach_the_caller() -> None:
    rec = Recorder(step_s=0.0)
    worker = EncodeWorker(rec, prefetch_limit=4)

    def broken() -> np.ndarray:
        raise OSError("image file vanished")

    try:
        futures = worker.prefetch([("cached", _load), ("new", _load)], skip=lambda k: k == "cached")
        assert len(futures) == 1 and futures[0].result(timeout=30).key == "new"
        with pytest.raises(OSError, match="vanished"):
            worker.submit("broken", broken, CancelToken(), None).result(timeout=30)
        assert worker.submit("after", _load, CancelToken(), None).result(timeout=30).key == "after"
    finally:
        worker.close()


def test_close_cancels_queued_work() -> None:
    rec = Recorder()
    worker = EncodeWorker(rec)
    running = worker.submit("A", _load, CancelToken(), None)
    queued = worker.submit("B", _load, CancelToken(), None)
    assert rec.event("A").wait(10)
    worker.close()
    for fut in (running, queued):
        with pytest.raises(Cancelled):
            fut.result(timeout=10)
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit("C", _load, CancelToken(), None)


# -- the real encoder ---------------------------------------------------------------------
def test_real_encode_is_cancelled_midway(sam_engine: Any, scene: Any) -> None:
    image = np.ascontiguousarray(scene[0][::-1])  # pixels no cache has seen
    steps: list[tuple[int, int | None]] = []
    task = Task()

    def on_progress(done: int, total: int | None, message: str) -> None:
        steps.append((done, total))
        if done >= 3:
            task.token.cancel()

    task.on_progress = on_progress
    with pytest.raises(Cancelled):
        sam_engine.prepare(image, "cancel-me", task)
    deadline = time.monotonic() + 30
    while sam_engine.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sam_engine.pending() == []  # the encode itself stopped, not only the wait
    total = steps[-1][1]
    assert total is not None and max(done for done, _ in steps) < total
    assert sam_engine.cached("cancel-me") is None


def test_real_prefetch_fills_the_cache_in_the_background(
    sam_engine: Any, scene: Any, scene_handle: Any
) -> None:
    image = np.ascontiguousarray(scene[0][:, ::-1])
    threads: list[str] = []

    def load() -> np.ndarray:
        threads.append(threading.current_thread().name)
        return image

    assert sam_engine.cached("prefetched") is None
    (future,) = sam_engine.prefetch([("prefetched", load), ("scene-0", load)])  # scene-0 cached
    assert future.result(timeout=300).key == "prefetched"
    assert threads == ["sam-encoder"]
    handle = sam_engine.prepare(image, "prefetched")
    assert handle.source == "memory"


def test_hold_pauses_prefetching_but_not_requests() -> None:
    """While clicks hold the worker, a running prefetch stops and none starts (an encode and a
    click would each take every core but one); a request still runs, and the prefetch
    resumes once the hold is over."""
    rec = Recorder()
    starts: dict[str, list[float]] = {}
    record = rec.__call__

    def timed(key: str, load: Any, task: Task) -> PreparedImage:
        starts.setdefault(key, []).append(time.monotonic())
        return record(key, load, task)

    worker = EncodeWorker(timed, prefetch_limit=4)
    try:
        (a,) = worker.prefetch([("A", _load)], skip=lambda _: False)
        assert rec.event("A").wait(10)
        held_until = time.monotonic() + 1.0
        worker.hold_prefetch(1.0)
        c = worker.submit("C", _load, CancelToken(), None)
        assert c.result(timeout=30).key == "C"
        assert a.result(timeout=30).key == "A"
    finally:
        worker.close()
    assert rec.log == ["start A", "stop A", "start C", "done C", "start A", "done A"]
    assert starts["C"][0] < held_until <= starts["A"][1]
