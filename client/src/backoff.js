// Reconnection delays: a pure function of the attempt number.

/**
 * Milliseconds to wait before reconnection `attempt` (0 is the first retry): capped exponential
 * growth, minus up to `jitter` of it at random so that many pages do not retry in step. The first
 * retry waits at most `base` (100 ms by default).
 * @param {number} attempt a non-negative integer
 * @param {{base?: number, factor?: number, cap?: number, jitter?: number}} [options]
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number}
 */
export function backoffDelay(attempt, {base = 100, factor = 2, cap = 5000, jitter = 0.5} = {}, random = Math.random) {
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a non-negative integer, got ${attempt}`);
  }
  return Math.min(cap, base * factor ** attempt) * (1 - jitter * random());
}
