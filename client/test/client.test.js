import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {REMEMBER_KEY} from '../src/transport_choice.js';
import {CLICK, RESET, running, setup, welcome} from '../test-support/client_harness.js';
import {FakeStorage, settle} from '../test-support/fakes.js';

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
    assert.match(console.lines.info[0], /^flash_ws: connected over websocket, new session \("websocket" in the page config\)$/);
  });

  test('fire() before the socket is welcomed queues; the frames go out after the welcome', () => {
    const {client, WebSocket} = setup();
    client.fire('clicks', [1, 'x', 'rows'], CLICK);
    client.connect();
    client.fire('page', ['p'], []);
    const ws = WebSocket.last;
    ws.serverOpens();
    assert.deepEqual(ws.frames().map((frame) => frame.t), ['hello']);
    ws.serverSends([welcome()]);
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

  test('MATCH: each card is its own run; a MATCH cancel stops its card only, with the reset made for its card', () => {
    const match = {context: 1, input: 0, keys: ['index']};
    const {client, welcomeIn, applied, clock} = setup({config: {
      callbacks: {count: {name: 'app.count', reset: [[{type: 'out', index: ['MATCH']}, {children: 'stopped'}], ['all', {n: 0}]]}},
      groups: {
        go: [{kind: 'start', cb: 'count', args: [0, 1], initial: false, match}],
        stop: [{kind: 'cancel', cb: 'count', arg: 0, keep: null, match}],
        stopAll: [{kind: 'cancel', cb: 'count', arg: 0, keep: null}],
      },
    }});
    client.connect();
    const ws = welcomeIn();
    const card = (type, index) => ({t: [`{"index":${index},"type":"${type}"}.n_clicks`], i: [{id: {type, index}, property: 'n_clicks'}], s: []});
    const fire = (group, type, index) => client.fire(group, [1, card(type, index)], [{prop_id: card(type, index).t[0]}]);
    fire('go', 'go', 1);
    fire('go', 'go', 2);
    fire('go', 'go', 1); // replaces card 1's run only
    assert.deepEqual(ws.frames().slice(1).map(({t, run, key}) => [t, run, key]), [
      ['start', 1, '{"index":1}'], ['start', 2, '{"index":2}'], ['start', 3, '{"index":1}'],
    ]);
    fire('stop', 'stop', 2);
    assert.deepEqual(ws.frames().at(-1), {t: 'cancel', run: 2});
    assert.deepEqual(applied, [[{type: 'out', index: 2}, {children: 'stopped'}], ['all', {n: 0}]]);
    client.fire('stopAll', [1], [{prop_id: 'halt.n_clicks'}]); // no MATCH: every card's run
    assert.deepEqual(ws.frames().at(-1), {t: 'cancel', run: 3});
    clock.advance(1); // the next flush follows the renderer's turn (a timer)
    assert.deepEqual(applied.slice(2), [[{type: 'out', index: 1}, {children: 'stopped'}], ['all', {n: 0}]]);
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
    assert.match(console.lines.warn[0], /connection lost \(error 1006\)/);
    assert.equal(WebSocket.instances.length, 1);
    clock.advance(99);
    assert.equal(WebSocket.instances.length, 1);
    clock.advance(1);
    assert.equal(WebSocket.instances.length, 2);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 2}]);
    WebSocket.last.serverSends([welcome({resumed: true, seq: 2, run: 1})]);
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: 'tok', seq: 2}], 'nothing is sent again');
  });

  test('resumed: a start the server never got is sent again', () => {
    const {ws, WebSocket, clock} = running();
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({resumed: true, seq: 0, run: 0})]);
    assert.deepEqual(WebSocket.last.frames().at(-1), {t: 'start', run: 1, cb: 'load', args: [1, 'rows']});
  });

  test('resumed without a run the page saw frames of (its worker died before Redis held it): reset and reported lost', () => {
    const {ws, WebSocket, clock, applied, console, lost} = running();
    ws.serverSends([{t: 'update', seq: 1, run: 1, props: [['out', {children: 1}]]}]);
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({resumed: true, seq: 1, run: 0})]);
    assert.deepEqual(applied.slice(-RESET.length), RESET);
    assert.match(console.lines.error[0], /app\.load was interrupted: the worker running it stopped \(worker_lost\)/);
    assert.deepEqual(lost, [{cb: 'load', name: 'app.load', reason: 'worker_lost'}]);
    assert.deepEqual(WebSocket.last.frames().map((frame) => frame.t), ['hello'], 'the run is not started again');
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
    WebSocket.last.serverCloses(1006);
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
    const {ws, WebSocket, clock, applied, console, lost} = running();
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverOpens();
    assert.deepEqual(lost, []);
    WebSocket.last.serverSends([welcome({session: 'tok2', resumed: false})]);
    assert.deepEqual(applied, RESET);
    assert.match(console.lines.error[0], /app\.load was interrupted/);
    assert.deepEqual(lost, [{cb: 'load', name: 'app.load'}], 'the app hook hears of it');
    assert.deepEqual(WebSocket.last.frames().map((frame) => frame.t), ['hello']);
  });

  test('a server unreachable for resume_grace: open runs are reset and reported, and a new session opens', () => {
    const {ws, WebSocket, clock, applied, console, lost} = running({config: {resume_grace_ms: 30_000}});
    ws.serverSends([{t: 'update', seq: 1, run: 1, props: []}]);
    ws.serverCloses(1006);
    let attempts = 1;
    while (clock.time + clock.pending()[0] < 29_000) {  // every attempt refused: the server is gone
      clock.advance(clock.pending()[0]);
      if (WebSocket.instances.length > attempts) {
        attempts = WebSocket.instances.length;
        WebSocket.last.serverCloses(1006);
      }
    }
    clock.advance(29_000 - clock.time);
    assert.deepEqual(applied, [], 'still within resume_grace: the run may yet resume');
    clock.advance(1_000);
    assert.deepEqual(applied, RESET);
    assert.match(console.lines.error[0], /app\.load was interrupted: the server could not be reached for 30 s \(its resume_grace\)/);
    assert.deepEqual(lost, [{cb: 'load', name: 'app.load', reason: 'unreachable'}]);
    clock.advance(clock.pending()[0]);
    WebSocket.last.serverOpens();
    assert.deepEqual(WebSocket.last.frames(), [{t: 'hello', v: 1, session: null, seq: 0}], 'a new session');
    WebSocket.last.serverSends([welcome({session: 'tok2', resumed: false})]);
    assert.deepEqual(applied, RESET, 'nothing is reset twice');
    assert.equal(lost.length, 1);
  });

  test('a welcome within resume_grace stops its clock', () => {
    const {ws, WebSocket, clock, applied, lost} = running({config: {resume_grace_ms: 30_000}});
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({resumed: true, seq: 0, run: 1})]);
    for (let id = 1; id <= 6; id++) {  // a minute on a live connection (the server's pings keep it so)
      clock.advance(10_000);
      WebSocket.last.serverSends([{t: 'ping', id}]);
    }
    assert.deepEqual([applied, lost, WebSocket.instances.length], [[], [], 2]);
  });

  test('a run ended because its worker stopped is reset and reported as lost, with the reason', () => {
    const {ws, applied, lost} = running();
    ws.serverSends([{t: 'end', seq: 1, run: 1, reason: 'error', error: {code: 'worker_shutdown', message: 'the worker stopped'}}]);
    assert.deepEqual(applied, RESET);
    assert.deepEqual(lost, [{cb: 'load', name: 'app.load', reason: 'worker_shutdown'}]);
  });

  test('a run that failed in the callback is reset but not reported as lost', () => {
    const {ws, applied, lost} = running();
    ws.serverSends([{t: 'end', seq: 1, run: 1, reason: 'error', error: {code: 'callback_error', message: 'x'}}]);
    assert.deepEqual(applied, RESET);
    assert.deepEqual(lost, []);
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

  test('a reconnection attempt that never opens (a dead path) is abandoned after the silence limit', () => {
    const {ws, clock, WebSocket} = running();
    ws.serverCloses(1006, '', false);
    clock.advance(100);
    assert.equal(WebSocket.instances.length, 2);
    clock.advance(24_999);
    assert.equal(WebSocket.last.closedWith, null, 'still waiting for the attempt');
    clock.advance(1);
    assert.notEqual(WebSocket.last.closedWith, null, 'the silent attempt is closed');
    clock.advance(10_000);
    assert.equal(WebSocket.instances.length, 3, 'and another one is made');
  });

  test('after a dead path, event stream attempts not answered within 1 s are replaced at once (ten at most)', () => {
    const {client, clock, EventSource} = setup({transport: 'sse'});
    client.connect();
    EventSource.last.serverOpens();
    clock.advance(1500);
    assert.equal(EventSource.last.closed, false, 'a first attempt is not hurried');
    EventSource.last.serverSends([welcome()]);
    clock.advance(25_000); // the server goes silent: the watchdog declares the path dead
    const attempts = [];
    for (let i = 0; i < 10; i += 1) {
      clock.advance(100);
      const source = EventSource.last;
      clock.advance(999);
      assert.equal(source.closed, false, 'still waiting for the attempt');
      clock.advance(1);
      attempts.push(source.closed);
    }
    assert.deepEqual(attempts, Array(10).fill(true), 'each abandoned after 1 s, the next within 100 ms');
    clock.advance(100);
    const patient = EventSource.last;
    clock.advance(1500);
    assert.equal(patient.closed, false, 'past ten, attempts wait for the watchdog (a slow server is not hammered)');
  });

  test('wake() reconnects at once when waiting for a backoff, and replaces a silent connection', () => {
    const {client, ws, clock, WebSocket} = running();
    ws.serverCloses(1006, '', false);
    clock.advance(100);
    WebSocket.last.serverCloses(1006, '', false); // the first retry fails: the next waits for its backoff
    assert.equal(WebSocket.instances.length, 2);
    client.wake();
    assert.equal(WebSocket.instances.length, 3, 'reconnected without waiting');
    clock.time += 60_000; // a hidden tab: time passes, its timers do not run
    const third = WebSocket.last;
    client.wake();
    assert.notEqual(third.closedWith, null, 'the silent connection is replaced');
  });

  test('auto: a WebSocket that stops getting through after a drop hands the session over to SSE', () => {
    const {client, clock, WebSocket, EventSource} = setup({transport: 'auto'});
    client.connect();
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome({session: 'tok'})]);
    client.fire('clicks', [1, 'ignored', 'rows'], CLICK);
    WebSocket.last.serverSends([{t: 'update', seq: 1, run: 1, props: [['status', {children: 1}]]}]);
    WebSocket.last.serverCloses(1006, '', false);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      clock.advance(10_000);
      WebSocket.last.serverCloses(1006, '', false); // refused by a proxy: never opens
    }
    clock.advance(0);
    assert.equal(WebSocket.instances.length, 4);
    assert.equal(EventSource.instances.length, 1, 'the page moved to SSE');
    const url = new URL(EventSource.last.url, 'http://example.test');
    assert.deepEqual([url.searchParams.get('sid'), url.searchParams.get('seq')], ['tok', '1'], 'resuming the session');
  });

  test('wake() leaves a connection that is heard from alone', () => {
    const {client, ws, clock, WebSocket} = running();
    clock.advance(1000);
    client.wake();
    assert.equal(ws.closedWith, null);
    assert.equal(WebSocket.instances.length, 1);
  });

  test('a refused connection is not retried; running runs are reset and reported as refused, not cancelled', () => {
    const {client, ws, clock, applied, console, WebSocket, lost} = running();
    ws.serverCloses(4003, 'Origin not allowed', true);
    clock.advance(60_000);
    assert.equal(WebSocket.instances.length, 1);
    assert.match(console.lines.error[0], /refused the connection \(refused 4003: Origin not allowed\); giving up/);
    assert.equal(console.lines.error[1], 'flash_ws: app.load was stopped: the server refused the connection (refused 4003: Origin not allowed)');
    assert.deepEqual(applied, RESET);
    assert.deepEqual(lost, [{cb: 'load', name: 'app.load', reason: 'refused', message: 'refused 4003: Origin not allowed'}]);
    client.fire('clicks', [2, null, 'x'], CLICK); // a click afterwards is not dropped silently
    assert.equal(console.lines.error.at(-1),
      "flash_ws: app.load not started: the server refused this page's connection (refused 4003: Origin not allowed)");
    assert.equal(lost.length, 2);
    assert.equal(WebSocket.instances.length, 1, 'nothing is sent or opened');
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

/** A client configured for SSE, its stream open and welcomed, with one run of `load` started as run 1. */
async function runningOverSse(options = {}) {
  const context = setup({transport: 'sse', ...options});
  context.client.connect();
  const es = context.EventSource.last;
  es.serverOpens();
  es.serverSends([welcome()]);
  context.client.fire('clicks', [1, 'ignored', 'rows'], CLICK);
  assert.deepEqual(context.fetch.last.frames(), [{t: 'start', run: 1, cb: 'load', args: [1, 'rows']}]);
  context.fetch.last.respond(204);
  await settle();
  return {...context, es};
}

describe('over SSE + POST', () => {
  test('the hello is in the query string; the welcome names the session the POSTs carry', async () => {
    const {fetch, EventSource, WebSocket, console} = await runningOverSse();
    assert.equal(EventSource.instances.length, 1);
    assert.equal(WebSocket.instances.length, 0);
    assert.equal(EventSource.last.url, '/_flash_ws/sse?v=1&sid=&seq=0');
    const [post] = fetch.requests;
    assert.equal(post.url, '/_flash_ws/post');
    assert.equal(post.init.method, 'POST');
    assert.deepEqual(post.init.headers, {'Content-Type': 'application/json', 'X-Flash-Ws-Session': 'tok'});
    assert.notEqual(post.init.keepalive, true);
    assert.match(console.lines.info[0], /^flash_ws: connected over sse, new session \("sse" in the page config\)$/);
  });

  test('updates are applied and acknowledged by POST; a ping is answered with a pong', async () => {
    const {es, fetch, applied, clock} = await runningOverSse();
    es.serverSends([{t: 'update', seq: 1, run: 1, props: [['status', {children: 'loading'}]]}]);
    assert.deepEqual(applied, [['status', {children: 'loading'}]]);
    clock.advance(100);
    assert.deepEqual(fetch.last.frames(), [{t: 'ack', seq: 1}]);
    fetch.last.respond(204);
    await settle();
    es.serverSends([{t: 'ping', id: 4}]);
    assert.deepEqual(fetch.last.frames(), [{t: 'pong', id: 4}]);
  });

  test('one POST at a time: frames written meanwhile go together in the next, in order', async () => {
    const {client, fetch} = await runningOverSse();
    client.fire('stop', [1], CLICK);
    client.fire('page', ['p'], CLICK);
    client.fire('clicks', [2, null, 'x'], CLICK);
    assert.equal(fetch.requests.length, 2, 'the cancel is in flight');
    assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}]);
    fetch.last.respond(204);
    await settle();
    assert.equal(fetch.requests.length, 3);
    assert.deepEqual(fetch.last.frames(), [
      {t: 'start', run: 2, cb: 'warmup', args: ['p']},
      {t: 'start', run: 3, cb: 'load', args: [2, 'x']},
    ]);
  });

  test('a POST lost to the network: the stream is read until it ends; then reconnect, resume, and the frames the server missed go again in order, once', async () => {
    const {client, es, fetch, clock, EventSource, console} = await runningOverSse();
    es.serverSends([{t: 'update', seq: 1, run: 1, props: []}]);
    client.fire('page', ['p'], CLICK); // run 2, in flight with the ack
    client.fire('clicks', [2, null, 'x'], CLICK); // run 3 replaces run 1, waits
    fetch.last.fail();
    await settle();
    assert.ok(!es.closed, 'the event stream still works');
    es.serverSends([{t: 'ping', id: 5}, {t: 'update', seq: 2, run: 1, props: []}]); // its pong is not posted
    client.fire('stop', [3], CLICK); // a cancel of run 3, which the server never got: over here
    clock.advance(1000); // an ack falls due
    assert.equal(fetch.requests.length, 2, 'nothing more is posted on the lost connection');
    assert.deepEqual(console.lines.warn, []);
    es.fails(); // the server ends the stream
    assert.ok(es.closed);
    assert.match(console.lines.warn[0], /connection lost \(error: POST failed: TypeError: Failed to fetch\); reconnecting/);
    clock.advance(100);
    assert.equal(EventSource.instances.length, 2);
    assert.deepEqual(EventSource.last.query(), {v: '1', sid: 'tok', seq: '2'});
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome({resumed: true, seq: 2, run: 1})]);
    assert.equal(fetch.requests.length, 3, 'one POST: the frames the server missed, once');
    assert.deepEqual(fetch.last.frames(), [
      {t: 'cancel', run: 1}, // replaced here: cancelled in case the start replacing it is lost again
      {t: 'start', run: 2, cb: 'warmup', args: ['p']},
      // run 3 was cancelled here before the server had it: it is over, its start goes nowhere
    ]);
    assert.equal(fetch.last.init.headers['X-Flash-Ws-Session'], 'tok');
  });

  test('a POST lost while the server drains: the run\'s end still comes on the open stream and is applied', async () => {
    const {es, fetch, clock, applied, console, EventSource} = await runningOverSse();
    es.serverSends([{t: 'update', seq: 1, run: 1, props: [['status', {children: 'loading'}]]}]);
    clock.advance(1000); // the ack falls due: the server no longer listens
    assert.deepEqual(fetch.last.frames(), [{t: 'ack', seq: 1}]);
    fetch.last.fail();
    await settle();
    es.serverSends([{t: 'end', seq: 2, run: 1, reason: 'error', error: {code: 'worker_shutdown', message: 'the worker is shutting down'}}]);
    assert.ok(RESET.every((pair) => applied.some((got) => JSON.stringify(got) === JSON.stringify(pair))), 'the reset of the ended run is applied');
    assert.match(console.lines.error[0], /app\.load failed: worker_shutdown/);
    es.fails();
    clock.advance(100);
    assert.deepEqual(EventSource.last.query(), {v: '1', sid: 'tok', seq: '2'}, 'the resume starts after the end');
  });

  test('404 unknown_session: reconnect; the new session resets the runs that were lost', async () => {
    const {client, es, fetch, clock, EventSource, applied, console} = await runningOverSse();
    client.fire('page', ['p'], CLICK);
    fetch.last.respond(404, {code: 'unknown_session', message: 'no such session'});
    await settle();
    es.fails(); // the stream of a session the server no longer has ends too
    assert.match(console.lines.warn[0], /connection lost \(error: the server no longer has the session\)/);
    clock.advance(100);
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome({session: 'tok2', resumed: false})]);
    assert.deepEqual(applied, RESET);
    assert.match(console.lines.error[0], /app\.load was interrupted: the server lost the session/);
    client.fire('clicks', [3, null, 'y'], CLICK);
    assert.equal(fetch.last.init.headers['X-Flash-Ws-Session'], 'tok2');
  });

  test('another 4xx is a refusal: logged with its code and message, and the connection goes on', async () => {
    const {client, es, fetch, console} = await runningOverSse();
    client.fire('page', ['p'], CLICK); // in flight
    client.fire('stop', [1], CLICK); // waits
    fetch.last.respond(400, {code: 'bad_frame', message: "frame 0: 'start' needs an array 'args'"});
    await settle();
    assert.deepEqual(console.lines.error, ["flash_ws: the server refused a message (bad_frame): frame 0: 'start' needs an array 'args'"]);
    assert.equal(es.closed, false);
    assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}], 'the next POST goes out');
    fetch.last.respond(413, '<html>Request Entity Too Large</html>'); // a proxy's answer
    await settle();
    assert.equal(console.lines.error[1], 'flash_ws: the server refused a message (http_413): status 413');
    assert.equal(es.closed, false);
  });

  test('a server that stops answering pings is declared dead, as over a WebSocket', async () => {
    const {es, clock, EventSource} = await runningOverSse();
    clock.advance(25_000);
    assert.ok(es.closed);
    clock.advance(100);
    assert.equal(EventSource.instances.length, 2);
  });

  test('after a drop the stream resumes with session and seq in the query string', async () => {
    const {es, clock, EventSource, fetch, console} = await runningOverSse();
    es.serverSends([{t: 'update', seq: 1, run: 1, props: []}, {t: 'update', seq: 2, run: 1, props: []}]);
    es.fails();
    assert.ok(es.closed, 'closed at once: no reconnection of its own with a Last-Event-ID');
    assert.match(console.lines.warn[0], /connection lost \(error: the event stream failed\)/);
    clock.advance(99);
    assert.equal(EventSource.instances.length, 1);
    clock.advance(1);
    assert.equal(EventSource.last.url, '/_flash_ws/sse?v=1&sid=tok&seq=2');
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome({resumed: true, seq: 2, run: 1})]);
    assert.match(console.lines.info.at(-1), /connected over sse, session resumed/);
    assert.equal(fetch.requests.length, 1, 'the hello acknowledged seq 2: nothing to post');
  });

  test('leave() says bye in a keepalive POST, with the frames still waiting', async () => {
    const {client, es, fetch} = await runningOverSse();
    client.fire('page', ['p'], CLICK); // in flight
    client.fire('stop', [1], CLICK); // waits
    client.leave();
    assert.ok(es.closed);
    assert.equal(fetch.requests.length, 3);
    assert.equal(fetch.last.init.keepalive, true);
    assert.deepEqual(fetch.last.init.headers, {'Content-Type': 'application/json', 'X-Flash-Ws-Session': 'tok'});
    assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}, {t: 'bye'}]);
  });
});

describe('transport choice', () => {
  const MINUTE = 60_000;
  const remembered = (storage) => JSON.parse(storage.getItem(REMEMBER_KEY));

  test('auto: a WebSocket that fails before opening gives way to SSE at once, and the tab remembers it', () => {
    const {client, WebSocket, EventSource, clock, console, storage} = setup({transport: 'auto', time: 5 * MINUTE});
    client.connect();
    WebSocket.last.serverCloses(1006);
    assert.equal(EventSource.instances.length, 0);
    clock.advance(0);
    assert.equal(EventSource.instances.length, 1);
    assert.equal(EventSource.last.url, '/_flash_ws/sse?v=1&sid=&seq=0');
    assert.deepEqual(remembered(storage), {transport: 'sse', at: 5 * MINUTE, why: 'closed before opening (error 1006)'});
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome()]);
    assert.deepEqual(console.lines.info, [
      'flash_ws: connected over sse, new session (websocket failed: closed before opening (error 1006); remembered for this tab)',
    ]);
    assert.deepEqual(console.lines.warn, []);
  });

  test('auto: a WebSocket open but not welcomed within ws_timeout_ms gives way to SSE', () => {
    const {client, WebSocket, EventSource, clock, console} = setup({transport: 'auto', config: {ws_timeout_ms: 1500}});
    client.connect();
    const ws = WebSocket.last;
    ws.serverOpens();
    assert.deepEqual(ws.frames(), [{t: 'hello', v: 1, session: null, seq: 0}]);
    clock.advance(1499);
    assert.equal(ws.closedWith, null);
    clock.advance(1);
    assert.equal(ws.closedWith, 1000);
    assert.equal(EventSource.instances.length, 1);
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome()]);
    assert.match(console.lines.info[0], /connected over sse, new session \(websocket failed: no welcome within 1500 ms;/);
  });

  test('auto: ws_timeout_ms defaults to 2000 and also bounds a WebSocket that never opens', () => {
    const {client, WebSocket, EventSource, clock} = setup({transport: 'auto'});
    client.connect();
    clock.advance(1999);
    assert.equal(EventSource.instances.length, 0);
    clock.advance(1);
    assert.equal(WebSocket.last.closedWith, 1000);
    assert.equal(EventSource.instances.length, 1);
  });

  test('auto: a welcomed WebSocket is kept; its drops reconnect over the WebSocket', () => {
    const {client, WebSocket, EventSource, clock, console, welcomeIn} = setup({transport: 'auto'});
    client.connect();
    const ws = welcomeIn();
    assert.match(console.lines.info[0], /connected over websocket, new session \(auto\)$/);
    clock.advance(10_000); // the trial's deadline is long gone
    assert.equal(ws.closedWith, null);
    assert.equal(WebSocket.instances.length, 1);
    ws.serverCloses(1006);
    clock.advance(100);
    WebSocket.last.serverCloses(1006); // the reconnection fails before opening
    clock.advance(200);
    assert.equal(WebSocket.instances.length, 3);
    assert.equal(EventSource.instances.length, 0);
  });

  test('once on SSE after a fallback, every reconnection is over SSE', async () => {
    const {client, WebSocket, EventSource, clock, fetch} = setup({transport: 'auto'});
    client.connect();
    WebSocket.last.serverCloses(1006);
    clock.advance(0);
    EventSource.last.fails(); // SSE fails too, before its welcome: the page asks why
    fetch.last.respond(400, {code: 'unknown_session', message: 'missing the session header'}); // admitted
    await settle();
    clock.advance(100);
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome()]);
    EventSource.last.fails();
    clock.advance(100);
    assert.equal(EventSource.instances.length, 3);
    assert.equal(WebSocket.instances.length, 1);
  });

  test('a refused WebSocket is no reason to try SSE: the client gives up as before', () => {
    const {client, WebSocket, EventSource, clock, console} = setup({transport: 'auto'});
    client.connect();
    WebSocket.last.serverOpens();
    WebSocket.last.serverCloses(4003, 'Origin not allowed', true);
    clock.advance(60_000);
    assert.equal(EventSource.instances.length, 0);
    assert.match(console.lines.error[0], /refused the connection/);
  });

  test("the tab's next page goes straight to SSE; after ws_retry_after_ms it tries the WebSocket again", () => {
    const storage = new FakeStorage();
    const first = setup({transport: 'auto', storage, time: 0});
    first.client.connect();
    first.WebSocket.last.serverCloses(1006);

    const second = setup({transport: 'auto', storage, time: 9 * MINUTE});
    second.client.connect();
    assert.equal(second.WebSocket.instances.length, 0);
    second.EventSource.last.serverOpens();
    second.EventSource.last.serverSends([welcome()]);
    assert.equal(
      second.console.lines.info[0],
      'flash_ws: connected over sse, new session (remembered for this tab: websocket failed 540 s ago' +
        ' (closed before opening (error 1006)); retried after 600 s)',
    );
    assert.equal(remembered(storage).at, 0, 'going straight to SSE does not renew the record');

    const third = setup({transport: 'auto', storage, time: 10 * MINUTE});
    third.client.connect();
    assert.equal(third.EventSource.instances.length, 0);
    third.welcomeIn();
    assert.match(third.console.lines.info[0], /over websocket, new session \(auto: retrying websocket, which failed in this tab 600 s ago\)/);
    assert.equal(storage.getItem(REMEMBER_KEY), null, 'the WebSocket works again: forgotten');
  });

  test('a WebSocket retried and failing again is remembered anew, from the time it failed', () => {
    const storage = new FakeStorage();
    storage.setItem(REMEMBER_KEY, JSON.stringify({transport: 'sse', at: 0, why: 'closed before opening (error 1006)'}));
    const {client, WebSocket, EventSource, clock} = setup({transport: 'auto', storage, time: 30 * MINUTE, config: {ws_retry_after_ms: 20 * MINUTE}});
    client.connect();
    WebSocket.last.serverOpens();
    clock.advance(2000);
    assert.equal(EventSource.instances.length, 1);
    assert.deepEqual(remembered(storage), {transport: 'sse', at: 30 * MINUTE + 2000, why: 'no welcome within 2000 ms'});
  });

  test('?flash_ws_transport=sse forces SSE whatever the config, and says so', () => {
    const {client, WebSocket, EventSource, console} = setup({transport: 'websocket', search: '?x=1&flash_ws_transport=sse'});
    client.connect();
    assert.equal(WebSocket.instances.length, 0);
    EventSource.last.serverOpens();
    EventSource.last.serverSends([welcome()]);
    assert.match(console.lines.info[0], /connected over sse, new session \(forced by \?flash_ws_transport=sse\)$/);
  });

  test('sessionStorage["flash_ws.force"] forces a transport over what the tab remembers; it never falls back', () => {
    const storage = new FakeStorage();
    storage.setItem('flash_ws.force', 'websocket');
    storage.setItem(REMEMBER_KEY, JSON.stringify({transport: 'sse', at: 0, why: 'x'}));
    const {client, WebSocket, EventSource, clock, console, welcomeIn} = setup({transport: 'auto', storage, time: MINUTE});
    client.connect();
    WebSocket.last.serverCloses(1006);
    clock.advance(5000);
    assert.equal(EventSource.instances.length, 0);
    assert.equal(WebSocket.instances.length, 2);
    welcomeIn();
    assert.match(console.lines.info[0], /over websocket, new session \(forced by sessionStorage\["flash_ws.force"\]\)$/);
    assert.equal(remembered(storage).why, 'x', 'a forced transport leaves the record alone');
  });

  test('the query parameter wins over sessionStorage; a value that is no transport is ignored with a warning', () => {
    const storage = new FakeStorage();
    storage.setItem('flash_ws.force', 'sse');
    const query = setup({transport: 'auto', storage, search: '?flash_ws_transport=websocket'});
    query.client.connect();
    assert.equal(query.WebSocket.instances.length, 1);
    const wrong = setup({transport: 'sse', search: '?flash_ws_transport=ws'});
    wrong.client.connect();
    assert.equal(wrong.EventSource.instances.length, 1);
    assert.deepEqual(wrong.console.lines.warn, ['flash_ws: ignoring ?flash_ws_transport=ws: expected "websocket" or "sse"']);
  });
});
