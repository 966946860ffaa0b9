"""Refused WebSockets, modelled on a stock nginx ``location / { proxy_pass ...; }``.

nginx does not pass hop-by-hop headers on: unless told otherwise (``proxy_set_header Upgrade
$http_upgrade``), it sends the upstream ``Connection: close`` and drops ``Upgrade``, ``Keep-Alive`` and
``TE``. A WebSocket handshake therefore reaches the server as a plain GET that still carries its
``Sec-WebSocket-*`` headers; the server answers an ordinary HTTP response (400, 404, 426: whatever it
does with a GET on that path), never a 101, and the browser's WebSocket fails.

The model, on the client -> server byte stream:

- an ``HTTP/1.1`` request with ``Upgrade: websocket`` loses its ``Upgrade``, ``Connection``,
  ``Keep-Alive``, ``TE`` and ``Proxy-Connection`` headers and gains ``Connection: close``; the request
  line and every other header go through unchanged;
- every other request goes through byte for byte, and requests are followed through keep-alive
  (bodies skipped by Content-Length or chunked framing), so an upgrade on a reused connection is
  caught too;
- once the stream is not HTTP/1.x, or uses framing this cannot follow, the rest passes unchanged.

Not modelled: nginx's HTTP/1.0 to the upstream, its ``Host`` rewrite, its response buffering.
"""

from __future__ import annotations

import enum
import re

REMOVED = frozenset({b"connection", b"upgrade", b"keep-alive", b"te", b"proxy-connection"})
REQUEST_LINE = re.compile(rb"([A-Z]+) [!-~]+ HTTP/1\.([01])")
# What the start of a request line can look like before its CRLF has arrived.
REQUEST_LINE_PREFIX = re.compile(rb"[A-Z]{0,20}( [!-~]*( [!-~]*)?)?\r?")
MAX_HEAD = 64 * 1024
MAX_LINE = 8 * 1024


class _State(enum.Enum):
    HEAD = "head"  # waiting for a complete request head
    BODY = "body"  # passing a Content-Length body
    CHUNK_SIZE = "chunk size"
    CHUNK_DATA = "chunk data"  # passing a chunk and its CRLF
    TRAILER = "trailer"
    PASS = "pass"  # not HTTP we can follow: everything passes


class UpgradeStripper:
    """Feed the client's bytes in; forward what ``feed`` returns. Sans I/O.

    ``refused`` counts the upgrade requests stripped so far.
    """

    def __init__(self) -> None:
        self._state = _State.HEAD
        self._buffer = bytearray()
        self._remaining = 0
        self.refused = 0

    def feed(self, data: bytes) -> bytes:
        """The bytes to forward now; a partial request head is held until it is complete."""
        if self._state is _State.PASS:
            return data
        self._buffer += data
        out = bytearray()
        while self._buffer and self._step(out):
            pass
        return bytes(out)

    def _step(self, out: bytearray) -> bool:
        """Consume what the current state can from the buffer; False when it needs more bytes."""
        buffer, state = self._buffer, self._state
        if state is _State.PASS:
            out += buffer
            buffer.clear()
            return False
        if state is _State.HEAD:
            return self._head(out)
        if state in (_State.BODY, _State.CHUNK_DATA):
            taken = min(self._remaining, len(buffer))
            out += buffer[:taken]
            del buffer[:taken]
            self._remaining -= taken
            if not self._remaining:
                self._state = _State.HEAD if state is _State.BODY else _State.CHUNK_SIZE
            return True
        end = buffer.find(b"\r\n")
        if end < 0:
            if len(buffer) > MAX_LINE:
                self._state = _State.PASS
                return True
            return False
        line = bytes(buffer[:end])
        out += buffer[:end + 2]
        del buffer[:end + 2]
        if state is _State.CHUNK_SIZE:
            size = _hex(line.split(b";", 1)[0].strip())
            if size is None:
                self._state = _State.PASS
            elif size:
                self._state, self._remaining = _State.CHUNK_DATA, size + 2
            else:
                self._state = _State.TRAILER
        elif not line:  # the empty line that ends the trailer section
            self._state = _State.HEAD
        return True

    def _head(self, out: bytearray) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            first = bytes(buffer[:buffer.find(b"\r\n")]) if b"\r\n" in buffer else None
            plausible = (REQUEST_LINE.fullmatch(first) if first is not None
                         else REQUEST_LINE_PREFIX.fullmatch(buffer[:MAX_LINE]) and len(buffer) <= MAX_LINE)
            if plausible and len(buffer) <= MAX_HEAD:
                return False
            self._state = _State.PASS
            return True
        head = bytes(buffer[:end + 4])
        del buffer[:end + 4]
        lines = head[:-4].split(b"\r\n")
        request = REQUEST_LINE.fullmatch(lines[0])
        fields = [_field(line) for line in lines[1:]]
        if request is None or None in fields:
            out += head
            self._state = _State.PASS
            return True
        headers = [field for field in fields if field is not None]
        if request[2] == b"1" and _is_websocket_upgrade(headers):
            kept = [line for line, (name, _) in zip(lines[1:], headers, strict=False) if name not in REMOVED]
            out += b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"
            self.refused += 1
        else:
            out += head
        self._state, self._remaining = _body(request[1], headers)
        return True


def _field(line: bytes) -> tuple[bytes, bytes] | None:
    """(lower-case name, value) of a header line, or None if it is not one (obs-fold included)."""
    name, colon, value = line.partition(b":")
    if not colon or not name or name != name.strip():
        return None
    return name.lower(), value.strip()


def _tokens(value: bytes) -> list[bytes]:
    return [token.strip().lower() for token in value.split(b",")]


def _is_websocket_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"upgrade" and b"websocket" in _tokens(value) for name, value in headers)


def _hex(text: bytes) -> int | None:
    if not text or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", text):
        return None
    return int(text, 16)


def _body(method: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[_State, int]:
    """The state after a request head: how its body is framed (RFC 9112 section 6.3)."""
    if method == b"CONNECT":
        return _State.PASS, 0
    codings = [token for name, value in headers if name == b"transfer-encoding" for token in _tokens(value)]
    if codings:
        return (_State.CHUNK_SIZE, 0) if codings[-1] == b"chunked" else (_State.PASS, 0)
    lengths = {value for name, value in headers if name == b"content-length"}
    if not lengths:
        return _State.HEAD, 0
    if len(lengths) != 1 or not next(iter(lengths)).isdigit():
        return _State.PASS, 0
    length = int(next(iter(lengths)))
    return (_State.BODY, length) if length else (_State.HEAD, 0)
