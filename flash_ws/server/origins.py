"""Which Host and Origin headers name this app, sans I/O: the gate's checks against DNS rebinding
and cross-site pages (``docs/security.md``).

Same origin means the same scheme, host and port. The request's scheme is the one its server saw
(``ClientRequest.scheme``): behind a proxy that terminated TLS it is ``http`` unless the server
was told to read ``X-Forwarded-Proto`` (hypercorn's ``ProxyFixMiddleware``, uvicorn's
``--forwarded-allow-ips``). One tolerance: a Host without a port, as a proxy writes it that
rewrote Host to ``$host``, is compared by host name, and an https Origin is then taken for a
plain http request (TLS ended in that proxy); an http Origin is never taken for an https request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_FIX = ("if a proxy rewrote the Host header, make it pass the browser's (nginx: proxy_set_header Host "
            "$host:$server_port), or add the page's origin to Flash(allowed_origins=[...])")
ORIGIN_FORM = "browsers send scheme://host[:port]: http or https, lower case, no path"

# host[:port]: a DNS name (underscores too, as container names have them; a trailing dot) or IPv4
# address, or a bracketed IPv6 address; no userinfo, path or spaces
_HOST = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# an Origin as browsers serialize it (RFC 6454): lower-case scheme and host, no path, not even "/"
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


class OriginRefusal(NamedTuple):
    """Why a request's Origin is refused, and what the operator can do about it."""

    why: str
    fix: str


def quoted(text: str | None, limit: int = 80) -> str:
    """Client text fit for a message or a log line: escaped, and cut to ``limit`` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def host_is_well_formed(host: str | None) -> bool:
    """Whether a Host header is a host[:port] (``evil@app.example.com`` is not)."""
    return host is not None and _HOST.fullmatch(host) is not None


def host_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Whether the Host header names this app (``allowed`` empty: any host; ``*.x`` wildcards)."""
    if not allowed or "*" in allowed:
        return True
    name = urlsplit(f"//{host or ''}").hostname or ""
    return any(name == entry or (entry.startswith("*.") and name.endswith(entry[1:])) for entry in allowed)


def parse_origin(text: str) -> Origin | None:
    """An Origin header as a browser serializes it, or None for anything else (``HTTPS://x``,
    ``ws://x``, ``http://x/``, ``null``)."""
    match = _ORIGIN.fullmatch(text)
    if match is None:
        return None
    scheme = match["scheme"]
    port = int(match["port"]) if match["port"] else DEFAULT_PORTS[scheme]
    return Origin(scheme, match["host"], port) if port <= 65535 else None


def _allowed_entry(entry: str) -> Origin | None:
    """An ``allowed_origins`` entry, as an operator may write it (any case, a trailing slash)."""
    return parse_origin(entry.strip().lower().rstrip("/"))


def origin_refusal(origin: str | None, host: str | None, allowed: Iterable[str],
                   secure: bool = False) -> OriginRefusal | None:
    """Why a request from ``origin`` to ``host`` (over https when ``secure``) must be refused, or
    None when it is allowed: the Origin is one of ``allowed`` or has the request's own scheme,
    host and port (the module's docstring has the one tolerance)."""
    if not origin:
        return OriginRefusal("Origin header required", "a browser always sends one; another client must send the page's origin")
    allowed = tuple(allowed)
    if origin in allowed or "*" in allowed:
        return None
    parsed = parse_origin(origin)
    if parsed is None:
        return OriginRefusal(f"Origin {quoted(origin)} is not an origin", ORIGIN_FORM)
    if parsed in {_allowed_entry(entry) for entry in allowed}:
        return None
    scheme = "https" if secure else "http"
    name, port = _host_parts(host or "")
    foreign = OriginRefusal(f"Origin {quoted(origin)} not allowed (not the request's {quoted(f'{scheme}://{host}')}, "
                            "nor in the app's allowed_origins)", HOST_FIX)
    if name != parsed.host:
        return foreign
    if port is None and not (secure and parsed.scheme == "http"):
        return None  # a proxy rewrote Host to its name alone
    if parsed.scheme != scheme:
        why = f"Origin {quoted(origin)} is {parsed.scheme} but the request came to the app over {scheme}"
        if secure:
            return OriginRefusal(why, "a page served over http may not reach an https app: serve the page over https")
        return OriginRefusal(why, f"if a proxy in front ended TLS, add {quoted(str(parsed))} to Flash(allowed_origins=[...]) "
                                  "or have the server take the scheme from X-Forwarded-Proto (hypercorn's "
                                  "ProxyFixMiddleware, uvicorn --forwarded-allow-ips)")
    return None if port == parsed.port else foreign


def _host_parts(host: str) -> tuple[str, int | None]:
    """A Host header's lower-case name and its port (None when it has none)."""
    parts = urlsplit(f"//{host}")
    try:
        port = parts.port
    except ValueError:
        port = -1  # out of range: matches no origin
    name = parts.hostname or ""
    return (f"[{name}]" if ":" in name else name), port
