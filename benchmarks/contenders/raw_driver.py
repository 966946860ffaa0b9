"""Drives raw-websockets: one ``websockets`` client connection, every stream on it.

Library defaults (keepalive pings every 20 s, 20 s timeout). No resume: after a drop the driver
reconnects at once and starts the unfinished streams again; the server numbers on, so updates
produced and never delivered count as lost.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from benchmarks.contenders.base import ContenderUnavailable, Driver, Recorder, StreamSpec


class RawDriver(Driver):

    def __init__(self) -> None:
        super().__init__()
        self._url = ""
        self._ws: ClientConnection | None = None
        self._active: dict[str, StreamSpec] = {}  # key -> stream
        self._by_component: dict[str, StreamSpec] = {}
        self._recorder: Recorder | None = None
        self._changed = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self, base_url: str) -> None:
        self._url = "ws://" + urlsplit(base_url).netloc + "/"
        try:
            self._ws = await self._connect()
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise ContenderUnavailable(f"the WebSocket cannot open: {exc}") from exc
        self.transport = "websocket"
        self._connected.set()
        self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _connect(self) -> ClientConnection:
        ws = await connect(self._url, max_size=None, proxy=None, close_timeout=1)  # type: ignore[arg-type]
        self.connections += 1
        return ws

    async def _serve(self) -> None:
        while not self._closing:
            assert self._ws is not None
            try:
                async for text in self._ws:
                    self._receive(json.loads(text))
            except websockets.ConnectionClosed:
                pass
            self._connected.clear()
            while not self._closing:
                try:
                    self._ws = await self._connect()
                    break
                except (TimeoutError, OSError, websockets.InvalidHandshake):
                    await asyncio.sleep(0.1)
            self._connected.set()
            for spec in list(self._active.values()):
                if self._recorder is not None:
                    self._recorder.restarts += 1
                await self._start(spec)

    def _receive(self, message: Any) -> None:
        recorder = self._recorder
        if isinstance(message, list):
            for component, props in message:
                spec = self._by_component.get(component)
                if spec is not None and recorder is not None:
                    update = props["children"]
                    recorder.arrive(spec.key, update["seq"], update["ts"])
        elif isinstance(message, dict) and "fin" in message:
            spec = self._active.pop(message["fin"], None)
            if spec is not None and recorder is not None:
                recorder.end(spec.key)
                self._changed.set()

    async def _start(self, spec: StreamSpec) -> None:
        self._active[spec.key] = spec
        assert self._ws is not None
        try:
            await self._ws.send(json.dumps({"start": spec.name, "params": spec.params.to_json()}))
        except websockets.ConnectionClosed:
            pass  # started again after the reconnection

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        self._recorder = recorder
        for spec in streams:
            self._by_component[spec.component] = spec
        await self._connected.wait()
        for spec in streams:
            await self._start(spec)
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
                await asyncio.wait_for(self._ws.close(), 2)
            except (TimeoutError, websockets.ConnectionClosed, OSError):
                pass
