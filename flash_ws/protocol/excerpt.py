"""Client input quoted in refusals and log lines: short, escaped, never able to forge a line."""

from __future__ import annotations

ECHO_CHARS = 64
MAX_REFUSAL_CHARS = 240


def excerpt(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr`` of at most ``limit`` characters of ``value`` (newlines and control characters
    escaped), followed by "…" when it was cut."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def clipped(message: str, limit: int = MAX_REFUSAL_CHARS) -> str:
    """``message`` (already escaped) cut to ``limit`` characters, "…" marking the cut; any line
    break left in it is escaped."""
    flat = message.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
