"""The Python reference client: the flash_ws protocol over a WebSocket or SSE + POST, with resume.

It runs on the same sans-I/O core as the protocol (``ClientSession``) and is what the integration
tests and the benchmarks drive.

    async with FlashWsClient.connect("http://127.0.0.1:8050/") as client:
        run = await client.start("app.load", [1, "rows"])
        pairs, end = await run.collect()      # every [id, props] applied, and how the run ended
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .client_links import UPLINK_LOST_WAIT, CookieJar, Link, LinkClosed, LinkFactory, PostRefused, SseLink, WebSocketLink
from .protocol import Apply, ClientSession, ErrorInfo, Gap, RunEnded, ServerError, SessionLost, backoff_delay, encode_message
from .protocol.close_codes import CloseAction
from .protocol.frames import Bye, ClientFrame

RunEffect = Apply | RunEnded
LINKS: dict[str, LinkFactory] = {"websocket": WebSocketLink, "sse": SseLink}


class RunHandle:
    """The effects of one run, in order, ending with RunEnded."""

    def __init__(self, run: int, cb: str) -> None:
        self.run = run
        self.cb = cb
        self.queue: asyncio.Queue[RunEffect] = asyncio.Queue()
        self.ended: RunEnded | None = None

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
        raise AssertionError("a run's effects end with RunEnded")


class FlashWsClient:
    """One page's session; reconnects and resumes after a dropped connection when ``reconnect``,
    as the close-code table says (flash_ws/protocol/close_codes.py): a connection closed with a
    give_up code (or a POST answered 401/403) stops the client and ends its runs as refused
    (``refusal`` says why). It keeps the server's cookies, as one browser does (``cookies``)."""

    def __init__(self, base_url: str, transport: str = "websocket", origin: str | None = None,
                 reconnect: bool = True, headers: dict[str, str] | None = None, ws_timeout: float = 2.0,
                 links: Mapping[str, LinkFactory] = LINKS, uplink_lost_wait: float = UPLINK_LOST_WAIT,
                 **session_options: Any) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url + "_flash_ws/"
        self.origin = origin or "/".join(base_url.split("/")[:3])
        if transport not in (*LINKS, "auto"):
            raise ValueError(f"transport must be websocket, sse or auto, got {transport!r}")
        self.transport = transport
        self.links = links  # the link class of each transport (the tests' in-process links replace them)
        self.link_class: LinkFactory = links["websocket" if transport == "auto" else transport]
        self.ws_timeout = ws_timeout
        self.uplink_lost_wait = uplink_lost_wait  # SSE + POST: after a POST failed (client_links.py)
        self.headers = headers or {}
        self.reconnect = reconnect
        self.session = ClientSession(**session_options)
        self.cookies = CookieJar()
        self.refusal: LinkClosed | None = None  # why the server refused this client, once it gave up
        self.errors: list[ServerError] = []
        self.lost: list[SessionLost] = []
        self.runs: dict[int, RunHandle] = {}
        self.connections = 0
        self.messages_received = 0  # every message of every connection, as the server sent it
        self.reconnect_times: list[float] = []  # seconds from a drop to the next welcome
        self._link: Link | None = None
        self._welcomed = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._dropped_at: float | None = None
        self.failure: BaseException | None = None
        self.fallback_reason: str | None = None
        self._reconnected_since_drop = False

    @classmethod
    def connect(cls, base_url: str, **options: Any) -> _Connecting:
        """``client = await FlashWsClient.connect(url)`` or ``async with FlashWsClient.connect(url) as client``."""
        return _Connecting(cls(base_url, **options))

    async def open(self) -> FlashWsClient:
        """Connect; with ``transport="auto"``, fall back to SSE + POST like the browser does."""
        if self.transport == "auto":
            try:
                await asyncio.wait_for(self._open_with(self.links["websocket"]), self.ws_timeout)
                return self
            except (TimeoutError, LinkClosed) as exc:
                if isinstance(exc, LinkClosed) and exc.action is CloseAction.GIVE_UP:
                    raise  # a refusal is no reason to try SSE (as in the browser)
                self.fallback_reason = str(exc) or "no welcome within the deadline"
                await self._abandon()
                self.link_class = self.links["sse"]
        await asyncio.wait_for(self._open_with(self.link_class), 10)
        return self

    async def _open_with(self, link_class: LinkFactory) -> None:
        self.link_class = link_class
        link = await self._open_link()  # the first connection must work: errors surface here
        self._task = task = asyncio.get_running_loop().create_task(self._run(link))
        welcomed = asyncio.ensure_future(self._welcomed.wait())
        try:
            await asyncio.wait({welcomed, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            welcomed.cancel()
        if self.refusal is not None:
            raise self.refusal
        if task.done():  # it stopped before any welcome
            raise task.exception() or LinkClosed("the connection closed before its welcome")

    async def _abandon(self) -> None:
        """Drop a first connection that did not work out, before trying another transport."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._link is not None:
            await self._link.close()
            self._link = None
        self._welcomed = asyncio.Event()
        self.session.disconnected()

    async def _open_link(self) -> Link:
        """A new link of ``link_class``, open and past its hello (closed again if opening fails)."""
        link = self.link_class(self.base_url, self.origin, self.headers, self.cookies)
        if isinstance(link, SseLink):
            link.uplink_lost_wait = self.uplink_lost_wait
        try:
            await link.open(self.session.hello())
        except BaseException:
            await link.close()
            raise
        self.connections += 1
        return link

    async def _run(self, link: Link | None) -> None:
        attempt = -1  # the attempt number of the next reconnection, less one
        try:
            while not self._closed:
                action = CloseAction.RESUME
                try:
                    if link is None:
                        link = await self._open_link()
                    self._link = link
                    await self._read(link)
                except LinkClosed as closed:
                    action = closed.action
                    if action is CloseAction.GIVE_UP:
                        self._give_up(closed)
                self._link, self._welcomed = None, asyncio.Event()
                self.session.disconnected()
                if link is not None:
                    await link.close()
                    link = None
                if self._closed or not self.reconnect:
                    return
                if self._dropped_at is None:
                    self._dropped_at = time.monotonic()
                if action is CloseAction.RESUME_NOW and self._reconnected_since_drop:  # at once, after a welcome
                    attempt, self._reconnected_since_drop = -1, False
                    continue
                attempt = 0 if self._reconnected_since_drop else attempt + 1
                self._reconnected_since_drop = False
                await asyncio.sleep(backoff_delay(attempt))
        except Exception as exc:  # a protocol failure: surface it to whoever waits
            self.failure = exc
            for handle in self.runs.values():
                handle.queue.put_nowait(RunEnded(handle.run, handle.cb, "error", None, True))
            raise

    def _give_up(self, refusal: LinkClosed) -> None:
        """The server refused this client: stop, and end every open run as refused."""
        self.refusal, self._closed = refusal, True
        for handle in self.runs.values():
            if handle.ended is None:
                handle.ended = RunEnded(handle.run, handle.cb, "refused", ErrorInfo("connection_refused", str(refusal)), True)
                handle.queue.put_nowait(handle.ended)

    async def _read(self, link: Link) -> None:
        """Receive and apply messages; acks go out with the replies (by count) or from a timer."""
        acks = _AckTimer(self.session, link)
        try:
            while True:
                text = await link.recv()
                self.messages_received += 1
                effects, replies = self.session.receive_message(text, time.monotonic())
                welcomed_now = not self._welcomed.is_set() and self.session.connected
                for effect in effects:
                    self._dispatch(effect)
                if replies:  # after a welcome, what the old connection may have lost goes first
                    await link.send(encode_message(replies))
                if welcomed_now:
                    self._welcome()
                acks.arm()
        finally:
            acks.cancel()

    def _welcome(self) -> None:
        """The link was welcomed, and the welcome's replies (what it must send again) went out."""
        self._reconnected_since_drop = True  # the backoff starts over at the next drop
        if self._dropped_at is not None:
            self.reconnect_times.append(time.monotonic() - self._dropped_at)
            self._dropped_at = None
        self._welcomed.set()

    def _dispatch(self, effect: Any) -> None:
        if isinstance(effect, (Apply, RunEnded)):
            handle = self.runs.get(effect.run)
            if handle is not None:
                if isinstance(effect, RunEnded):
                    handle.ended = effect
                handle.queue.put_nowait(effect)
        elif isinstance(effect, ServerError):
            self.errors.append(effect)
        elif isinstance(effect, SessionLost):
            self.lost.append(effect)
            error = ErrorInfo("worker_lost", "the worker running it stopped before Redis held it") \
                if effect.reason == "worker_lost" else None
            for run, cb in effect.runs.items():
                handle = self.runs.get(run)
                if handle is not None:
                    handle.ended = RunEnded(run, cb, "lost", error, True)
                    handle.queue.put_nowait(handle.ended)
        elif isinstance(effect, Gap):
            raise LinkClosed(f"frames lost between {effect.expected} and {effect.got}: resume")

    async def _send(self, frames: list[ClientFrame]) -> None:
        """Send now when a connection is welcomed; otherwise the next welcome's replies carry what matters."""
        if self._link is not None and self.session.connected:
            try:
                await self._link.send(encode_message(frames))
            except LinkClosed:
                pass

    async def start(self, cb: str, args: list[Any], key: str = "") -> RunHandle:
        """Start ``cb`` with ``args``; ``key`` names a MATCH instance (``run_key``): a start replaces
        the active run of the same callback and key."""
        frame, _replaced = self.session.start(cb, args, key)
        handle = self.runs[frame.run] = RunHandle(frame.run, cb)
        await self._send([frame])
        return handle

    async def cancel(self, run: int) -> None:
        frame = self.session.cancel(run)
        if frame is not None:
            await self._send([frame])

    async def send_raw(self, text: str) -> None:
        """Send a message as is (tests of refusals); over SSE, raise PostRefused if it was refused."""
        assert self._link is not None
        await self._link.send(text)
        if isinstance(self._link, SseLink):
            await self._link.flush()

    async def drop(self) -> None:
        """Cut the current connection without a goodbye, as a network failure would."""
        if self._link is not None:
            await self._link.close()

    async def close(self, bye: bool = True) -> None:
        self._closed = True
        if bye:
            if isinstance(self._link, SseLink) and self.session.connected:
                try:  # a POST of its own, even after a POST failed (client_links.py, send_last)
                    await self._link.send_last(encode_message([Bye()]), 5)
                except (TimeoutError, PostRefused, LinkClosed):
                    pass
            else:
                await self._send([Bye()])
        if self._link is not None:
            await self._link.close()
        if self._task is not None:
            self._task.cancel()


class _AckTimer:
    """Sends the ack that falls due by time (``ClientSession.ack_deadline``) while no message
    comes, so that receiving never waits on a timeout."""

    def __init__(self, session: ClientSession, link: Link) -> None:
        self.session, self.link = session, link
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def arm(self) -> None:
        """Set the timer for the next deadline, unless it is set already."""
        deadline = self.session.ack_deadline()
        if deadline is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, deadline - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        ack = self.session.ack_due(time.monotonic())
        if ack is None:  # acked by count meanwhile: wait for the next deadline
            self.arm()
            return
        task = asyncio.get_running_loop().create_task(self._send(encode_message([ack])))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, text: str) -> None:
        try:
            await self.link.send(text)
        except LinkClosed:
            pass  # the reader sees the link closed

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._sending):
            task.cancel()


class _Connecting:
    def __init__(self, client: FlashWsClient) -> None:
        self.client = client

    def __await__(self):
        return self.client.open().__await__()

    async def __aenter__(self) -> FlashWsClient:
        return await self.client.open()

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.close()
