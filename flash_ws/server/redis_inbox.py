"""Each worker's inbox in Redis: commands from other workers, bounded in bytes, deleted once handled.

A message is pushed with its size (field ``n``: the bytes of its fields' values plus
``ENTRY_OVERHEAD``, about what Redis spends on an entry) and counted in
``flash_ws:inbytes:W``; a push that would take the inbox past ``redis_inbox_bytes`` is refused and
nothing is stored. The worker reads its inbox, handles each message, then deletes what it handled
and subtracts its size; the counter is dropped whenever the inbox is empty, so it cannot drift.
Both keys carry the worker's hash tag: on a Redis Cluster they share one slot, and so one master.
"""

from __future__ import annotations

from typing import Any

from . import redis_keys as keys
from .redis_client import is_cluster

ENTRY_OVERHEAD = 64

# KEYS: inbox, byte counter. ARGV: limit, ttl, then field, value pairs. 1 when stored, 0 when refused.
PUSH = f"""
local size = {ENTRY_OVERHEAD}
for i = 4, #ARGV, 2 do size = size + #ARGV[i] end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held + size > tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[1], '*', 'n', size, unpack(ARGV, 3))
redis.call('INCRBY', KEYS[2], size)
redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
redis.call('EXPIRE', KEYS[2], ARGV[2], 'NX')
return 1
"""

# KEYS: inbox, byte counter. ARGV: bytes handled, then the entry ids to delete.
DONE = """
redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
local left = redis.call('DECRBY', KEYS[2], ARGV[1])
if left <= 0 or redis.call('XLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return left
"""


class Inboxes:
    """Pushes to any worker's inbox and deletes what this worker handled from its own."""

    def __init__(self, redis: Any, limit: int) -> None:
        self.limit = limit
        self._push = redis.register_script(PUSH)
        self._done = redis.register_script(DONE)

    async def push(self, worker: str, fields: dict[str, str], pipe: Any = None) -> Any:
        """Push ``fields`` to ``worker``'s inbox: 1, or 0 when refused (the inbox is full: ``refusal``
        says so). With ``pipe``, the push is queued on it and the reply comes with its results."""
        args: list[Any] = [self.limit, keys.INBOX_TTL]
        for name, value in fields.items():
            args += [name, value]
        names = [keys.inbox(worker), keys.inbox_bytes(worker)]
        if pipe is not None and is_cluster(pipe):
            # A cluster pipeline sends EVALSHA as is, and a master that restarted lost its scripts: a
            # NOSCRIPT there would lose the message unseen. The script's text costs bytes, never that.
            return pipe.eval(PUSH, len(names), *names, *args)
        return await self._push(keys=names, args=args, client=pipe)

    def refusal(self, what: str) -> str:
        """The log line for a refused push of ``what``."""
        return f"{what} was refused: the receiving worker's inbox holds its limit of {self.limit} bytes (redis_inbox_bytes)"

    async def handled(self, worker: str, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Delete ``entries`` (handled) from ``worker``'s inbox and uncount their bytes."""
        if entries:
            size = sum(int(fields.get("n", 0)) for _id, fields in entries)
            await self._done(keys=[keys.inbox(worker), keys.inbox_bytes(worker)],
                             args=[size, *(entry_id for entry_id, _fields in entries)])
