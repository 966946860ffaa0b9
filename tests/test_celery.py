"""flash_ws.celery: a Celery task's items streamed through an event callback.

The helper against a real redis-server (eager tasks in a thread, no worker), then the example app
(examples/celery_progress) end to end: a real prefork Celery worker on a real redis-server, the app
under hypercorn, and the reference client.

Real redis-server: Celery's broker and result backend reach Redis by its URL, and the task's
stream is read from the same server. Real worker: only a prefork worker runs the task in another
process, so a revoke terminates a running task and a killed pool child is Celery's WorkerLostError.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult

from examples.celery_progress.tasks import ROWS_PER_CHUNK, chunk_rows
from flash_ws.celery import StreamingTask, TaskFailed, follow, stream_key
from flash_ws.client import FlashWsClient
from flash_ws.protocol import Apply
from flash_ws.server.runner import CALLBACK_ERROR_MESSAGE
from tests.conftest import ROOT, TIMEOUT, LiveServer, eventually, wait_until
from tests.redis_server import RedisServer

APP = "examples.celery_progress.app"
RUN_TASK = f"{APP}.run_task"
TASK_NAME = "celery_progress.process_chunks"


# --- the helper, with eager tasks (no worker) ----------------------------------------------------

ACKS: queue.Queue[int] = queue.Queue()  # the test tells the eager task it received an item
REPORTED: list[bool] = []               # what report() returned in the eager task


def eager_app(url: str) -> Celery:
    app = Celery("flash_ws_celery_test", broker=url, backend=url)
    app.conf.update(task_always_eager=True, task_store_eager_result=True)

    @app.task(bind=True, base=StreamingTask, name="test.lockstep", shared=False)
    def lockstep(self: StreamingTask, n: int, fail: bool = False) -> dict:
        """Report n items; before each next one, wait until the follower has received the last."""
        for i in range(n):
            REPORTED.append(self.report({"i": i, "square": i * i}))
            if ACKS.get(timeout=TIMEOUT) != i:
                raise AssertionError("acknowledged out of order")
        if fail:
            raise ValueError("boom")
        return {"n": n}

    return app


def run_eager(app: Celery, task_id: str, *args: object) -> threading.Thread:
    thread = threading.Thread(target=app.tasks["test.lockstep"].apply, args=(args,), kwargs={"task_id": task_id}, daemon=True)
    thread.start()
    return thread


class RecordingResult(AsyncResult):
    """An AsyncResult that records revoke() instead of broadcasting it (there is no worker)."""

    revokes: list[dict] = []

    def revoke(self, **options: object) -> None:
        self.revokes.append(options)


@pytest.fixture
def eager(redis_server):
    ACKS.queue.clear()
    REPORTED.clear()
    RecordingResult.revokes = []
    app = eager_app(redis_server.url)
    yield app, redis.Redis.from_url(redis_server.url)


async def test_follow_yields_each_item_as_reported_in_order_and_deletes_the_stream(eager):
    app, r = eager
    task_id = str(uuid.uuid4())
    thread = run_eager(app, task_id, 20)
    items = []
    async with follow(app.AsyncResult(task_id), poll_interval=0.2) as stream:
        async for item in stream:
            items.append(item)
            ACKS.put(item["i"])  # the task goes on only now: every item arrived while it ran
    assert items == [{"i": i, "square": i * i} for i in range(20)]
    assert stream.return_value == {"n": 20} and stream.finished
    assert RecordingResult.revokes == [] and not r.exists(stream_key(task_id))
    await asyncio.to_thread(thread.join, TIMEOUT)


async def test_a_failing_task_raises_task_failed_naming_the_task_and_the_error(eager):
    app, r = eager
    task_id = str(uuid.uuid4())
    thread = run_eager(app, task_id, 2, True)
    items = []
    with pytest.raises(TaskFailed) as caught:
        async with follow(app.AsyncResult(task_id), poll_interval=0.2) as stream:
            async for item in stream:
                items.append(item["i"])
                ACKS.put(item["i"])
    assert items == [0, 1]
    assert str(caught.value) == f"Celery task test.lockstep[{task_id}] failed: ValueError: boom"
    assert (caught.value.state, caught.value.error) == ("FAILURE", "ValueError: boom")
    assert not r.exists(stream_key(task_id))
    await asyncio.to_thread(thread.join, TIMEOUT)


async def test_closing_early_with_revoke_revokes_the_task_and_later_reports_go_nowhere(eager):
    app, r = eager
    task_id = str(uuid.uuid4())
    thread = run_eager(app, task_id, 3)
    stream = follow(RecordingResult(task_id, app=app), poll_interval=0.2, revoke=True)
    assert await stream.__anext__() == {"i": 0, "square": 0}
    await stream.aclose()
    assert RecordingResult.revokes == [{"terminate": True, "signal": "SIGTERM"}]
    assert not r.exists(stream_key(task_id))
    for i in range(3):  # let the (unrevocable, eager) task run to its end
        ACKS.put(i)
    await asyncio.to_thread(thread.join, TIMEOUT)
    assert REPORTED == [True, False, False]  # nothing lands once the follower has gone...
    assert not r.exists(stream_key(task_id))  # ...not even the end marker
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_a_followed_result_runs_on_after_close_unless_revoke_is_asked(eager):
    """A task submitted elsewhere (followed by its AsyncResult) is not this follower's to stop."""
    app, r = eager
    task_id = str(uuid.uuid4())
    thread = run_eager(app, task_id, 3)
    stream = follow(RecordingResult(task_id, app=app), poll_interval=0.2)
    assert await stream.__anext__() == {"i": 0, "square": 0}
    await stream.aclose()
    assert RecordingResult.revokes == [] and r.exists(stream_key(task_id))
    for i in range(3):
        ACKS.put(i)
    await asyncio.to_thread(thread.join, TIMEOUT)
    assert REPORTED == [True, True, True]  # it went on reporting into its stream
    async with follow(app.AsyncResult(task_id), poll_interval=0.2) as again:  # someone follows it again
        assert [item["i"] async for item in again] == [0, 1, 2]
    assert again.return_value == {"n": 3} and not r.exists(stream_key(task_id))  # ended: its stream is deleted
    assert RecordingResult.revokes == []
    with pytest.raises(TypeError, match="revoke must be True, False or None"):
        follow(app.AsyncResult(task_id), revoke="yes")  # type: ignore[arg-type]


async def test_a_signature_the_follower_submitted_is_revoked_on_close(redis_server):
    """Not eager: the task waits in the broker's queue (no worker), so it is still running when closed."""
    app = Celery("flash_ws_celery_queued", broker=redis_server.url, backend=redis_server.url)

    class RecordedTask(StreamingTask):
        def AsyncResult(self, task_id: str, **kwargs: object) -> AsyncResult:  # noqa: N802 (Celery's name)
            return RecordingResult(task_id, app=self.app)

    @app.task(bind=True, base=RecordedTask, name="test.queued", shared=False)
    def queued(self: StreamingTask) -> None:
        raise AssertionError("no worker runs this")

    RecordingResult.revokes = []
    stream = follow(queued.s(), poll_interval=0.2)
    result = await stream.submit()
    assert isinstance(result, RecordingResult) and stream.task_id == result.id
    await stream.aclose()
    assert RecordingResult.revokes == [{"terminate": True, "signal": "SIGTERM"}]
    kept = follow(queued.s(), poll_interval=0.2, revoke=False)
    await kept.submit()
    await kept.aclose()
    assert len(RecordingResult.revokes) == 1  # revoke=False: left in the queue
    app.close()


async def following_one_item(app: Celery, r: redis.Redis, on_revoke: Callable[[], object],
                             poll_interval: float) -> tuple[asyncio.Task[None], str]:
    """A callback's consumer task following, with ``revoke=True``, a task whose stream holds its
    start and one item; ``on_revoke()`` stands for Celery's revoke. Returns once the item arrived
    (the consumer then waits for the next one), with the stream's key."""
    task_id = str(uuid.uuid4())
    key = stream_key(task_id)
    r.xadd(key, {"kind": "start", "task": "test.lockstep"})
    r.xadd(key, {"kind": "item", "data": '{"i": 0}'})

    class HookedRevoke(AsyncResult):
        def revoke(self, **options: object) -> None:
            on_revoke()

    items: list[object] = []

    async def callback() -> None:
        async with follow(HookedRevoke(task_id, app=app), poll_interval=poll_interval, revoke=True) as stream:
            async for item in stream:
                items.append(item)

    consumer = asyncio.create_task(callback())
    await eventually(lambda: items == [{"i": 0}], what="the first item")
    return consumer, key


async def test_the_cleanup_survives_a_second_cancellation(eager):
    """A run is cancelled, then its page closes (cancelled again) while the task is being revoked."""
    app, r = eager
    revoking, release = threading.Event(), threading.Event()

    def slow_revoke() -> None:
        revoking.set()
        release.wait(TIMEOUT)

    consumer, key = await following_one_item(app, r, slow_revoke, poll_interval=0.1)
    consumer.cancel()
    await eventually(revoking.is_set, what="the revoke")
    consumer.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await eventually(lambda: not r.exists(key), what="the stream's deletion after the revoke")


async def test_a_cancellation_a_redis_read_swallows_still_stops_the_follower_and_revokes(eager, monkeypatch):
    """A blocking read that swallows the CancelledError (as some redis-py versions' did) returns
    as if nothing happened: the follower sees the task's pending cancellation and stops anyway."""
    from redis.asyncio import Redis

    app, r = eager
    revoked, swallowed = threading.Event(), asyncio.Event()
    xread = Redis.xread

    async def swallowing_xread(self, streams, count=None, block=None):
        try:
            return await xread(self, streams, count=count, block=block)
        except asyncio.CancelledError:
            swallowed.set()
            return []

    monkeypatch.setattr(Redis, "xread", swallowing_xread)
    consumer, _ = await following_one_item(app, r, revoked.set, poll_interval=5.0)
    consumer.cancel()  # while it waits in its 5 s blocking read
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consumer, TIMEOUT)
    assert swallowed.is_set() and revoked.is_set()


async def test_a_task_that_ends_without_its_end_marker_is_noticed_through_the_backend(eager):
    """A worker that dies writes no end marker: the follower asks the result backend when the stream is quiet."""
    app, r = eager
    task_id = str(uuid.uuid4())
    key = stream_key(task_id)
    r.xadd(key, {"kind": "start", "task": "test.lockstep"})
    r.xadd(key, {"kind": "item", "data": '{"i": 0}'})
    stream = follow(app.AsyncResult(task_id), poll_interval=0.1)
    assert await stream.__anext__() == {"i": 0}
    r.xadd(key, {"kind": "item", "data": '{"i": 1}'})
    app.backend.mark_as_failure(task_id, RuntimeError("Worker exited prematurely"))
    assert await stream.__anext__() == {"i": 1}
    with pytest.raises(TaskFailed, match=r"failed: RuntimeError: Worker exited prematurely$"):
        await stream.__anext__()
    assert stream.finished and not r.exists(key)


async def test_a_signature_is_submitted_on_first_iteration(eager):
    app, r = eager
    for i in range(2):
        ACKS.put(i)  # eager: apply_async runs the whole task inside submit()
    stream = follow(app.tasks["test.lockstep"].s(2), poll_interval=0.2)
    assert stream.task_id is None
    async with stream:
        assert [item["i"] async for item in stream] == [0, 1]
    assert stream.task_id is not None and stream.return_value == {"n": 2}
    assert not r.exists(stream_key(stream.task_id))


def test_report_refuses_what_json_cannot_carry(eager):
    app, _ = eager

    @app.task(bind=True, base=StreamingTask, name="test.bad_item", shared=False)
    def bad_item(self: StreamingTask) -> None:
        self.report({"when": object()})

    result = bad_item.apply()
    assert isinstance(result.result, TypeError)
    assert "test.bad_item.report() takes JSON-serialisable items" in str(result.result)


# --- the example app with a real worker ----------------------------------------------------------

class CeleryWorker:
    """``celery -A examples.celery_progress.tasks worker`` (prefork, one child) on ``broker_url``."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"flash_ws_celery_{uuid.uuid4().hex[:8]}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "examples.celery_progress.tasks", "worker", "--pool=prefork",
             "--concurrency=1", "--loglevel=INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
             "-n", f"flash_ws_test_{uuid.uuid4().hex[:8]}@%h"],
            cwd=ROOT, env={**os.environ, **self.env}, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: teardown can end the children too
        self.app = Celery("flash_ws_celery_test_client", broker=broker_url, backend=broker_url)
        wait_until(self._ready, timeout=3 * TIMEOUT, what=f"the Celery worker answering a ping (log: {self.log})")

    @property
    def env(self) -> dict[str, str]:
        return {"CELERY_BROKER_URL": self.broker_url, "CELERY_RESULT_BACKEND": self.broker_url}

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the Celery worker exited: {self.output()[-3000:]}")
        return bool(self.app.control.ping(timeout=0.5))

    def active(self) -> list[dict]:
        """The tasks the worker is running now."""
        replies = self.app.control.inspect(timeout=1).active() or {}
        return [task for tasks in replies.values() for task in tasks]

    def state(self, task_id: str) -> str:
        return self.app.AsyncResult(task_id).state

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()  # warm shutdown
        try:
            self.proc.wait(10 * max(1, TIMEOUT / 20))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.app.close()


@pytest.fixture(scope="module")
def worker():
    """One redis-server and one worker for the module (each test submits its own tasks)."""
    redis_server = RedisServer()
    try:
        celery_worker = CeleryWorker(redis_server.url)
        try:
            yield celery_worker
        finally:
            celery_worker.stop()
    finally:
        redis_server.stop()


@pytest.fixture(scope="module")
def server(worker):
    """The example app under hypercorn (as the ``serve`` fixture starts it), for the module."""
    live = LiveServer(f"{APP}:server", {"CELERY_PROGRESS_DELAY": "0.05", **worker.env})
    yield live
    live.stop()


def shown(pairs: list, component: str, prop: str) -> list:
    return [props[prop] for cid, props in pairs if cid == component and prop in props]


def patched_rows(pairs: list) -> list[dict]:
    """The rows the run appended to the table, from the ``dash.Patch`` extend operations it sent."""
    rows = []
    for data in shown(pairs, "rows", "data"):
        if data == []:
            continue
        for op in data["operations"]:
            assert (op["operation"], op["location"]) == ("Extend", [])
            rows.extend(op["params"]["value"])
    return rows


async def read_until(run, condition) -> list:
    """The pairs of ``run`` up to the first one for which ``condition(pairs)`` holds."""
    pairs: list = []
    async def read() -> None:
        while not condition(pairs):
            effect = await run.queue.get()
            assert isinstance(effect, Apply), f"the run ended early: {effect}"
            pairs.extend(effect.props)
    await asyncio.wait_for(read(), TIMEOUT)
    return pairs


async def test_every_progress_item_and_row_arrives_in_order_then_the_run_is_done(server, worker):
    async with FlashWsClient.connect(server.url) as client:
        run = await client.start(RUN_TASK, [1, 12, []])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
    assert end.reason == "done", end
    assert shown(pairs, "bar", "value") == [0, *range(13)]  # reset at the start, then each chunk done
    assert shown(pairs, "status", "children") == ["Submitting…", "Queued", *(f"{i} / 12 chunks" for i in range(13)),
                                                  f"Done: {12 * ROWS_PER_CHUNK} rows"]
    assert patched_rows(pairs) == [row for chunk in range(12) for row in chunk_rows(chunk)]
    [task_id] = [t for t in shown(pairs, "task-id", "children") if t]
    assert worker.state(task_id) == "SUCCESS"
    assert not redis.Redis.from_url(worker.broker_url).exists(stream_key(task_id))
    assert shown(pairs, "start", "disabled")[-1] is False


async def test_stop_revokes_the_running_task(server, worker):
    r = redis.Redis.from_url(worker.broker_url)
    async with FlashWsClient.connect(server.url) as client:
        run = await client.start(RUN_TASK, [1, 10_000, []])
        pairs = await read_until(run, lambda pairs: "3 / 10000 chunks" in shown(pairs, "status", "children"))
        [task_id] = [t for t in shown(pairs, "task-id", "children") if t]
        assert worker.state(task_id) == "STARTED" and r.exists(stream_key(task_id))
        await client.cancel(run.run)
        await eventually(lambda: run.ended, what="the end of the cancelled run")
        assert run.ended.reason == "cancelled"
    await eventually(lambda: worker.state(task_id) == "REVOKED", what="the task's state becoming REVOKED")
    await eventually(lambda: not any(t["id"] == task_id for t in worker.active()), what="the worker no longer running the task")
    assert not r.exists(stream_key(task_id))  # deleted by the follower, and no report recreated it
    await eventually(lambda: f"Terminating {task_id}" in worker.output(), what="the worker's log of the termination")


async def test_a_task_that_raises_ends_the_run_with_its_error(server, worker):
    async with FlashWsClient.connect(server.url) as client:
        run = await client.start(RUN_TASK, [1, 6, ["fail"]])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
    [task_id] = [t for t in shown(pairs, "task-id", "children") if t]
    message = f"Celery task {TASK_NAME}[{task_id}] failed: ValueError: chunk 3 is corrupt"
    assert (end.reason, end.error.code, end.error.message, end.reset) == ("error", "callback_error", CALLBACK_ERROR_MESSAGE, True)
    assert f"TaskFailed: {message}" in server.output()  # the whole error is in the server log
    assert shown(pairs, "status", "children")[-1] == f"Failed: {message}"  # on_error's output
    assert patched_rows(pairs) == [row for chunk in range(3) for row in chunk_rows(chunk)]
    assert worker.state(task_id) == "FAILURE"


async def test_a_task_whose_worker_process_dies_ends_the_run_with_an_error(server, worker):
    async with FlashWsClient.connect(server.url) as client:
        run = await client.start(RUN_TASK, [1, 10_000, []])
        pairs = await read_until(run, lambda pairs: "2 / 10000 chunks" in shown(pairs, "status", "children"))
        [task_id] = [t for t in shown(pairs, "task-id", "children") if t]
        [running] = await asyncio.to_thread(worker.active)
        assert running["id"] == task_id
        os.kill(running["worker_pid"], signal.SIGKILL)  # the pool child our worker started for it
        rest, end = await asyncio.wait_for(run.collect(), TIMEOUT)
    assert (end.reason, end.reset) == ("error", True)
    assert end.error.message == CALLBACK_ERROR_MESSAGE, end.error
    assert f"TaskFailed: Celery task {TASK_NAME}[{task_id}] failed: WorkerLostError" in server.output()
    assert shown(rest, "status", "children")[-1].startswith("Failed: Celery task")


def test_a_broker_that_is_not_redis_is_refused_without_its_credentials():
    from celery import Celery

    from flash_ws.celery.redis_stream import stream_url

    with pytest.raises(ValueError, match="is 'amqp'") as refused:
        stream_url(Celery("shop", broker="amqp://shop:S3cretPw@rabbit.internal//"))
    assert "S3cretPw" not in str(refused.value) and "rabbit.internal" not in str(refused.value)
