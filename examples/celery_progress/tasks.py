"""The Celery side: an app on a Redis broker and a task that reports each chunk it processes.

    celery -A examples.celery_progress.tasks worker --loglevel=INFO
"""

from __future__ import annotations

import os
import time

from celery import Celery

from flash_ws.celery import StreamingTask

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
ROWS_PER_CHUNK = 3

app = Celery("celery_progress", broker=BROKER_URL, backend=os.environ.get("CELERY_RESULT_BACKEND", BROKER_URL))
app.conf.update(
    task_track_started=True,
    result_expires=3600,
    worker_prefetch_multiplier=1,  # a long task does not hold back the next one
    broker_connection_retry_on_startup=True,
)


def chunk_rows(chunk: int) -> list[dict]:
    """The rows one chunk produces (deterministic, so a test can check every one)."""
    return [{"chunk": chunk, "row": row, "value": round((chunk * ROWS_PER_CHUNK + row) ** 0.5, 3)}
            for row in range(ROWS_PER_CHUNK)]


# an explicit name: the worker (-A examples.celery_progress.tasks) and the web app agree on it
@app.task(bind=True, base=StreamingTask, name="celery_progress.process_chunks")
def process_chunks(self: StreamingTask, chunks: int, delay: float = 0.3, fail_at: int | None = None) -> dict:
    """"Process" ``chunks`` chunks, ``delay`` seconds each, reporting progress and rows after each.

    With ``fail_at``, raise when reaching that chunk (to show how a failure reaches the page).
    """
    self.report({"done": 0, "total": chunks, "rows": [], "worker": self.request.hostname})
    for chunk in range(chunks):
        time.sleep(delay)  # stands in for real work
        if chunk == fail_at:
            raise ValueError(f"chunk {chunk} is corrupt")
        self.report({"done": chunk + 1, "total": chunks, "rows": chunk_rows(chunk)})
    return {"chunks": chunks, "rows": chunks * ROWS_PER_CHUNK}
