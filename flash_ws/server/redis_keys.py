"""What the Redis session store keeps in Redis: key names and the Lua scripts that change them atomically.

Keys name a session by its public id ``SID`` (tokens.session_id), never by its token. Per session:
- ``flash_ws:s:SID`` (hash): ``owner`` (the worker whose process runs its streams), ``token`` (the
  whole token: workers compare it with ``same_secret``), ``bind`` (the browser binding, checked on
  every resume on every worker), ``epoch``, ``last_seq`` (last frame stored), ``acked`` (frames up to
  it are trimmed), ``highest_run``, ``runs`` (JSON ``{run: callback}`` of the active runs), ``conn``
  (worker holding the page's connection, "" when none).
- ``flash_ws:f:SID`` (stream): the unacknowledged sequenced frames, entry id ``SEQ-0``, field ``f``.

Per worker ``W``: ``flash_ws:w:W`` (liveness key with a TTL), ``flash_ws:owned:W`` (set of sids it
owns), ``flash_ws:in:W`` (stream: its inbox of commands from other workers, see ``redis_inbox``) and
``flash_ws:inbytes:W`` (the bytes its inbox holds). ``flash_ws:workers`` is the set of worker ids,
and ``flash_ws:reap:W`` marks who takes over a dead worker's sessions.
"""

from __future__ import annotations

PREFIX = "flash_ws:"
WORKERS = PREFIX + "workers"
INBOX_TTL = 3600  # seconds: an inbox its worker stopped reading (it died) disappears by itself


def meta(sid: str) -> str:
    return f"{PREFIX}s:{sid}"


def frames(sid: str) -> str:
    return f"{PREFIX}f:{sid}"


def alive(worker: str) -> str:
    return f"{PREFIX}w:{worker}"


def owned(worker: str) -> str:
    return f"{PREFIX}owned:{worker}"


def inbox(worker: str) -> str:
    return f"{PREFIX}in:{worker}"


def inbox_bytes(worker: str) -> str:
    return f"{PREFIX}inbytes:{worker}"


def reap(worker: str) -> str:
    return f"{PREFIX}reap:{worker}"


# Store the frames a worker produced for a session it owns, trim what the page acknowledged and
# refresh the session's state. Refuses (-1) when the session is gone from Redis (it restarted, or
# the session expired) and (-2) when another worker owns it now. Re-sent frames are skipped, so a
# retried call stores nothing twice. Returns the last stored sequence number.
# KEYS: meta, frames. ARGV: owner, epoch, highest_run, runs, acked, conn, ttl, then seq, text pairs.
APPEND = """
local state = redis.call('HMGET', KEYS[1], 'owner', 'epoch', 'last_seq', 'acked')
if not state[2] or state[2] ~= ARGV[2] then return -1 end
if state[1] ~= ARGV[1] then return -2 end
local last = tonumber(state[3])
for i = 8, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    redis.call('XADD', KEYS[2], seq .. '-0', 'f', ARGV[i + 1])
    last = seq
  end
end
local acked = tonumber(ARGV[5])
if acked > tonumber(state[4]) then
  redis.call('XTRIM', KEYS[2], 'MINID', (acked + 1) .. '-0')
else
  acked = tonumber(state[4])
end
redis.call('HSET', KEYS[1], 'last_seq', last, 'acked', acked, 'highest_run', ARGV[3], 'runs', ARGV[4], 'conn', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return last
"""

# Take over a session from a dead owner: 1 when this worker owns it now, 0 when someone else does.
# KEYS: meta, owned set of the new owner. ARGV: dead worker, new owner, sid.
CLAIM = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# Put a session that Redis forgot (it restarted) back from its owner's memory: its state and its
# unacknowledged frames. 0 when the session exists (nothing to do), 1 when restored.
# KEYS: meta, frames, owned set. ARGV: owner, epoch, acked, highest_run, runs, conn, ttl, sid, token,
# binding, then seq, text pairs.
RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
local last = tonumber(ARGV[3])
for i = 11, #ARGV, 2 do
  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 'f', ARGV[i + 1])
  last = tonumber(ARGV[i])
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', ARGV[2], 'last_seq', last, 'acked', ARGV[3],
           'highest_run', ARGV[4], 'runs', ARGV[5], 'conn', ARGV[6], 'token', ARGV[9], 'bind', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('SADD', KEYS[3], ARGV[8])
return 1
"""
