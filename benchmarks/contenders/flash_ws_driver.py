"""Drives flash_ws with its Python reference client, ``FlashWsClient``.

``flash_ws-ws`` uses ``transport="auto"`` (the WebSocket, else the SSE + POST fallback a page would
get); ``flash_ws-sse`` forces ``transport="sse"``. One client is one page: one session for every
phase of a row, the eight concurrent streams being eight distinct event callbacks on it.

The reference client has no heartbeat watchdog (the browser client has: a connection silent for
``heartbeat_interval + heartbeat_timeout`` is closed and replaced). ``WatchdogClient`` adds it, with
the benchmark app's 1 s + 1 s, and applies it to connection attempts too (a connection accepted
during an outage never answers). Everything else is the reference client as it is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.contenders.base import ContenderUnavailable, Driver, Recorder, StreamSpec
from flash_ws.client import FlashWsClient
from flash_ws.client_links import Link, LinkClosed, WebSocketLink
from flash_ws.protocol import Apply, RunEnded

APP_MODULE = "benchmarks.contenders.flash_ws_app"
SILENCE_LIMIT_S = 2.0  # the benchmark app's heartbeat_interval + heartbeat_timeout


def callback_id(name: str) -> str:
    return f"{APP_MODULE}.{name}"


class WatchedLink:
    """A link that a watchdog closes after ``limit`` seconds without a message from the server.

    The watchdog closes the underlying link rather than timing out ``recv``, so ``recv`` stays exactly
    as safe to cancel as the link's own.
    """

    def __init__(self, link: Link, limit: float) -> None:
        self.link = link
        self.limit = limit
        self.heard = time.monotonic()
        self.dead = False
        self._died = asyncio.Event()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            silent = time.monotonic() - self.heard
            if silent >= self.limit:
                break
            await asyncio.sleep(self.limit - silent)
        self.dead = True
        self._died.set()
        if isinstance(self.link, WebSocketLink):
            self.link.ws.transport.abort()  # no closing handshake on a dead path, as a browser does
        else:
            await self.link.close()  # the event stream ends: recv raises LinkClosed

    async def send(self, text: str) -> None:
        """Send; a send still pending when the link is declared dead (a POST on a dead path never
        gets its answer) fails with LinkClosed instead of hanging."""
        if self.dead:
            raise LinkClosed("the link is dead")
        sending = asyncio.ensure_future(self.link.send(text))
        sending.add_done_callback(_retrieve)
        died = asyncio.ensure_future(self._died.wait())
        try:
            await asyncio.wait({sending, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
        if not sending.done():
            sending.cancel()
            raise LinkClosed("the link died while sending")
        sending.result()

    async def recv(self) -> str:
        message = await self.link.recv()
        self.heard = time.monotonic()
        return message

    async def close(self) -> None:
        self._watchdog.cancel()
        if self.dead and isinstance(self.link, WebSocketLink):
            return  # aborted already
        await self.link.close()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned send as seen (it failed with its dead link)."""
    if not future.cancelled():
        future.exception()


class WatchdogClient(FlashWsClient):
    """``FlashWsClient`` with the browser client's watchdog; reports each applied update at once."""

    def __init__(self, base_url: str, silence_limit: float = SILENCE_LIMIT_S, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.silence_limit = silence_limit
        self.on_apply: Any | None = None  # on_apply(run, props) as each update is applied

    async def _open_link(self) -> Link:
        try:
            link = await asyncio.wait_for(super()._open_link(), self.silence_limit)
        except TimeoutError:
            raise LinkClosed(f"no answer within {self.silence_limit:g}s") from None
        if isinstance(link, WebSocketLink):
            link.ws.close_timeout = self.silence_limit  # a closing handshake waits no longer than that
        return WatchedLink(link, self.silence_limit)  # type: ignore[return-value]

    def _dispatch(self, effect: Any) -> None:
        if isinstance(effect, Apply) and self.on_apply is not None:
            self.on_apply(effect.run, effect.props)
            return
        super()._dispatch(effect)


class FlashWsDriver(Driver):

    def __init__(self, transport: str) -> None:
        super().__init__()
        self.requested = transport
        self.client: WatchdogClient | None = None
        self._keys: dict[str, str] = {}  # component id -> stream key (known before the run starts)
        self._recorder: Recorder | None = None

    async def open(self, base_url: str) -> None:
        self.client = WatchdogClient(base_url, transport=self.requested)
        self.client.on_apply = self._applied
        try:
            await self.client.open()
        except (TimeoutError, LinkClosed, OSError) as exc:
            await self.client.close(bye=False)
            raise ContenderUnavailable(f"flash_ws could not connect ({self.requested}): {exc}") from exc
        used = "websocket" if self.client.link_class is WebSocketLink else "sse"
        self.transport = used + (" (fallback)" if self.client.fallback_reason else "")
        if self.client.fallback_reason:
            self.notes.append(f"fell back to SSE + POST: {self.client.fallback_reason}")

    def _applied(self, run: int, props: list[Any]) -> None:
        if self._recorder is None:
            return
        for component, values in props:
            key = self._keys.get(component)
            if key is not None:
                update = values["children"]
                self._recorder.arrive(key, update["seq"], update["ts"])

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        assert self.client is not None
        self._recorder = recorder
        handles = []
        for spec in streams:  # updates may arrive before start() returns (SSE: the POST's answer is slower)
            self._keys[spec.component] = spec.key
        for spec in streams:
            handles.append((spec, await self.client.start(callback_id(spec.name), [1, spec.params.to_json()])))

        async def until_end(spec: StreamSpec, handle: Any) -> None:
            while True:
                effect = await handle.queue.get()
                if isinstance(effect, RunEnded):
                    recorder.end(spec.key, effect.reason)
                    return

        await asyncio.gather(*(until_end(spec, handle) for spec, handle in handles))

    async def close(self) -> None:
        if self.client is not None:
            self.connections = self.client.connections
            if self.client.failure is not None:
                self.notes.append(f"client failure: {self.client.failure!r}")
            if self.client.lost:
                self.notes.append(f"sessions lost: {len(self.client.lost)}")
            await self.client.close()
