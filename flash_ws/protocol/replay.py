"""The replay buffer: sequenced frames kept, encoded, until the client acknowledges them; and the
byte budget that every replay buffer of a process shares."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import islice

from .errors import StateError


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII, the common case)."""
    return len(text) if text.isascii() else len(text.encode())


class ByteBudget:
    """Bytes of replay memory shared by the sessions of one process (``replay_memory_budget``).

    Buffers ``take`` what they append and ``give_back`` what is acknowledged or dropped when their
    session closes. Takes are never refused (a run can always end): the budget only says whether
    there is room, and producers wait while there is none.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"a byte budget must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self.used = 0

    def has_room(self) -> bool:
        return self.used < self.max_bytes

    def take(self, size: int) -> None:
        self.used += size

    def give_back(self, size: int) -> None:
        if size > self.used:
            raise StateError(f"giving back {size} bytes, but only {self.used} are taken")
        self.used -= size

    def __repr__(self) -> str:
        return f"<ByteBudget {self.used} of {self.max_bytes} bytes used>"


class ReplayBuffer:
    """Encoded sequenced frames in ``seq`` order, bounded by ``max_bytes`` and by a shared ``budget``.

    The buffer never drops an unacknowledged frame: when it holds ``max_bytes`` or more, or the
    process budget is used up, ``has_room`` turns false and producers are expected to wait
    (backpressure). An empty buffer always has room, so no session starves while others hold the
    budget. Frames that end runs are appended regardless, so a run can always end. ``close`` gives
    the held bytes back to the budget (the session is over).
    """

    def __init__(self, max_bytes: int, budget: ByteBudget | None = None) -> None:
        self.max_bytes = max_bytes
        self._budget = budget
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
        if not self._frames:
            return True
        return self._bytes < self.max_bytes and (self._budget is None or self._budget.has_room())

    def append(self, seq: int, text: str) -> None:
        if seq != self.last_seq + 1:
            raise StateError(f"expected seq {self.last_seq + 1}, got {seq}")
        size = utf8_size(text)
        self._frames.append((seq, text, size))
        self._bytes += size
        if self._budget is not None:
            self._budget.take(size)
        self.last_seq = seq

    def ack(self, seq: int) -> int:
        """Drop every frame up to ``seq``; return how many were dropped."""
        dropped = freed = 0
        while self._frames and self._frames[0][0] <= seq:
            freed += self._frames.popleft()[2]
            dropped += 1
        self._release(freed)
        return dropped

    def close(self) -> None:
        """Drop every frame and give their bytes back; later appends no longer count on the budget."""
        self._frames.clear()
        self._release(self._bytes)
        self._budget = None

    def _release(self, size: int) -> None:
        self._bytes -= size
        if self._budget is not None and size:
            self._budget.give_back(size)

    def after(self, seq: int) -> Iterator[str]:
        """The encoded frames with a sequence number above ``seq``, in order."""
        skip = max(0, seq + 1 - self.first_seq)
        for _, text, _size in islice(self._frames, skip, None):
            yield text

    def can_replay_from(self, seq: int) -> bool:
        """True when every frame after ``seq`` is still held."""
        return self.first_seq <= seq + 1 <= self.last_seq + 1
