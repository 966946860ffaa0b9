"""Stream a Celery task's progress and partial results through an event callback.

The task side appends every item it reports to a Redis Stream keyed by its task id; the callback
side reads that stream in order (``XREAD BLOCK``) and yields each item as it arrives, so no item is
skipped, duplicated or reordered (unlike polling ``update_state`` meta, which only keeps the
latest value). Closing the callback (the page cancels it, starts it again or goes away) revokes
the task when the follower submitted it (``follow(task.s(...))``); a task submitted elsewhere and
followed by its ``AsyncResult`` is revoked only when asked (``follow(result, revoke=True)``).

Worker side::

    from celery import Celery
    from flash_ws.celery import StreamingTask

    celery_app = Celery("tasks", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")

    @celery_app.task(bind=True, base=StreamingTask)
    def crunch(self, chunks):
        for i in range(chunks):
            rows = work_on(i)
            self.report({"done": i + 1, "total": chunks, "rows": rows})   # JSON-serialisable
        return {"chunks": chunks}

Dash side::

    from flash_ws.celery import follow

    @event_callback(Input("start", "n_clicks"), cancel=[(Input("stop", "n_clicks"), 0)])
    async def run(n_clicks):
        async with follow(crunch.s(20)) as items:     # submits the task, revokes it on close
            async for item in items:
                yield stream_props("progress", {"value": item["done"], "max": item["total"]})

Items must be JSON-serialisable (``json.dumps``): they travel through Redis as JSON, so tuples
come back as lists and dict keys as strings. The stream lives in the Redis of the Celery broker
(``broker_url``) unless the app sets ``flash_ws_stream_url``; it needs Redis 6.2 or later. A result
backend is strongly advised: without one, a task whose worker dies is only noticed through
``idle_timeout``.

Install with ``pip install "flash_ws[celery]"``. Modules: ``task`` (the worker side),
``follower`` (the event callback side), ``redis_stream`` (the stream's key and Redis, shared by both).
"""

try:
    from .follower import TaskFailed, TaskStream, follow
    from .redis_stream import STREAM_PREFIX, stream_key
    from .task import StreamingTask
except ModuleNotFoundError as exc:
    missing = (exc.name or "").split(".")[0]
    if missing not in ("celery", "redis", "kombu"):
        raise
    raise ModuleNotFoundError(f"flash_ws.celery needs the {missing} package: pip install 'flash_ws[celery]' ({exc})",
                              name=missing) from exc

__all__ = ["STREAM_PREFIX", "StreamingTask", "TaskFailed", "TaskStream", "follow", "stream_key"]
