"""Session tokens and their binding to a browser, sans I/O.

A token is ``<sid>.<secret>``: the ``sid`` names the session where a name may be seen (the event
stream's URL, logs, Redis keys); the whole token is a credential and travels only in a WebSocket
message or a request header. A session is also bound to its browser: a key kept in an HttpOnly
cookie; the session stores the key's HMAC (with the user, when the app names one), and every
resume must present a key with the same HMAC. A browser key is a random nonce signed with the
app's secret, so the server keeps only keys it issued and replaces any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

BROWSER_KEY_COOKIE = "flash_ws_key"
MAX_BROWSER_KEY_CHARS = 128  # a longer cookie value is not one of ours: not even hashed


def new_token() -> str:
    """A fresh session token: a 96-bit public id, a dot, a 192-bit secret."""
    return f"{secrets.token_urlsafe(12)}.{secrets.token_urlsafe(24)}"


def session_id(token: str) -> str:
    """The public id of ``token`` (the part before the dot)."""
    return token.split(".", 1)[0]


def new_browser_key(secret: bytes) -> str:
    """A fresh browser key (the cookie's value): a 192-bit nonce, a dot, its HMAC under ``secret``."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_key_signature(nonce, secret)}"


def browser_key_issued(key: str, secret: bytes) -> bool:
    """Whether ``key`` is a browser key signed with ``secret`` (compared in constant time)."""
    nonce, dot, signature = key.partition(".")
    return bool(dot) and len(key) <= MAX_BROWSER_KEY_CHARS and same_secret(signature, _key_signature(nonce, secret))


def _key_signature(nonce: str, secret: bytes) -> str:
    digest = hmac.new(secret, b"flash_ws browser key\x00" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def binding(browser_key: str, user: str | None = None) -> str:
    """What a session stores to know its browser (and user): an HMAC keyed by the browser key."""
    message = b"flash_ws session binding\x00" + (user or "").encode()
    return hmac.new(browser_key.encode(), message, hashlib.sha256).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Compare two tokens or bindings in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
