"""What the Redis session store keeps in Redis: key names and the Lua scripts that change them atomically.

Keys name a session by its public id ``SID`` (tokens.session_id), never by its token. Every key of
one session carries the hash tag ``{SID}``, and every key of one worker ``{W}``, so that on a Redis
Cluster a session's keys share one hash slot, a worker's keys share another, and every script touches
the keys of one slot only (``redis_client`` says how the store finds out it speaks to a cluster).
Per session:
- ``flash_ws:s:{SID}`` (hash): ``owner`` (the worker whose process runs its streams), ``token`` (the
  whole token: workers compare it with ``same_secret``), ``bind`` (the browser binding, checked on
  every resume on every worker), ``epoch``, ``last_seq`` (last frame stored), ``acked`` (frames up to
  it are trimmed), ``highest_run``, ``runs`` (JSON ``{run: callback}`` of the active runs), ``conn``
  (worker holding the page's connection, "" when none).
- ``flash_ws:f:{SID}`` (stream): the unacknowledged sequenced frames, entry id ``SEQ-0``, field ``f``.

Per worker ``W``: ``flash_ws:w:{W}`` (liveness key with a TTL), ``flash_ws:owned:{W}`` (set of sids
it owns), ``flash_ws:in:{W}`` (stream: its inbox of commands from other workers, see ``redis_inbox``)
and ``flash_ws:inbytes:{W}`` (the bytes its inbox holds), ``flash_ws:reap:{W}`` (who takes over its
sessions once it is dead). Alone in their slots: ``flash_ws:workers`` (the set of worker ids) and
``flash_ws:browser_key_secret`` (signs browser keys when the app has no ``$FLASH_WS_SECRET``; the
first worker to start puts it). A sid a page made up (with braces of its own) is only ever read with
one-key commands: a session's other keys are touched once its hash is found, and ours are url-safe.
"""

from __future__ import annotations

PREFIX = "flash_ws:"
WORKERS = PREFIX + "workers"
KEY_SECRET = PREFIX + "browser_key_secret"
INBOX_TTL = 3600  # seconds: an inbox its worker stopped reading (it died) disappears by itself


def meta(sid: str) -> str:
    return f"{PREFIX}s:{{{sid}}}"


def frames(sid: str) -> str:
    return f"{PREFIX}f:{{{sid}}}"


def alive(worker: str) -> str:
    return f"{PREFIX}w:{{{worker}}}"


def owned(worker: str) -> str:
    return f"{PREFIX}owned:{{{worker}}}"


def inbox(worker: str) -> str:
    return f"{PREFIX}in:{{{worker}}}"


def inbox_bytes(worker: str) -> str:
    return f"{PREFIX}inbytes:{{{worker}}}"


def reap(worker: str) -> str:
    return f"{PREFIX}reap:{{{worker}}}"


# Store the frames a worker produced for the sessions it owns (one call for a batch of sessions on
# one Redis; one call per session on a cluster, where a script touches one slot), trim what each page
# acknowledged and refresh each session's state. Per session, in order, the reply holds the last
# stored sequence number, or -1 when the session is gone from Redis (it restarted, or the session
# expired), or -2 when another worker owns it now. Re-sent frames are skipped, so a retried call stores
# nothing twice; frames the page acknowledged before they were stored are never stored (``last_seq``
# moves past them). Keys' TTLs are renewed only when a session's ``ttl`` is not 0, its ``runs`` only
# when not empty (they did not change since the last store).
# KEYS: meta, frames of each session. ARGV: owner, then one JSON array with an entry per session (in
# the order of KEYS): [epoch, highest_run, runs, acked, conn, ttl, [seq, text, seq, text, ...]]. One
# argument for the whole batch: the worker packs it in one orjson call, not a dozen arguments per
# session (Redis decodes it, off the worker's CPU).
APPEND = """
local owner, batch, out = ARGV[1], cjson.decode(ARGV[2]), {}
for s = 1, #batch do
  local meta, frames, entry = KEYS[2 * s - 1], KEYS[2 * s], batch[s]
  local epoch, acked, ttl, pairs = entry[1], tonumber(entry[4]), tonumber(entry[6]), entry[7]
  local state = redis.call('HMGET', meta, 'owner', 'epoch', 'last_seq', 'acked')
  if not state[2] or state[2] ~= epoch then
    out[s] = -1
  elseif state[1] ~= owner then
    out[s] = -2
  else
    local last = tonumber(state[3])
    for i = 1, #pairs, 2 do
      local seq = tonumber(pairs[i])
      if seq > last then
        redis.call('XADD', frames, string.format('%d-0', seq), 'f', pairs[i + 1])
        last = seq
      end
    end
    if acked > tonumber(state[4]) then
      redis.call('XTRIM', frames, 'MINID', string.format('%d-0', acked + 1))
    else
      acked = tonumber(state[4])
    end
    if acked > last then
      last = acked
    end
    redis.call('HSET', meta, 'last_seq', string.format('%d', last), 'acked', string.format('%d', acked),
               'highest_run', string.format('%d', entry[2]), 'conn', entry[5])
    if entry[3] ~= '' then
      redis.call('HSET', meta, 'runs', entry[3])
    end
    if ttl > 0 then
      redis.call('EXPIRE', meta, ttl)
      redis.call('EXPIRE', frames, ttl)
    end
    out[s] = last
  end
end
return out
"""

# Take over a session from a dead owner: 1 when this worker owns it now, 0 when someone else does
# (the caller adds the sid to its ``owned`` set: another slot on a cluster).
# KEYS: meta. ARGV: dead worker, new owner.
CLAIM = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
return 1
"""

# Put a session that Redis forgot (it restarted) back from its owner's memory: its state and its
# unacknowledged frames. 0 when the session exists (nothing to do), 1 when restored (the caller adds
# the sid to its ``owned`` set). KEYS: meta, frames. ARGV: owner, epoch, acked, highest_run, runs,
# conn, ttl, token, binding, then seq, text pairs.
RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
local last = tonumber(ARGV[3])
for i = 10, #ARGV, 2 do
  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 'f', ARGV[i + 1])
  last = tonumber(ARGV[i])
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', ARGV[2], 'last_seq', last, 'acked', ARGV[3],
           'highest_run', ARGV[4], 'runs', ARGV[5], 'conn', ARGV[6], 'token', ARGV[8], 'bind', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return 1
"""
