"""One load-generating process of the ``scale`` scenario's ``dash-stream`` contender: many pages
speaking Dash 4.5's multiplexed streaming protocol on one asyncio loop.

``python -m benchmarks.dash_stream_load --urls URL[,URL...]``: the commands and answers of
``benchmarks.scale_load`` (``warmup``, ``connect``, ``run``, ``close``, one JSON object per line on
stdin / stdout), the same ``done`` report. What a page does is what Dash 4.5's renderer does in its
SharedWorker (``dash-stream-worker.js``), as this client understands it:

- **open**: ``GET /``; the page's server-signed ``end_id`` is in ``<script id="_dash-config">``;
- **start a stream**: when no stream of the page is running, pick a fresh ``downlinkId`` and reset the
  cursor to 0; ``POST /_dash-update-component?endId=..&downlinkId=..`` with the callback's body plus
  ``"streamConnection": {"requestId": id}``, answered at once by ``{"multi": true, "stream": true}``;
  once acknowledged, open the downlink if it is not open;
- **downlink**: ``POST`` the same URL with ``{"streamDownlink": {"from": cursor}}``: an NDJSON body,
  one envelope per line, ``{"rid", "frame", "seq"}`` (blank lines are keepalives); ``seq`` becomes the
  cursor; a frame ``{"done": true}`` (with ``error`` when it failed) ends request ``rid``;
  ``{"reset": true}`` means the store lost the page's frames: every run ends ``reset``. While runs
  remain, a downlink whose body ends after some envelopes is asked for again at once from the cursor,
  one that fails (or ends empty) after 1 s, doubling up to 5 s; it closes once no run remains.

Uplink requests of one page share one keep-alive connection (one at a time); the downlink has its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.parse
from collections import Counter, defaultdict
from typing import Any

from benchmarks import scale_load
from benchmarks.http_lite import Connection, HttpError
from benchmarks.scale_load import Book, LoopLag
from benchmarks.schedule import sleep_until, starts_in_order
from benchmarks.stats import EMPTY, account

CONNECT_ATTEMPTS = 3
RECONNECT_DELAY_S, MAX_RECONNECT_DELAY_S = 1.0, 5.0  # dash-stream-worker.js: reconnectDelay, maxReconnectDelay
UPDATE_PATH = "/_dash-update-component"
_CONFIG = re.compile(rb'<script id="_dash-config" type="application/json">(.*?)</script>', re.S)


def callback_body(index: int, params: dict[str, Any]) -> dict[str, Any]:
    """The body Dash's renderer posts to run callback ``s<index>`` of ``benchmarks.dash_stream_scale_app``."""
    return {"output": f"out-s{index}.data", "outputs": {"id": f"out-s{index}", "property": "data"},
            "inputs": [{"id": f"go-s{index}", "property": "n_clicks", "value": 1}],
            "changedPropIds": [f"go-s{index}.n_clicks"],
            "state": [{"id": "params", "property": "data", "value": params}]}


class DashPage:
    """One page: its token, its uplink connection, its downlink, the runs it waits for."""

    counter = 0

    def __init__(self, base_url: str, book: Book) -> None:
        url = urllib.parse.urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.book = book
        self.uplink = Connection(self.host, self.port)
        self.token = ""
        self.downlink_id = ""
        self.cursor = 0
        self.pending: dict[str, int] = {}  # request id -> stream index, until its done frame
        self.seqs: defaultdict[str, list[int]] = defaultdict(list)  # request id -> update seqs in arrival order
        self.connections = 0  # downlinks opened
        self.failure: str | None = None
        self.errors: list[str] = []
        self._downlink: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _target(self) -> str:
        query = urllib.parse.urlencode({"endId": self.token, "downlinkId": self.downlink_id})
        return f"{UPDATE_PATH}?{query}"

    async def open(self) -> None:
        async with self._lock:
            status = await self.uplink.request("GET", "/")
            html = await self.uplink.body()
        found = _CONFIG.search(html)
        if status != 200 or not found:
            raise HttpError(f"GET /: status {status}, {'a' if found else 'no'} _dash-config")
        self.token = json.loads(found.group(1))["end_id"]

    async def start(self, index: int, params: dict[str, Any]) -> None:
        if not self.pending:
            DashPage.counter += 1
            self.downlink_id, self.cursor = f"p{os.getpid()}-{DashPage.counter}", 0
        request_id = f"{self.downlink_id}-{index}"
        self.pending[request_id] = index
        body = json.dumps({**callback_body(index, params), "streamConnection": {"requestId": request_id}}).encode()
        try:
            async with self._lock:
                status = await self.uplink.request("POST", self._target(), body)
                answer = await self.uplink.body()
        except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
            status, answer = 0, f"{type(exc).__name__}: {exc}".encode()
        if status != 200 or not json.loads(answer).get("stream"):
            self._end(request_id, "refused")
            self.errors.append(f"uplink {status}: {answer[:120]!r}")
            return
        if self._downlink is None or self._downlink.done():
            self._downlink = asyncio.get_running_loop().create_task(self._read_downlink())

    def _end(self, request_id: str, reason: str) -> None:
        if self.pending.pop(request_id, None) is not None:
            self.book.ended(reason)

    def _dispatch(self, envelope: dict[str, Any]) -> None:
        if envelope.get("reset"):
            for request_id in list(self.pending):
                self._end(request_id, "reset")
            return
        if isinstance(envelope.get("seq"), int):
            self.cursor = envelope["seq"]
        request_id, frame = envelope.get("rid"), envelope.get("frame")
        if request_id not in self.pending or not isinstance(frame, dict):
            return
        if frame.get("done"):
            if frame.get("error"):
                self.errors.append(str(frame["error"])[:200])
            self._end(request_id, "error" if frame.get("error") else "done")
            return
        now = time.time()
        book = self.book
        for props in frame["response"].values():
            update = props["data"]
            self.seqs[request_id].append(update["seq"])
            book.latency_ms.append((now - update["ts"]) * 1000)
            book.lag_ms.append((update["ts"] - update["due"]) * 1000)
            book.arrivals.append(now)

    async def _read_downlink(self) -> None:
        """Read the downlink until no run is pending. As the renderer: a body that ends is asked for
        again at once; a failure waits 1 s, doubling up to 5 s."""
        connection = Connection(self.host, self.port)
        delay = RECONNECT_DELAY_S
        try:
            while self.pending:
                self.connections += 1
                try:
                    body = json.dumps({"streamDownlink": {"from": self.cursor}}).encode()
                    status = await connection.request("POST", self._target(), body)
                    if status != 200:
                        raise HttpError(f"downlink status {status}")
                    buffer, envelopes = b"", 0
                    async for chunk in connection.chunks():
                        buffer += chunk
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if line.strip():
                                envelopes += 1
                                self._dispatch(json.loads(line))
                        if not self.pending:
                            return
                    if not envelopes:
                        raise HttpError("downlink closed without data")
                    delay = RECONNECT_DELAY_S
                except (OSError, HttpError, asyncio.IncompleteReadError) as exc:
                    self.failure = f"{type(exc).__name__}: {exc}"[:200]
                    connection.close()
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, MAX_RECONNECT_DELAY_S)
        finally:
            connection.close()

    async def close(self) -> None:
        if self._downlink is not None:
            self._downlink.cancel()
        self.uplink.close()


class LoadProcess:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.book = Book()
        self.pages: list[DashPage] = []
        self.lag = LoopLag()

    async def warmup(self, urls: list[str]) -> dict[str, Any]:
        for url in urls:
            book = Book()
            book.expected_runs = 1
            page = DashPage(url, book)
            await asyncio.wait_for(page.open(), 30)
            await page.start(0, {"count": 5, "rate": 100})
            await asyncio.wait_for(book.all_ended.wait(), 30)
            await page.close()
        return {"event": "warm"}

    async def _open(self, url: str) -> tuple[DashPage | None, float, str | None]:
        error = None
        for _attempt in range(CONNECT_ATTEMPTS):
            page = DashPage(url, self.book)
            began = time.monotonic()
            try:
                await page.open()
                return page, time.monotonic() - began, None
            except (OSError, HttpError, ValueError, asyncio.IncompleteReadError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
                await page.close()
                await asyncio.sleep(0.5)
        return None, 0.0, error

    async def connect(self, sessions: int, rate: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        tasks = []
        for k in range(sessions):
            await sleep_until(loop, began + k / rate)
            tasks.append(loop.create_task(self._open(self.urls[k % len(self.urls)])))
        results = await asyncio.gather(*tasks)
        self.pages = [page for page, _t, _e in results if page is not None]
        errors = Counter(error for page, _t, error in results if page is None)
        return {"event": "connected", "sessions": len(self.pages), "failed": sessions - len(self.pages),
                "errors": dict(errors.most_common(5)), "connect_ms": [t * 1000 for p, t, _e in results if p],
                "elapsed_s": round(loop.time() - began, 3)}

    async def run(self, streams: int, count: int, rate: float, spread: float, timeout: float,
                  emit: Any, phases: str = "together") -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        book = self.book
        book.expected_runs = streams * len(self.pages)
        if book.expected_runs == 0:
            book.all_ended.set()
        self.lag.start()
        began = loop.time()
        starts = []
        for offset, index, stream in starts_in_order(len(self.pages), streams, spread, phases):
            await sleep_until(loop, began + offset)
            starts.append(loop.create_task(self.pages[index].start(stream, {"count": count, "rate": rate})))
        failed = [r for r in await asyncio.gather(*starts, return_exceptions=True) if isinstance(r, BaseException)]
        emit({"event": "started", "at": time.time()})
        try:
            await asyncio.wait_for(book.all_ended.wait(), timeout)
            timed_out = False
        except TimeoutError:
            timed_out = True
        lag = self.lag.stop()
        report = EMPTY
        for page in self.pages:
            for seqs in page.seqs.values():
                report += account(seqs, produced=count)
            if (missing := streams - len(page.seqs)) > 0:  # a run that delivered nothing lost all of it
                report += account([], produced=count * missing)
        return {
            "event": "done", "timed_out": timed_out, "runs": book.expected_runs, "ends": dict(book.ends),
            "received": report.received, "distinct": report.distinct, "lost": report.lost,
            "duplicated": report.duplicated, "reordered": report.reordered,
            "reconnections": sum(max(0, p.connections - 1) for p in self.pages),
            "sessions_lost": 0,
            "failures": ([repr(f)[:200] for f in failed] + [p.failure for p in self.pages if p.failure])[:5],
            "server_errors": [e for p in self.pages for e in p.errors][:5],
            "latency_ms": [round(v, 3) for v in book.latency_ms],
            "lag_ms": [round(v, 3) for v in book.lag_ms],
            "arrivals": [round(v, 4) for v in book.arrivals],
            "loop_lag_ms": lag,
        }

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(page.close() for page in self.pages), return_exceptions=True)
        return {"event": "closed"}


def main() -> None:
    scale_load.main("python -m benchmarks.dash_stream_load", LoadProcess)


if __name__ == "__main__":
    main()
