"""Session tokens and their binding to a browser, sans I/O.

A token is ``<sid>.<secret>``: the ``sid`` names the session where a name may be seen (the event
stream's URL, logs, Redis keys); the whole token is a credential and travels only in a WebSocket
message or a request header. A session is also bound to its browser: a random key kept in an
HttpOnly cookie; the session stores the key's HMAC (with the user, when the app names one), and
every resume must present a key with the same HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

BROWSER_KEY_COOKIE = "flash_ws_key"


def new_token() -> str:
    """A fresh session token: a 96-bit public id, a dot, a 192-bit secret."""
    return f"{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(24)}"


def session_id(token: str) -> str:
    """The public id of ``token`` (the part before the dot)."""
    return token.split(".", 1)[0]


def new_browser_key() -> str:
    """A fresh browser key (the cookie's value)."""
    return secrets.token_urlsafe(32)


def binding(browser_key: str, user: str | None = None) -> str:
    """What a session stores to know its browser (and user): an HMAC keyed by the browser key."""
    message = b"flash_ws session binding\x00" + (user or "").encode()
    return hmac.new(browser_key.encode(), message, hashlib.sha256).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Compare two tokens or bindings in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
