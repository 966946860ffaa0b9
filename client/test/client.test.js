import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {FlashClient} from '../src/client.js';
import {WebSocketTransport} from '../src/websocket_transport.js';
import {FakeClock, FakeConsole, fakeWebSocketClass} from '../test-support/fakes.js';

const RESET = [['start', {disabled: false}], ['status', {children: 'stopped'}]];
const CONFIG = {
  v: 1,
  ws_url: '/_flash_ws/ws',
  transport: 'auto',
  callbacks: {
    load: {name: 'app.load', reset: RESET},
    warmup: {name: 'app.warmup', reset: []},
  },
  groups: {
    clicks: [{kind: 'start', cb: 'load', args: [0, 2], initial: false}],
    page: [{kind: 'start', cb: 'warmup', args: [0], initial: true}],
    stop: [{kind: 'cancel', cb: 'load', arg: 0, keep: 0}],
    mode: [{kind: 'cancel', cb: 'load', arg: 0, keep: {a: 1, b: [2, 3]}}],
  },
  ack_interval_ms: 100,
  ack_every: 64,
  heartbeat_ms: 15_000,
  heartbeat_timeout_ms: 10_000,
};
const CLICK = [{prop_id: 'start.n_clicks', value: 1}];
const welcome = (over = {}) => ({t: 'welcome', v: 1, session: 'tok', epoch: 'e1', resumed: false, seq: 0, run: 0, ...over});

function setup({random = () => 0} = {}) {
  const clock = new FakeClock();
  const WebSocket = fakeWebSocketClass();
  const console = new FakeConsole();
  const applied = [];
  const client = new FlashClient({
    config: CONFIG,
    transportFactory: () => new WebSocketTransport('ws://example.test/_flash_ws/ws', {WebSocket}),
    setProps: (id, props) => applied.push([id, props]),
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random,
    console,
  });
  /** Opens the current socket and welcomes it. */
  const welcomeIn = (over) => {
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome(over)]);
    return WebSocket.last;
  };
  return {client, clock, WebSocket, console, applied, welcomeIn};
}

/** A client connected and welcomed, with one run of `load` started as run 1. */
function running() {
  const context = setup();
  context.client.connect();
  const ws = context.welcomeIn();
  context.client.fire('clicks', [1, 'ignored', 'rows'], CLICK);
  assert.deepEqual(ws.frames().at(-1), {t: 'start', run: 1, cb: 'load', args: [1, 'rows']});
  return {...context, ws};
}

describe('connection', () => {
  test('hello, welcome, then the transport in use is logged', () => {
    const {client, WebSocket, console} = setup();
    client.connect();
    const ws = WebSocket.last;
    assert.equal(ws.url, 'ws://example.test/_flash_ws/ws');
    assert.deepEqual(ws.sent, []);
    ws.serverOpens();
    assert.deepEqual(ws.frames(), [{t: 'hello', v: 1, session: null, seq: 0}]);
    assert.deepEqual(console.lines.info, []);
    ws.serverSends([welcome()]);
    assert.equal(console.lines.info.length, 1);
    assert.match(console.lines.info[0], /connected over websocket \(new session\)/);
  });

  test('fire() before the socket is welcomed queues; the frames go out after the welcome', () => {
    const {client, WebSocket, welcomeIn} = setup();
    client.fire('clicks', [1, 'x', 'rows'], CLICK);
    client.connect();
    client.fire('page', ['p'], []);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames().map((frame) => frame.t), ['hello']);
    const ws = welcomeIn();
    assert.deepEqual(ws.frames().slice(1), [
      {t: 'start', run: 1, cb: 'load', args: [1, 'rows']},
      {t: 'start', run: 2, cb: 'warmup', args: ['p']},
    ]);
    assert.equal(ws.sent.length, 2, 'frames ready at once travel in one message');
  });

  test('updates are applied through setProps and acknowledged within 100 ms', () => {
    const {ws, applied, clock} = running();
    ws.serverSends([
      {t: 'update', seq: 1, run: 1, props: [['status', {children: 'loading'}]]},
      {t: 'update', seq: 2, run: 1, props: [['table', {data: [1]}]]},
    ]);
    assert.deepEqual(applied, [['status', {children: 'loading'}], ['table', {data: [1]}]]);
    const sent = ws.sent.length;
    clock.advance(99);
    assert.equal(ws.sent.length, sent);
    clock.advance(1);
    assert.deepEqual(ws.frames().at(-1), {t: 'ack', seq: 2});
    clock.advance(1000);
    assert.equal(ws.sent.length, sent + 1, 'one ack, no more');
  });

  test('64 frames are acknowledged at once', () => {
    const {ws} = running();
    ws.serverSends(Array.from({length: 64}, (_, i) => ({t: 'update', seq: i + 1, run: 1, props: []})));
    assert.deepEqual(ws.frames().at(-1), {t: 'ack', seq: 64});
  });

  test('a server ping is answered', () => {
    const {ws} = running();
    ws.serverSends([{t: 'ping', id: 3}]);
    assert.deepEqual(ws.frames().at(-1), {t: 'pong', id: 3});
  });
});

describe('fire()', () => {
  test('the initial call starts only callbacks with initial: true', () => {
    const {client, welcomeIn} = setup();
    client.connect();
    const ws = welcomeIn();
    client.fire('clicks', [null, null, null], []);
    client.fire('page', ['p'], []);
    assert.deepEqual(ws.frames().slice(1), [{t: 'start', run: 1, cb: 'warmup', args: ['p']}]);
  });

  test('cancel: only a running run, only when the value differs from keep, never on the initial call', () => {
    const {client, ws, applied} = running();
    client.fire('stop', [0], [{prop_id: 'stop.n_clicks'}]); // the keep value
    client.fire('stop', [1], []); // initial call
    client.fire('mode', [{b: [2, 3], a: 1}], CLICK); // keep, as JSON, whatever the key order
    assert.deepEqual(ws.frames().at(-1).t, 'start');
    assert.deepEqual(applied, []);
    client.fire('stop', [1], CLICK);
    assert.deepEqual(ws.frames().at(-1), {t: 'cancel', run: 1});
    assert.deepEqual(applied, RESET, 'the reset is applied at once');
    client.fire('stop', [2], CLICK); // nothing running any more
    assert.deepEqual(ws.frames().filter((frame) => frame.t === 'cancel'), [{t: 'cancel', run: 1}]);
  });

  test('a start while running replaces the run: its later updates are ignored, nothing is reset', () => {
    const {client, ws, applied} = running();
    client.fire('clicks', [2, null, 'more'], CLICK);
    assert.deepEqual(ws.frames().at(-1), {t: 'start', run: 2, cb: 'load', args: [2, 'more']});
    ws.serverSends([
      {t: 'update', seq: 1, run: 1, props: [['status', {children: 'old'}]]},
      {t: 'end', seq: 2, run: 1, reason: 'replaced'},
      {t: 'update', seq: 3, run: 2, props: [['status', {children: 'new'}]]},
    ]);
    assert.deepEqual(applied, [['status', {children: 'new'}]]);
  });

  test('an unknown group is reported', () => {
    const {client, console} = setup();
    client.fire('nope', [], CLICK);
    assert.match(console.lines.error[0], /unknown trigger group 'nope'/);
  });
});

describe('run ends', () => {
  test('an error end applies the reset and logs the error naming the callback', () => {
    const {ws, applied, console, clock} = running();
    ws.serverSends([
      {t: 'update', seq: 1, run: 1, props: [['status', {children: 'failed'}]]},
      {t: 'end', seq: 2, run: 1, reason: 'error', error: {code: 'callback_error', message: 'ValueError: boom'}},
    ]);
    // one flush: the reset's status comes last and wins
    assert.deepEqual(applied, [['status', {children: 'stopped'}], ['start', {disabled: false}]]);
    clock.advance(1);
    assert.equal(applied.length, 2);
    assert.equal(console.lines.error.length, 1);
    assert.match(console.lines.error[0], /app\.load failed: callback_error: ValueError: boom/);
  });

  test('a refused start applies the reset and says so', () => {
    const {ws, applied, console} = running();
    ws.serverSends([{t: 'end', seq: 1, run: 1, reason: 'refused', error: {code: 'too_many_runs', message: '32 active'}}]);
    assert.deepEqual(applied, RESET);
    assert.match(console.lines.error[0], /refused to run app\.load: too_many_runs/);
  });

  test('a run cancelled here is not reset again by its end, whatever the reason', () => {
    const {client, ws, applied, console, clock} = running();
    client.fire('stop', [1], CLICK);
    assert.deepEqual(applied, RESET);
    clock.advance(10);
    ws.serverSends([{t: 'end', seq: 1, run: 1, reason: 'cancelled'}]);
    clock.advance(10);
    assert.deepEqual(applied, RESET);
    client.fire('clicks', [2, null, 'x'], CLICK);
    client.fire('stop', [2], CLICK);
    clock.advance(10);
    ws.serverSends([{t: 'end', seq: 2, run: 2, reason: 'error', error: {code: 'callback_error', message: 'late'}}]);
    clock.advance(10);
    assert.deepEqual(applied, [...RESET, ...RESET], 'one reset per cancel');
    assert.match(console.lines.error[0], /app\.load failed: callback_error: late/);
  });

  test('a done end applies nothing and logs nothing', () => {
    const {ws, applied, console} = running();
    ws.serverSends([{t: 'end', seq: 1, run: 1, reason: 'done'}]);
    assert.deepEqual(applied, []);
    assert.deepEqual(console.lines.error, []);
  });

  test('an error frame is logged', () => {
    const {ws, console} = running();
    ws.serverSends([{t: 'error', code: 'bad_frame', message: "frame 0: 'start' needs ...", cb: 'load'}]);
    assert.match(console.lines.error[0], /reported bad_frame \(app\.load\): frame 0/);
  });
});

describe('reconnection', () => {
  test('after an unexpected close: backoff, then a hello that resumes with session and seq', () => {
    const {ws, WebSocket, clock, console} = running();
    ws.serverSends([{t: 'update', seq: 1, run: 1, props: []}, {t: 'update', seq: 2, run: 1, props: []}]);
    ws.serverCloses(1006);
    assert.match(console.lines.warn[0], /connection lost \(error\)/);
    assert.equal(WebSocket.instances.length, 1);
    clock.advance(99);
    assert.equal(WebSocket.instances.length, 1);
    clock.advance(1);
    assert.equal(WebSocket.instances.length, 2);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 2}]);
    WebSocket.last.serverSends([welcome({resumed: true, seq: 2, run: 0})]);
    assert.deepEqual(WebSocket.last.frames().at(-1), {t: 'start', run: 1, cb: 'load', args: [1, 'rows']},
      'a start the server never got is sent again');
  });

  test('failed attempts back off exponentially; a welcome resets the backoff', () => {
    const {client, WebSocket, clock, welcomeIn} = setup({random: () => 0});
    client.connect();
    const delays = [];
    for (let i = 0; i < 4; i++) {
      WebSocket.last.serverCloses(1006);
      delays.push(clock.pending()[0]);
      clock.advance(clock.pending()[0]);
    }
    assert.deepEqual(delays, [100, 200, 400, 800]);
    welcomeIn();
    WebSocket.last.serverCloses(1001, 'going away', true);
    assert.deepEqual(clock.pending(), [100]);
  });

  test('a sequence gap closes the socket and resumes from the last applied frame', () => {
    const {ws, WebSocket, clock, applied} = running();
    ws.serverSends([
      {t: 'update', seq: 1, run: 1, props: [['status', {children: 1}]]},
      {t: 'update', seq: 3, run: 1, props: [['status', {children: 3}]]},
    ]);
    assert.equal(ws.closedWith, 1000);
    assert.deepEqual(applied, [['status', {children: 1}]]);
    clock.advance(100);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 1}]);
  });

  test('a session the server lost: open runs are reset and reported', () => {
    const {ws, WebSocket, clock, applied, console} = running();
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({session: 'tok2', resumed: false})]);
    assert.deepEqual(applied, RESET);
    assert.match(console.lines.error[0], /app\.load was interrupted/);
    assert.deepEqual(WebSocket.last.frames().map((frame) => frame.t), ['hello']);
  });

  test('a server silent past its heartbeat is declared dead; any message keeps the connection', () => {
    const {ws, clock, WebSocket, console} = running();
    clock.advance(24_000);
    ws.serverSends([{t: 'ping', id: 1}]);
    clock.advance(24_999);
    assert.equal(ws.closedWith, null);
    clock.advance(1);
    assert.equal(ws.closedWith, 1000);
    assert.match(console.lines.warn[0], /connection lost \(heartbeat_timeout\)/);
    clock.advance(100);
    assert.equal(WebSocket.instances.length, 2);
  });

  test('a refused connection is not retried; running runs are reset', () => {
    const {ws, clock, applied, console, WebSocket} = running();
    ws.serverCloses(4003, 'Origin not allowed', true);
    clock.advance(60_000);
    assert.equal(WebSocket.instances.length, 1);
    assert.match(console.lines.error[0], /refused the connection \(4003 Origin not allowed\)/);
    assert.deepEqual(applied, RESET);
  });

  test('an unreadable message closes the socket and reconnects', () => {
    const {ws, console, clock, WebSocket} = running();
    ws.serverSends('{"t":');
    assert.match(console.lines.error[0], /unreadable message from the server \(bad_frame\)/);
    assert.equal(ws.closedWith, 1000);
    clock.advance(100);
    assert.equal(WebSocket.instances.length, 2);
  });

  test('close() stops for good: no reconnection, fire() does nothing', () => {
    const {client, ws, clock, WebSocket} = running();
    client.close();
    assert.equal(ws.closedWith, 1000);
    clock.advance(10_000);
    assert.equal(WebSocket.instances.length, 1);
    client.fire('clicks', [3, null, null], CLICK);
    client.connect();
    assert.equal(WebSocket.instances.length, 1);
  });

  test('leave() says bye and disconnects; connect() again opens a new connection', () => {
    const {client, ws, clock, WebSocket} = running();
    client.leave();
    assert.deepEqual(ws.frames().at(-1), {t: 'bye'});
    assert.equal(ws.closedWith, 1000);
    clock.advance(10_000);
    assert.equal(WebSocket.instances.length, 1);
    client.connect();
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 0}]);
  });
});
