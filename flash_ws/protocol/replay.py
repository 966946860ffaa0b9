"""The replay buffer: sequenced frames kept, encoded, until the client acknowledges them."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII, the common case)."""
    return len(text) if text.isascii() else len(text.encode())


class ReplayBuffer:
    """Encoded sequenced frames in ``seq`` order, bounded by ``max_bytes`` for producers.

    The buffer never drops an unacknowledged frame: when it holds ``max_bytes`` or more, ``has_room``
    turns false and producers are expected to wait (backpressure). Frames that end runs are
    appended regardless, so a run can always end.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: deque[tuple[int, str, int]] = deque()  # seq, encoded frame, its size in bytes
        self._bytes = 0
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def first_seq(self) -> int:
        """The lowest sequence number held, or ``last_seq + 1`` when empty."""
        return self._frames[0][0] if self._frames else self.last_seq + 1

    def has_room(self) -> bool:
        return self._bytes < self.max_bytes

    def append(self, seq: int, text: str) -> None:
        if seq != self.last_seq + 1:
            raise ValueError(f"expected seq {self.last_seq + 1}, got {seq}")
        self._frames.append((seq, text, utf8_size(text)))
        self._bytes += self._frames[-1][2]
        self.last_seq = seq

    def ack(self, seq: int) -> int:
        """Drop every frame up to ``seq``; return how many were dropped."""
        dropped = 0
        while self._frames and self._frames[0][0] <= seq:
            self._bytes -= self._frames.popleft()[2]
            dropped += 1
        return dropped

    def after(self, seq: int) -> Iterator[str]:
        """The encoded frames with a sequence number above ``seq``, in order."""
        skip = max(0, seq + 1 - self.first_seq)
        for index, (_, text, _size) in enumerate(self._frames):
            if index >= skip:
                yield text

    def can_replay_from(self, seq: int) -> bool:
        """True when every frame after ``seq`` is still held."""
        return self.first_seq <= seq + 1 <= self.last_seq + 1
