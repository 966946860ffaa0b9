"""Drives Dash's websocket callbacks the way Dash's renderer and its SharedWorker do.

The messages (``dash/backends/_quart.py`` ``serve_websocket_callback``, ``backends/ws.py`` and the
renderer's ``dash-ws-worker.js``): the client sends ``{"type": "callback_request", "rendererId",
"requestId", "payload"}`` with the usual callback body (``output``, ``outputs``, ``inputs``, ``state``,
``changedPropIds``); the server answers with ``set_props`` messages (``payload: {componentId,
props}``), possibly batched into one JSON array, then ``callback_response``; ``heartbeat`` is
answered by ``heartbeat_ack``.

What the worker does on trouble, reproduced here: it reconnects after ``1 s * 2**retry + U(0, 1) s``
(at most 30 s, 10 retries), sends a ``heartbeat`` every 30 s and closes a socket whose ack has not
come within 10 s. Dash has no resume: a callback running on a dropped socket is gone, and after a
reconnection the renderer re-triggers only callbacks without Inputs. The streams here have an Input
(a button), so the driver plays the user who clicks again: it re-sends the ``callback_request`` of
every unfinished stream as soon as the socket is back. The server numbers on from where the stream
was cut, so every update produced and never delivered counts as lost.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.contenders.base import ContenderUnavailable, Driver, Recorder, StreamSpec

PATH = "_dash-ws-callback"
INITIAL_RETRY_S, MAX_RETRY_S, MAX_RETRIES = 1.0, 30.0, 10
HEARTBEAT_S, HEARTBEAT_TIMEOUT_S = 30.0, 10.0


def retry_delay(retry: int, rand: float) -> float:
    """The worker's reconnection delay before retry number ``retry`` (0 first)."""
    return min(INITIAL_RETRY_S * 2**retry + rand, MAX_RETRY_S)


class DashDriver(Driver):

    def __init__(self) -> None:
        super().__init__()
        self.renderer_id = str(uuid.uuid4())
        self._requests = 0
        self._outputs: dict[str, str] = {}  # stream name -> the callback's output id
        self._ws: ClientConnection | None = None
        self._url = self._origin = ""
        self._active: dict[str, StreamSpec] = {}  # request id -> stream
        self._by_component: dict[str, StreamSpec] = {}
        self._recorder: Recorder | None = None
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._acked = asyncio.Event()

    async def open(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._url = f"ws://{parts.netloc}/{PATH}"
        dependencies = await asyncio.to_thread(_get_json, f"{self._origin}/_dash-dependencies")
        for dependency in dependencies:  # what the page learns on load
            trigger = dependency["inputs"][0]["id"]
            if trigger.startswith("go-"):
                self._outputs[trigger[3:]] = dependency["output"]
        try:
            self._ws = await self._connect()
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise ContenderUnavailable(f"Dash's callback socket cannot open: {exc}") from exc
        self.transport = "websocket"
        self._connected.set()
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _connect(self) -> ClientConnection:
        ws = await connect(self._url, origin=self._origin, max_size=None, ping_interval=None,  # type: ignore[arg-type]
                           open_timeout=None, close_timeout=1, proxy=None)
        self.connections += 1
        return ws

    async def _serve(self) -> None:
        """Receive until closed; after a drop, reconnect like the worker and start unfinished streams again."""
        retry = 0
        while not self._closing:
            assert self._ws is not None
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(self._ws))
            try:
                async for text in self._ws:
                    self._receive(json.loads(text))
            except websockets.ConnectionClosed:
                pass
            finally:
                heartbeat.cancel()
            self._connected.clear()
            if self._closing:
                return
            while True:  # the worker's scheduleReconnect
                if retry >= MAX_RETRIES:
                    self.notes.append("gave up reconnecting after 10 retries")
                    self._fail_all("gave up reconnecting")
                    return
                await asyncio.sleep(retry_delay(retry, random.random()))
                retry += 1
                try:
                    self._ws = await self._connect()
                    break
                except (OSError, websockets.InvalidHandshake):
                    continue
            retry = 0
            self._connected.set()
            for spec in list(self._active.values()):  # the user clicks again
                if self._recorder is not None:
                    self._recorder.restarts += 1
                await self._request(spec)

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self._acked.clear()
            await ws.send(json.dumps({"type": "heartbeat"}))
            try:
                await asyncio.wait_for(self._acked.wait(), HEARTBEAT_TIMEOUT_S)
            except TimeoutError:
                ws.transport.abort()  # "Heartbeat timeout"
                return

    def _receive(self, message: Any) -> None:
        for item in message if isinstance(message, list) else [message]:
            kind = item.get("type")
            if kind == "set_props":
                payload = item["payload"]
                spec = self._by_component.get(payload["componentId"])
                update = payload["props"].get("children")
                if spec is not None and self._recorder is not None and isinstance(update, dict):
                    self._recorder.arrive(spec.key, update["seq"], update["ts"])
            elif kind == "callback_response":
                spec = self._active.pop(item.get("requestId"), None)
                if spec is not None and self._recorder is not None:
                    status = (item.get("payload") or {}).get("status")
                    self._recorder.end(spec.key, "done" if status in ("ok", "prevent_update") else f"callback {status}")
                    self._changed.set()
            elif kind == "heartbeat_ack":
                self._acked.set()

    def _fail_all(self, why: str) -> None:
        for spec in self._active.values():
            if self._recorder is not None:
                self._recorder.end(spec.key, why)
        self._active.clear()
        self._changed.set()

    async def _request(self, spec: StreamSpec) -> None:
        self._requests += 1
        request_id = f"{self.renderer_id}-{self._requests}"
        for old in [rid for rid, active in self._active.items() if active.key == spec.key]:
            del self._active[old]
        self._active[request_id] = spec
        message = {"type": "callback_request", "rendererId": self.renderer_id, "requestId": request_id,
                   "payload": {
                       "output": self._outputs[spec.name], "outputs": [],
                       "inputs": [{"id": f"go-{spec.name}", "property": "n_clicks", "value": self._requests}],
                       "state": [{"id": "params", "property": "data", "value": spec.params.to_json()}],
                       "changedPropIds": [f"go-{spec.name}.n_clicks"]}}
        assert self._ws is not None
        try:
            await self._ws.send(json.dumps(message))
        except websockets.ConnectionClosed:
            pass  # sent again after the reconnection

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        self._recorder = recorder
        for spec in streams:
            self._by_component[spec.component] = spec
        await self._connected.wait()  # the renderer queues requests until the socket is open
        for spec in streams:
            await self._request(spec)
        keys = {spec.key for spec in streams}
        while not keys <= recorder.ended.keys():
            self._changed.clear()
            await self._changed.wait()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
        if self._ws is not None:
            try:
                await asyncio.wait_for(self._ws.close(), 2)  # close_timeout is 1 s
            except (TimeoutError, websockets.ConnectionClosed, OSError):
                pass


def _get_json(url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return json.loads(response.read())
