import assert from 'node:assert/strict';
import {test} from 'node:test';

import {FORCE_KEY, REMEMBER_KEY, TransportChoice} from '../src/transport_choice.js';
import {FakeConsole, FakeStorage} from '../test-support/fakes.js';

const record = (at, why = 'closed before opening (error)') => JSON.stringify({transport: 'sse', at, why});

function choose({configured = 'auto', search = '', storage = new FakeStorage(), now = 0, retryAfterMs} = {}) {
  const console = new FakeConsole();
  const choice = new TransportChoice({configured, search, storage, wallClock: () => now, retryAfterMs, console});
  return {choice, console, storage};
}

test('auto starts with the WebSocket on trial; a configured transport is never on trial', () => {
  assert.deepEqual(pick(choose()), ['websocket', 'auto', true]);
  assert.deepEqual(pick(choose({configured: 'websocket'})), ['websocket', '"websocket" in the page config', false]);
  assert.deepEqual(pick(choose({configured: 'sse'})), ['sse', '"sse" in the page config', false]);
});

test('a remembered failure applies to auto only', () => {
  const storage = new FakeStorage();
  storage.setItem(REMEMBER_KEY, record(0));
  assert.equal(choose({storage, now: 1000}).choice.name, 'sse');
  assert.equal(choose({storage, now: 1000, configured: 'websocket'}).choice.name, 'websocket');
});

test('retryAfterMs defaults to 10 minutes', () => {
  const storage = new FakeStorage();
  storage.setItem(REMEMBER_KEY, record(0));
  assert.equal(choose({storage, now: 599_999}).choice.name, 'sse');
  assert.equal(choose({storage, now: 600_000}).choice.name, 'websocket');
  assert.equal(choose({storage, now: 1000, retryAfterMs: 1000}).choice.name, 'websocket');
});

test('a record from the future (the clock was set back) is not trusted', () => {
  const storage = new FakeStorage();
  storage.setItem(REMEMBER_KEY, record(50_000));
  assert.equal(choose({storage, now: 10_000}).choice.name, 'websocket');
});

test('a damaged record is ignored', () => {
  for (const damaged of ['{not json', '"sse"', '{"transport":"sse"}', '{"transport":"carrier pigeon","at":0}']) {
    const storage = new FakeStorage();
    storage.setItem(REMEMBER_KEY, damaged);
    assert.deepEqual(pick(choose({storage, now: 1})), ['websocket', 'auto', true], damaged);
  }
});

test('without a usable sessionStorage the page still chooses, falls back and settles', () => {
  const denied = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('QuotaExceededError');
    },
    removeItem: () => {
      throw new Error('SecurityError');
    },
  };
  for (const storage of [null, denied]) {
    const {choice} = choose({storage});
    assert.equal(choice.name, 'websocket');
    choice.fallBack('closed before opening (error)');
    assert.deepEqual(pick({choice}), ['sse', 'websocket failed: closed before opening (error); remembered for this tab', false]);
    const other = choose({storage}).choice;
    other.welcomed();
    assert.equal(other.onTrial, false);
  }
});

test('welcomed() settles the trial; only a WebSocket on trial clears the record', () => {
  const storage = new FakeStorage();
  storage.setItem(REMEMBER_KEY, record(0));
  const onSse = choose({storage, now: 1000}).choice;
  onSse.welcomed();
  assert.notEqual(storage.getItem(REMEMBER_KEY), null);
  const retried = choose({storage, now: 700_000}).choice;
  assert.equal(retried.onTrial, true);
  retried.welcomed();
  assert.equal(retried.onTrial, false);
  assert.equal(storage.getItem(REMEMBER_KEY), null);
});

test('a forced transport from sessionStorage, and one that is no transport', () => {
  const storage = new FakeStorage();
  storage.setItem(FORCE_KEY, 'sse');
  assert.deepEqual(pick(choose({storage, configured: 'websocket'})), ['sse', 'forced by sessionStorage["flash_ws.force"]', false]);
  storage.setItem(FORCE_KEY, 'SSE');
  const {choice, console} = choose({storage, configured: 'websocket'});
  assert.equal(choice.name, 'websocket');
  assert.deepEqual(console.lines.warn, ['flash_ws: ignoring sessionStorage["flash_ws.force"]: expected "websocket" or "sse"']);
});

/** @returns {[string, string, boolean]} */
function pick({choice}) {
  return [choice.name, choice.why, choice.onTrial];
}
