import assert from 'node:assert/strict';
import {test} from 'node:test';

import {backoffDelay} from '../src/backoff.js';

const justBelowOne = 1 - Number.EPSILON;

test('the first retry comes within 250 ms whatever the jitter draws', () => {
  for (const draw of [0, 0.25, 0.5, justBelowOne]) {
    const delay = backoffDelay(0, {}, () => draw);
    assert.ok(delay > 0 && delay < 250, `first retry after ${delay} ms`);
  }
});

test('without jitter the delay doubles from 100 ms up to the 5 s cap', () => {
  const delays = Array.from({length: 9}, (_, attempt) => backoffDelay(attempt, {}, () => 0));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  assert.equal(backoffDelay(5000, {}, () => 0), 5000);
});

test('jitter removes up to its fraction, never more', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(5000, 100 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, {}, () => 0), ceiling);
    const lowest = backoffDelay(attempt, {}, () => justBelowOne);
    assert.ok(lowest > ceiling * 0.5 - 1e-9 && lowest < ceiling, `attempt ${attempt}: ${lowest}`);
  }
  assert.equal(backoffDelay(3, {base: 10, factor: 3, cap: 1000, jitter: 0.2}, () => 0.5), 270 * 0.9);
});

test('an attempt number that is not a non-negative integer is a bug', () => {
  assert.throws(() => backoffDelay(-1), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
});
