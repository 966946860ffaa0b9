"""The replay buffer: sequenced frames kept, encoded, until the client acknowledges them; and the
byte budget that every replay buffer of a process shares."""

from __future__ import annotations

from collections import Counter, deque
from itertools import islice

from .errors import StateError


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII, the common case)."""
    return len(text) if text.isascii() else len(text.encode())


class ByteBudget:
    """Bytes of replay memory shared by the sessions of one process (``replay_memory_budget``),
    shared fairly between client addresses (``group``), then between the pages of each.

    Buffers ``take`` what they append and ``give_back`` what is acknowledged or dropped when their
    session closes. Takes are never refused (a run can always end): the budget only says whether a
    buffer holding ``held`` bytes has room (``has_room_for``), and producers wait while it has none.
    A buffer under its fair share (``fair_share``) has room however much others hold; past it, only
    while the process is under ``max_bytes`` and its group under ``max_group_bytes``. Memory a page
    has not acknowledged cannot be taken back, so shares may take the process past ``max_bytes``:
    never past twice that (then every buffer waits, until pages acknowledge or are ended as stalled).
    """

    def __init__(self, max_bytes: int, max_group_bytes: int | None = None) -> None:
        if max_bytes <= 0 or (max_group_bytes is not None and max_group_bytes <= 0):
            raise ValueError(f"a byte budget must be positive, got {max_bytes} ({max_group_bytes} per group)")
        self.max_bytes = max_bytes
        self.max_group_bytes = max_group_bytes
        self.used = 0
        self._by_group: Counter[str] = Counter()  # bytes held, by group
        self._holders: Counter[str] = Counter()  # buffers holding bytes, by group

    @property
    def holders(self) -> int:
        """Buffers holding bytes."""
        return sum(self._holders.values())

    def has_room(self) -> bool:
        return self.used < self.max_bytes

    def fair_share(self, group: str = "") -> int:
        """What a buffer of ``group`` may hold whatever the others do: the budget split evenly
        between the groups holding bytes, a group's part evenly between its buffers holding bytes."""
        return self.max_bytes // max(1, len(self._holders)) // max(1, self._holders[group])

    def has_room_for(self, held: int, group: str = "") -> bool:
        """Whether a buffer of ``group`` holding ``held`` bytes may grow."""
        if self.used < self.max_bytes and (self.max_group_bytes is None or self._by_group[group] < self.max_group_bytes):
            return True  # the usual case, asked first: the process and the group are under their bounds
        return held < self.fair_share(group) and self.used < 2 * self.max_bytes

    def group_bytes(self, group: str) -> int:
        return self._by_group[group]

    def take(self, size: int, group: str = "", holding: bool = False) -> None:
        """Take ``size`` bytes for ``group``; ``holding``: the buffer held none before."""
        self.used += size
        self._by_group[group] += size
        if holding:
            self._holders[group] += 1

    def give_back(self, size: int, group: str = "", emptied: bool = False) -> None:
        """Give back ``size`` bytes of ``group``; ``emptied``: the buffer holds none now."""
        if size > self.used:
            raise StateError(f"giving back {size} bytes, but only {self.used} are taken")
        self.used -= size
        self._by_group[group] -= size
        if self._by_group[group] <= 0:
            del self._by_group[group]
        if emptied:
            self._holders[group] -= 1
            if self._holders[group] <= 0:
                del self._holders[group]

    def __repr__(self) -> str:
        return f"<ByteBudget {self.used} of {self.max_bytes} bytes used by {self.holders} buffers>"


class ReplayBuffer:
    """Encoded sequenced frames in ``seq`` order, bounded by ``max_bytes`` and by its fair part of a
    shared ``budget`` (taken for ``group``, the client address).

    The buffer never drops an unacknowledged frame: when it holds ``max_bytes`` or more, or is past
    its fair share of a spent budget, ``has_room`` turns false and producers are expected to wait
    (backpressure). An empty buffer always has room, so no session starves while others hold the
    budget. Frames that end runs are appended regardless, so a run can always end. ``close`` gives
    the held bytes back to the budget (the session is over).
    """

    def __init__(self, max_bytes: int, budget: ByteBudget | None = None, group: str = "") -> None:
        self.max_bytes = max_bytes
        self._budget = budget
        self._group = group
        self._frames: deque[tuple[int, str, int]] = deque()  # seq, encoded frame, its size in bytes
        self._bytes = 0
        self._voids: dict[int, int] = {}  # held void frames (appended with a jump): seq -> the first number they void
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def first_seq(self) -> int:
        """The lowest sequence number held (a held void frame holds the numbers it voids), or
        ``last_seq + 1`` when empty."""
        if not self._frames:
            return self.last_seq + 1
        seq = self._frames[0][0]
        return self._voids.get(seq, seq)

    def has_room(self) -> bool:
        if not self._frames:
            return True
        return self._bytes < self.max_bytes and (self._budget is None or self._budget.has_room_for(self._bytes, self._group))

    def append(self, seq: int, text: str, jump: bool = False) -> None:
        """Hold frame ``seq``: the next number, or (``jump``: a ``void`` frame) any higher one."""
        expected = self.last_seq + 1
        if seq != expected:
            if not (jump and seq > expected):
                raise StateError(f"expected seq {expected}, got {seq}")
            self._voids[seq] = expected
        size = len(text) if text.isascii() else len(text.encode())  # utf8_size, inline: once per frame
        self._frames.append((seq, text, size))
        if self._budget is not None:
            self._budget.take(size, self._group, not self._bytes)
        self._bytes += size
        self.last_seq = seq

    def ack(self, seq: int) -> int:
        """Drop every frame up to ``seq``; return how many were dropped."""
        dropped = freed = 0
        while self._frames and self._frames[0][0] <= seq:
            freed += self._frames.popleft()[2]
            dropped += 1
        for void in [void for void in self._voids if void <= seq]:
            del self._voids[void]
        self._release(freed)
        return dropped

    def close(self) -> None:
        """Drop every frame and give their bytes back; later appends no longer count on the budget."""
        self._frames.clear()
        self._voids.clear()
        self._release(self._bytes)
        self._budget = None

    def _release(self, size: int) -> None:
        self._bytes -= size
        if self._budget is not None and size:
            self._budget.give_back(size, self._group, emptied=not self._bytes)

    def after(self, seq: int) -> list[tuple[int, str]]:
        """The held frames with a sequence number above ``seq``, in order: (seq, encoded frame)."""
        return [(number, text) for number, text, _size in self.sized_after(seq)]

    def sized_after(self, seq: int) -> list[tuple[int, str, int]]:
        """``after`` with each frame's size in UTF-8 bytes: (seq, encoded frame, size). Taken from
        the end (the usual case is the newest frame or few), by position while the numbers held
        are consecutive."""
        if self._voids:
            return [frame for frame in self._frames if frame[0] > seq]
        count = min(len(self._frames), self.last_seq - seq)
        if count <= 0:
            return []
        if count == 1:
            return [self._frames[-1]]
        tail = list(islice(reversed(self._frames), count))
        tail.reverse()
        return tail

    def can_replay_from(self, seq: int) -> bool:
        """True when every frame after ``seq`` is still held."""
        return self.first_seq <= seq + 1 <= self.last_seq + 1
