"""permessage-deflate where it pays: small messages go out uncompressed.

hypercorn accepts wsproto's ``PerMessageDeflate`` for every WebSocket whose client offers it (every
browser does) and then compresses every message, with no setting to change that. RFC 7692 lets a
sender leave any message uncompressed (RSV1 clear) on a connection that negotiated the extension;
the compression context only sees the messages that are compressed, so the receiver is unaffected.
Below about a kilobyte a message fits one TCP segment either way, so compressing it saves bytes
inside a packet, not packets, and costs the server ~4-5 µs and the page an inflate per message
(benchmarks/README.md, "permessage-deflate": measured with ``python -m benchmarks.deflate_cost``).

``install`` puts :class:`SizedDeflate` in hypercorn's place of ``PerMessageDeflate``. It is process
wide (hypercorn builds one extension object per connection from that name), so it applies to every
WebSocket the process serves, Dash's own included. Constructing a ``Flash`` changes nothing: each
backend's adapter calls ``install_when_served`` as its app starts serving, which installs it only
when hypercorn is the server (the last app to start sets the threshold).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode, RsvBits

from ..server.settings import Settings

log = logging.getLogger("flash_ws")
DEFAULT_MIN_BYTES = Settings.ws_compress_min_bytes


class SizedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate that sends whole messages under ``min_bytes`` uncompressed."""

    min_bytes = DEFAULT_MIN_BYTES

    def frame_outbound(self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool) -> tuple[RsvBits, bytes]:
        if fin and opcode in (Opcode.TEXT, Opcode.BINARY) and len(data) < self.min_bytes:
            return rsv, data  # a whole small message: RSV1 stays clear, the context is untouched
        return super().frame_outbound(proto, opcode, rsv, data, fin)


def install_when_served(min_bytes: int) -> bool:
    """``install`` when this process is serving with hypercorn (it has imported it); False otherwise."""
    return "hypercorn" in sys.modules and install(min_bytes)


def install(min_bytes: int) -> bool:
    """Make hypercorn's WebSockets compress only messages of ``min_bytes`` or more (0: all of them,
    as hypercorn does by itself). False, and nothing changed, when hypercorn is laid out otherwise."""
    if min_bytes < 0:
        raise ValueError(f"ws_compress_min_bytes must be 0 or more bytes, got {min_bytes}")
    try:
        from hypercorn.protocol import ws_stream
    except ImportError:  # pragma: no cover - hypercorn is a dependency
        return False
    if not isinstance(getattr(ws_stream, "PerMessageDeflate", None), type) or not issubclass(
            ws_stream.PerMessageDeflate, PerMessageDeflate):
        log.warning("flash_ws: hypercorn's WebSocket extensions are not where flash_ws expects them: "
                    "every message stays compressed")
        return False
    SizedDeflate.min_bytes = min_bytes
    ws_stream.PerMessageDeflate = SizedDeflate  # type: ignore[misc]  # the patch is the point
    return True
