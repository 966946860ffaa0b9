"""Encoding and decoding of messages: a message is a JSON array of frames (docs/protocol.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, Literal

from .errors import FrameTooLarge, ProtocolError
from .frames import (
    END_REASONS,
    Ack,
    Bye,
    Cancel,
    End,
    Error,
    ErrorInfo,
    Frame,
    Hello,
    Ping,
    Pong,
    RawJson,
    Start,
    Update,
    Void,
    Welcome,
)

Sender = Literal["client", "server"]
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_NESTING = 32
MAX_CALLBACK_ID = 256  # characters of a start's ``cb``: longer ids are refused, never echoed
MAX_RUN_KEY = 1024  # characters of a start's ``key`` (a MATCH instance's values)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_props(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, dict)) and isinstance(pair[1], dict)
        for pair in value
    )


def _is_error_info(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str) and isinstance(value.get("message"), str)


# member kind -> (check, what the message says was expected)
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "uint": (_is_uint, "a non-negative integer"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str|null": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "str?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "list": (lambda v: isinstance(v, list), "an array"),
    "props": (_is_props, "an array of [id, props] pairs"),
    "reason": (lambda v: v in END_REASONS, "one of " + ", ".join(sorted(END_REASONS))),
    "error?": (lambda v: v is None or _is_error_info(v), "an object with string 'code' and 'message'"),
    "uint?": (lambda v: v is None or _is_uint(v), "a non-negative integer or null"),
    "key?": (lambda v: v is None or (isinstance(v, str) and len(v) <= MAX_RUN_KEY), f"a string of at most {MAX_RUN_KEY} characters"),
}

# (sender, type name) -> (frame class, {member: kind}); a kind ending in "?" may be absent.
_SCHEMAS: dict[tuple[str, str], tuple[type, dict[str, str]]] = {
    ("client", "hello"): (Hello, {"v": "uint", "session": "str|null", "seq": "uint"}),
    ("client", "start"): (Start, {"run": "uint", "cb": "str", "args": "list", "key": "key?"}),
    ("client", "cancel"): (Cancel, {"run": "uint"}),
    ("client", "ack"): (Ack, {"seq": "uint"}),
    ("client", "bye"): (Bye, {}),
    ("client", "ping"): (Ping, {"id": "uint"}),
    ("client", "pong"): (Pong, {"id": "uint"}),
    ("server", "welcome"): (Welcome, {"v": "uint", "session": "str", "epoch": "str", "resumed": "bool", "seq": "uint", "run": "uint"}),
    ("server", "update"): (Update, {"seq": "uint", "run": "uint", "props": "props"}),
    ("server", "end"): (End, {"seq": "uint", "run": "uint", "reason": "reason", "error": "error?"}),
    ("server", "void"): (Void, {"seq": "uint", "from": "uint"}),
    ("server", "error"): (Error, {"code": "str", "message": "str", "run": "uint?", "cb": "str?"}),
    ("server", "ping"): (Ping, {"id": "uint"}),
    ("server", "pong"): (Pong, {"id": "uint"}),
}
_TYPE_OF: dict[type, str] = {cls: name for (_, name), (cls, _) in _SCHEMAS.items()}


def _decode_frame(index: int, obj: Any, sender: Sender) -> Frame:
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", f"frame {index}: expected an object, got {type(obj).__name__}")
    name = obj.get("t")
    schema = _SCHEMAS.get((sender, name)) if isinstance(name, str) else None
    if schema is None:
        known = ", ".join(n for s, n in _SCHEMAS if s == sender)
        raise ProtocolError("bad_frame", f"frame {index}: unknown type {name!r} from the {sender} (expected one of {known})")
    cls, members = schema
    values: dict[str, Any] = {}
    for member, kind in members.items():
        if member not in obj and kind.endswith("?"):
            continue
        check, expected = _KINDS[kind]
        value = obj.get(member)
        if member not in obj or not check(value):
            got = "nothing" if member not in obj else json.dumps(value)[:60]
            raise ProtocolError("bad_frame", f"frame {index}: {name!r} needs {expected} {member!r}, got {got}")
        values[member] = value
    if cls is Start and len(values["cb"]) > MAX_CALLBACK_ID:
        raise ProtocolError("bad_frame", f"frame {index}: 'start' needs a 'cb' of at most {MAX_CALLBACK_ID} characters, "
                                         f"got {len(values['cb'])}")
    if cls is Start and values.get("key", "") is None:
        del values["key"]  # null is absent, as for every optional member
    if cls is Void:
        values["first"] = values.pop("from")
        if not 1 <= values["first"] <= values["seq"]:
            raise ProtocolError("bad_frame", f"frame {index}: 'void' needs 1 <= 'from' <= 'seq', got from {values['first']} "
                                             f"and seq {values['seq']}")
    if cls is End and values.get("error") is not None:
        values["error"] = ErrorInfo(values["error"]["code"], values["error"]["message"])
    frame: Frame = cls(**values)
    return frame


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")  # Python's json reads NaN and Infinity; JSON has neither


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text[:20]} is not a finite number")
    return value


def nesting_depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests arrays and objects, counted up to ``limit + 1`` (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def decode_message(text: str | bytes, sender: Sender, max_bytes: int = DEFAULT_MAX_BYTES,
                   max_nesting: int = DEFAULT_MAX_NESTING) -> list[Frame]:
    """Decode one message sent by ``sender``: its size before parsing it, then its JSON, its
    frames, and how deep a ``start``'s args nest. Raise ProtocolError naming what was wrong."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise FrameTooLarge(size, max_bytes)
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:
        raise ProtocolError("bad_frame", f"message is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("bad_frame", "message is nested too deeply") from None
    if not isinstance(data, list):
        raise ProtocolError("bad_frame", f"message must be a JSON array of frames, got {type(data).__name__}")
    frames = [_decode_frame(i, obj, sender) for i, obj in enumerate(data)]
    for index, frame in enumerate(frames):
        if isinstance(frame, Start) and nesting_depth(frame.args, max_nesting) > max_nesting:
            raise ProtocolError("bad_frame", f"frame {index}: 'start' args nest deeper than {max_nesting} levels")
    return frames


def encode_frame(frame: Frame) -> str:
    """Encode one frame as JSON text; RawJson members are inserted verbatim."""
    if isinstance(frame, Update) and isinstance(frame.props, RawJson):
        return encode_update(frame.seq, frame.run, frame.props.text)
    if isinstance(frame, Void):
        return f'{{"t":"void","seq":{frame.seq},"from":{frame.first}}}'
    obj: dict[str, Any] = {"t": _TYPE_OF[type(frame)]}
    for field in fields(frame):
        value = getattr(frame, field.name)
        if (value is None and field.name in ("error", "run", "cb")) or (field.name == "key" and value == ""):
            continue
        obj[field.name] = value.__dict__ if isinstance(value, ErrorInfo) else value
    return _dumps(obj)


def encode_update(seq: int, run: int, props_json: str) -> str:
    """An update frame whose props are JSON text already (what ``encode_frame`` makes of it)."""
    return f'{{"t":"update","seq":{seq},"run":{run},"props":{props_json}}}'


def join_frames(encoded: Iterable[str]) -> str:
    """Join already-encoded frames into one message."""
    return "[" + ",".join(encoded) + "]"


def encode_message(frames: Iterable[Frame]) -> str:
    return join_frames(encode_frame(f) for f in frames)


def frame_to_dict(frame: Frame) -> dict[str, Any]:
    """The JSON object of a frame (as in tests/vectors)."""
    obj: dict[str, Any] = json.loads(encode_frame(frame))
    return obj


def encode_json(value: Any) -> str:
    """Compact JSON, as the encoder writes it."""
    return _dumps(value)
