"""The sans-I/O protocol core: frames, codec, session state, replay buffer, backoff.

Nothing here imports asyncio, quart or dash (a test checks it).
"""

from .backoff import backoff_delay, backoff_delays
from .client_session import Apply, ClientSession, Gap, RunEnded, ServerError, SessionLost
from .codec import decode_message, encode_frame, encode_json, encode_message, join_frames
from .commands import CancelRun, Command, Misbehaved, PageLeft, Refused, StartRun
from .errors import FlashWsError, FrameTooLarge, ProtocolError, StateError
from .frames import PROTOCOL_VERSION, ErrorInfo, Hello
from .replay import ByteBudget
from .server_session import Limits, ServerSession

__all__ = [
    "PROTOCOL_VERSION", "Apply", "ByteBudget", "CancelRun", "ClientSession", "Command", "ErrorInfo", "FlashWsError",
    "FrameTooLarge", "Gap", "Hello", "Limits", "Misbehaved", "PageLeft", "ProtocolError", "Refused", "RunEnded", "ServerError",
    "ServerSession", "SessionLost", "StartRun", "StateError", "backoff_delay", "backoff_delays",
    "decode_message", "encode_frame", "encode_json", "encode_message", "join_frames",
]
