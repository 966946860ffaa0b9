"""What permessage-deflate costs and saves on flash_ws's downlink messages, by message size.

    python -m benchmarks.deflate_cost [--messages N] [--repeats R]

For messages of 1, 4, 16, 64 and 1,400 ``update`` frames (the browser rows' ``extendData`` shape,
numbers and timestamps changing as in a stream), it frames N messages through wsproto as hypercorn
does (server side: µs per message, with and without permessage-deflate, context takeover on as
browsers negotiate it), counts the bytes on the wire, and inflates them again with zlib as the page
does (page side: µs per message; Chromium's inflate is the same C library, its message dispatch is
not counted). Medians of R repeats; one process, one core.
"""

from __future__ import annotations

import argparse
import statistics
import time
import zlib
from collections.abc import Iterator

from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate

from flash_ws.protocol.codec import encode_update, join_frames

SIZES = (1, 4, 16, 64, 1400)
OFFER = "permessage-deflate; client_max_window_bits"


def messages(updates_per_message: int, count: int) -> Iterator[str]:
    """``count`` downlink messages of ``updates_per_message`` frames each, as a stream makes them."""
    seq = 0
    for _ in range(count):
        frames = []
        for _ in range(updates_per_message):
            seq += 1
            props = f'[["out-burst",{{"extendData":[{{"x":[[{seq}]],"y":[[{time.time()}]]}},[0],1000]}}]]'
            frames.append(encode_update(seq, 1, props))
        yield join_frames(frames)


def server(deflate: bool) -> Connection:
    extensions = []
    if deflate:
        extension = PerMessageDeflate()
        extension.accept(OFFER)
        extensions.append(extension)
    return Connection(ConnectionType.SERVER, extensions=extensions)


def measure(updates_per_message: int, count: int, deflate: bool) -> dict[str, float]:
    """One pass: server µs per message, wire bytes per message, page inflate µs per message."""
    texts = list(messages(updates_per_message, count))
    connection = server(deflate)
    started = time.perf_counter()
    wire = [connection.send(TextMessage(data=text)) for text in texts]
    send_us = (time.perf_counter() - started) / count * 1e6
    inflater = zlib.decompressobj(-15)
    started = time.perf_counter()
    if deflate:  # the frame header is 2-10 bytes; the payload ends without the 4-byte sync tail
        for frame in wire:
            header = 2 + {126: 2, 127: 8}.get(frame[1] & 0x7F, 0)
            inflater.decompress(frame[header:] + b"\x00\x00\xff\xff")
    inflate_us = (time.perf_counter() - started) / count * 1e6
    return {"send_us": send_us, "inflate_us": inflate_us, "text_bytes": sum(map(len, texts)) / count,
            "wire_bytes": sum(map(len, wire)) / count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deflate_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000, metavar="N", help="messages per pass (fewer for large ones)")
    parser.add_argument("--repeats", type=int, default=5, metavar="R")
    args = parser.parse_args(argv)
    print("| updates per message | text bytes | deflate | wire bytes | server µs per message | page inflate µs per message "
          "| server µs per update |")
    print("|--:|--:|---|--:|--:|--:|--:|")
    for size in SIZES:
        count = max(20, args.messages // size)
        for deflate in (False, True):
            runs = [measure(size, count, deflate) for _ in range(args.repeats)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(f"| {size:,} | {median['text_bytes']:,.0f} | {'on' if deflate else 'off'} | {median['wire_bytes']:,.0f} "
                  f"| {median['send_us']:.1f} | {median['inflate_us']:.1f} | {median['send_us'] / size:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
