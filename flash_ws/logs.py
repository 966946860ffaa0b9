"""Logs a machine can read: a JSON formatter for flash_ws's loggers.

Session events (``flash_ws.events``: opened, resumed, closed, lost, fallback, refused) carry the
fields ``event``, ``session`` (the public short id), ``worker``, ``transport`` and ``reason``;
``JsonFormatter`` writes them, with the time, level, logger and message, as one JSON object per line.
``Flash(log_format="json")`` (or ``FLASH_WS_LOG_FORMAT=json``) installs it on the ``flash_ws`` logger
when the app starts serving.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

EVENT_FIELDS = ("event", "session", "worker", "transport", "reason")
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the session-event fields when present,
    and the traceback as ``exc_info`` text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EVENT_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str) -> None:
    """``"json"``: flash_ws's loggers write JSON lines to stderr (INFO and up) instead of passing
    their records to the root logger; ``"text"`` leaves logging as the app configured it."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    if log_format == "text":
        return
    logger = logging.getLogger("flash_ws")
    if any(isinstance(handler.formatter, JsonFormatter) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
