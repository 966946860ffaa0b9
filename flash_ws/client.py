"""The Python reference client: speaks the flash_ws protocol over a WebSocket with ``websockets``.

Used by the integration tests and the benchmarks; it runs on the same sans-I/O core
(``ClientSession``) the protocol defines.

    async with FlashWsClient.connect("ws://127.0.0.1:8050/_flash_ws/ws") as client:
        run = await client.start("app.load", [1, "rows"])
        async for effect in run:        # Apply(...) ... then RunEnded(...)
            ...
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Optional, Union

import websockets

from .protocol import Apply, ClientSession, Gap, RunEnded, ServerError, SessionLost, encode_message
from .protocol.frames import Bye, ClientFrame

RunEffect = Union[Apply, RunEnded]


class RunHandle:
    """The effects of one run, in order, ending with RunEnded."""

    def __init__(self, run: int, cb: str) -> None:
        self.run = run
        self.cb = cb
        self.queue: asyncio.Queue[RunEffect] = asyncio.Queue()
        self.ended: Optional[RunEnded] = None

    def __aiter__(self) -> AsyncIterator[RunEffect]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[RunEffect]:
        while True:
            effect = await self.queue.get()
            yield effect
            if isinstance(effect, RunEnded):
                return

    async def collect(self) -> tuple[list[Any], RunEnded]:
        """All [id, props] pairs applied by this run, and how it ended."""
        pairs: list[Any] = []
        async for effect in self:
            if isinstance(effect, Apply):
                pairs.extend(effect.props)
            else:
                return pairs, effect
        raise AssertionError("unreachable")


class FlashWsClient:
    """One session over one WebSocket connection."""

    def __init__(self, ws: Any, session: ClientSession) -> None:
        self.ws = ws
        self.session = session
        self.errors: list[ServerError] = []
        self.runs: dict[int, RunHandle] = {}
        self._reader: Optional[asyncio.Task[None]] = None
        self._welcomed = asyncio.Event()

    @classmethod
    def connect(cls, url: str, origin: Optional[str] = None, **options: Any) -> "_Connecting":
        return _Connecting(url, origin, options)

    async def _open(self) -> None:
        await self._send([self.session.hello()])
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self._welcomed.wait(), 10)

    async def _send(self, frames: list[ClientFrame]) -> None:
        await self.ws.send(encode_message(frames))

    async def start(self, cb: str, args: list[Any]) -> RunHandle:
        frame, _replaced = self.session.start(cb, args)
        handle = self.runs[frame.run] = RunHandle(frame.run, cb)
        await self._send([frame])
        return handle

    async def cancel(self, run: int) -> None:
        frame = self.session.cancel(run)
        if frame is not None:
            await self._send([frame])

    async def send_raw(self, text: str) -> None:
        """Send a message as is (tests of refusals)."""
        await self.ws.send(text)

    async def close(self, bye: bool = True) -> None:
        if bye:
            try:
                await self._send([Bye()])
            except websockets.ConnectionClosed:
                pass
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def _read(self) -> None:
        try:
            while True:
                timeout = self.session.ack_deadline()
                wait = None if timeout is None else max(0.0, timeout - time.monotonic())
                try:
                    text = await asyncio.wait_for(self.ws.recv(), wait)
                except asyncio.TimeoutError:
                    ack = self.session.ack_due(time.monotonic())
                    if ack is not None:
                        await self._send([ack])
                    continue
                effects, replies = self.session.receive_message(text, time.monotonic())
                self._welcomed.set()
                for effect in effects:
                    self._dispatch(effect)
                if replies:
                    await self._send(replies)
        except websockets.ConnectionClosed:
            pass

    def _dispatch(self, effect: Any) -> None:
        if isinstance(effect, (Apply, RunEnded)):
            handle = self.runs.get(effect.run)
            if handle is not None:
                if isinstance(effect, RunEnded):
                    handle.ended = effect
                handle.queue.put_nowait(effect)
        elif isinstance(effect, ServerError):
            self.errors.append(effect)
        elif isinstance(effect, (Gap, SessionLost)):
            raise ConnectionError(f"session cannot continue: {effect}")


class _Connecting:
    """``async with FlashWsClient.connect(url) as client``, or ``client = await ...``."""

    def __init__(self, url: str, origin: Optional[str], options: dict[str, Any]) -> None:
        self.url, self.origin, self.options = url, origin, options
        self.client: Optional[FlashWsClient] = None

    def __await__(self):
        return self._connect().__await__()

    async def _connect(self) -> FlashWsClient:
        origin = self.origin or "http://" + self.url.split("/")[2]
        ws = await websockets.connect(self.url, origin=origin, max_size=None)  # type: ignore[arg-type]
        self.client = FlashWsClient(ws, ClientSession(**self.options))
        await self.client._open()
        return self.client

    async def __aenter__(self) -> FlashWsClient:
        return await self._connect()

    async def __aexit__(self, *exc: Any) -> None:
        if self.client is not None:
            await self.client.close()
