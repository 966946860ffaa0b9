// The close-code table shared with the Python tests (tests/vectors/close_codes.json), and what the
// client does for each action.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {CloseAction, CloseCode, httpAction, websocketAction} from '../src/close_codes.js';
import {RESET, running, setup, welcome} from '../test-support/client_harness.js';
import {settle} from '../test-support/fakes.js';

const table = JSON.parse(readFileSync(new URL('../../tests/vectors/close_codes.json', import.meta.url), 'utf8'));

describe('the table', () => {
  test('every named code has its member and action', () => {
    for (const row of table.websocket) {
      assert.equal(CloseCode[row.name], row.code, row.name);
      assert.equal(websocketAction(row.code), row.action, `${row.code} ${row.name}`);
    }
    assert.deepEqual(new Set(Object.keys(CloseCode)), new Set(table.websocket.map((row) => row.name)));
  });

  test('codes outside the table take the action of their range', () => {
    const named = new Set(table.websocket.map((row) => row.code));
    for (const range of table.websocket_ranges) {
      for (let code = range.from; code <= range.to; code++) {
        if (!named.has(code)) assert.equal(websocketAction(code), range.action, String(code));
      }
    }
  });

  test('every HTTP answer has its action', () => {
    for (const row of table.http) {
      assert.equal(httpAction(row.route, row.status, row.code), row.action, JSON.stringify(row));
    }
  });

  test('a refusal that can close a WebSocket and answer over HTTP leads to the same kind of action on both', () => {
    const refusals = JSON.parse(readFileSync(new URL('../../tests/vectors/refusals.json', import.meta.url), 'utf8'));
    const kind = (action) => (action === CloseAction.GIVE_UP ? 'stop' : 'come back');
    for (const row of refusals.refusals.filter((r) => r.status !== null && r.close_code !== null)) {
      assert.equal(kind(websocketAction(row.close_code)), kind(httpAction('sse', row.status, row.code)), row.code);
    }
  });

  test('the actions are the table\'s', () => {
    assert.deepEqual(new Set(Object.values(CloseAction)), new Set(Object.keys(table.actions)));
  });
});

describe('the client acts on the action', () => {
  test('4008 heartbeat timeout resumes with backoff: no reset, no error', () => {
    const {ws, WebSocket, clock, applied, console} = running();
    ws.serverCloses(CloseCode.HEARTBEAT_TIMEOUT, 'heartbeat timeout', true);
    assert.deepEqual(clock.pending(), [100]);
    clock.advance(100);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 0}]);
    WebSocket.last.serverSends([welcome({resumed: true, run: 1})]);
    assert.deepEqual(applied, []);
    assert.deepEqual(console.lines.error, []);
    assert.match(console.lines.warn[0], /connection lost \(server_closed 4008: heartbeat timeout\); reconnecting/);
  });

  test('4009 replaced is quiet (info only), resets nothing and resumes with backoff', () => {
    const {ws, WebSocket, clock, applied, console} = running();
    ws.serverCloses(CloseCode.REPLACED, 'replaced by a newer connection of the same session', true);
    assert.deepEqual(console.lines.error, []);
    assert.deepEqual(console.lines.warn, []);
    assert.match(console.lines.info.at(-1), /a newer connection took over the session \(replaced 4009: replaced by/);
    assert.deepEqual(clock.pending(), [100]);
    clock.advance(100);
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({resumed: true, run: 1})]);
    assert.deepEqual(applied, []);
  });

  for (const code of [CloseCode.GOING_AWAY, CloseCode.RECONNECT]) {
    test(`${code} on a welcomed connection resumes at once and starts the backoff over`, () => {
      const {client, WebSocket, clock, welcomeIn} = setup({random: () => 0});
      client.connect();
      welcomeIn();
      WebSocket.last.serverCloses(code, 'moving', true);
      assert.deepEqual(clock.pending(), [0]);
      clock.advance(0);
      WebSocket.last.serverCloses(1006);
      assert.deepEqual(clock.pending(), [100], 'the attempt counter was reset');
    });

    test(`${code} before any welcome backs off: a server closing every connection is not hammered`, () => {
      const {client, WebSocket, clock} = setup({random: () => 0});
      client.connect();
      const delays = [];
      for (let i = 0; i < 3; i++) {
        WebSocket.last.serverOpens();
        WebSocket.last.serverCloses(code, 'moving', true);
        delays.push(clock.pending()[0]);
        clock.advance(clock.pending()[0]);
      }
      assert.deepEqual(delays, [100, 200, 400]);
    });
  }

  for (const code of [CloseCode.POLICY, CloseCode.REJECTED, CloseCode.UNSUPPORTED_VERSION, 4321]) {
    test(`${code} gives up: open runs reset, an error, no reconnection`, () => {
      const {ws, WebSocket, clock, applied, console} = running();
      ws.serverCloses(code, 'no', true);
      clock.advance(60_000);
      assert.equal(WebSocket.instances.length, 1);
      assert.deepEqual(applied, RESET);
      assert.match(console.lines.error[0], new RegExp(`refused the connection \\(refused ${code}: no\\); giving up`));
    });
  }
});

describe('over SSE + POST', () => {
  async function sseRunning() {
    const context = setup({transport: 'sse'});
    context.client.connect();
    context.EventSource.last.serverOpens();
    context.EventSource.last.serverSends([welcome()]);
    context.client.fire('clicks', [1, 'ignored', 'rows'], [{prop_id: 'start.n_clicks', value: 1}]);
    await settle();
    return context;
  }

  for (const status of [401, 403]) {
    test(`a POST answered ${status} gives up: open runs reset, an error, no reconnection`, async () => {
      const {fetch, EventSource, clock, applied, console} = await sseRunning();
      fetch.last.respond(status, {code: 'rejected', message: 'log in first'});
      await settle();
      clock.advance(60_000);
      assert.equal(EventSource.instances.length, 1);
      assert.ok(EventSource.last.closed);
      assert.deepEqual(applied, RESET);
      assert.match(console.lines.error[0], /refused the connection \(refused: POST answered \d+ \(rejected: log in first\)\); giving up/);
    });
  }

  for (const status of [429, 503]) {
    test(`a POST answered ${status} resumes with backoff once its event stream ends`, async () => {
      const {fetch, EventSource, clock, applied, console} = await sseRunning();
      fetch.last.respond(status, {code: 'too_many_sessions', message: 'later'});
      await settle();
      assert.ok(!EventSource.last.closed, 'the stream may still carry frames');
      EventSource.last.fails();
      assert.deepEqual(clock.pending(), [100]);
      clock.advance(100);
      assert.equal(EventSource.instances.length, 2);
      assert.deepEqual(EventSource.last.query(), {v: '1', sid: 'tok', seq: '0'});
      assert.deepEqual([applied, console.lines.error], [[], []]);
    });
  }
});
