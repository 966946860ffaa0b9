import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {CloseAction} from '../src/close_codes.js';
import {SseTransport, UPLINK_LOST_WAIT_MS} from '../src/sse_transport.js';
import {CloseReason, TransportState} from '../src/transport.js';
import {FakeClock, FakeConsole, fakeEventSourceClass, FakeFetch, settle} from '../test-support/fakes.js';

const HELLO = {t: 'hello', v: 1, session: null, seq: 0};
const TABLE = JSON.parse(readFileSync(new URL('../../tests/vectors/close_codes.json', import.meta.url), 'utf8'));
const URLS = {sseUrl: '/app/_flash_ws/sse', postUrl: '/app/_flash_ws/post'};

function make() {
  const EventSource = fakeEventSourceClass();
  const fetch = new FakeFetch();
  const console = new FakeConsole();
  const clock = new FakeClock();  // its stall timers run only if a test advances it (none left on the real clock)
  const transport = new SseTransport(URLS, {EventSource, fetch: fetch.fetch, console, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout});
  const events = [];
  transport.onopen = () => events.push(['open']);
  transport.onmessage = (text) => events.push(['message', text]);
  transport.onclose = (reason, detail) => events.push(['close', reason, detail]);
  return {transport, EventSource, fetch, console, events, clock};
}

/** A transport whose stream is open, welcomed into session "tok". */
function opened() {
  const context = make();
  context.transport.open(HELLO);
  context.EventSource.last.serverOpens();
  context.transport.session = 'tok';
  return {...context, source: context.EventSource.last};
}

describe('SseTransport: the event stream', () => {
  test('opens an EventSource named by the hello; its messages come through', () => {
    const {transport, EventSource, events} = make();
    transport.open({t: 'hello', v: 1, session: 'a-b_c.s3cret', seq: 42});
    const source = EventSource.last;
    assert.equal(source.url, '/app/_flash_ws/sse?v=1&sid=a-b_c&seq=42');
    assert.ok(!source.url.includes('s3cret'), 'the secret part of the token never goes in a URL');
    assert.equal(transport.state, TransportState.OPENING);
    source.serverSends('[1]'); // before the open: not delivered
    source.serverOpens();
    source.serverSends('[{"t":"ping","id":1}]');
    assert.deepEqual(events, [['open'], ['message', '[{"t":"ping","id":1}]']]);
    assert.equal(transport.name, 'sse');
  });

  test('a new session has an empty session parameter', () => {
    const {transport, EventSource} = make();
    transport.open(HELLO);
    assert.deepEqual(EventSource.last.query(), {v: '1', sid: '', seq: '0'});
  });

  test('an error closes the EventSource at once (no reconnection of its own) and reports an error close', () => {
    const {source, events, transport} = opened();
    source.fails();
    assert.ok(source.closed);
    assert.equal(transport.state, TransportState.CLOSED);
    assert.deepEqual(events.at(-1), ['close', CloseReason.ERROR, {reason: 'the event stream failed'}]);
    source.serverSends('[2]');
    assert.equal(events.filter(([kind]) => kind === 'message').length, 0);
  });

  test('an error before the open asks why with an empty POST: admitted, it is an error close', async () => {
    const {transport, EventSource, events, fetch} = make();
    transport.open(HELLO);
    EventSource.last.fails();
    assert.ok(EventSource.last.closed, 'the EventSource does not retry by itself meanwhile');
    assert.deepEqual(events, []);
    assert.deepEqual([fetch.last.url, fetch.last.init.method, fetch.last.init.body], [URLS.postUrl, 'POST', '[]']);
    assert.equal(fetch.last.init.headers['X-Flash-Ws-Session'], undefined, 'no session: the question opens nothing');
    fetch.last.respond(400, {code: 'unknown_session', message: 'missing the X-Flash-Ws-Session header'});
    await settle();
    assert.deepEqual(events, [['close', CloseReason.ERROR, {reason: 'the event stream failed'}]]);
  });

  test('an error before the open that the server explains as a refusal gives up, with its message', async () => {
    for (const [status, body, expected] of [
      [403, {code: 'origin', message: "Host 'x:1' is not in the app's allowed_hosts"},
        "the event stream was refused: 403 (origin: Host 'x:1' is not in the app's allowed_hosts)"],
      [401, 'null', 'the event stream was refused: 401 (http_401: status 401)'],
      [500, {code: 'oops', message: ''}, null],
      [400, 'null', null], // a proxy's 400: not the server's word
    ]) {
      const {transport, EventSource, events, fetch} = make();
      transport.open(HELLO);
      EventSource.last.fails();
      fetch.last.respond(status, body);
      await settle();
      assert.deepEqual(events, [expected === null
        ? ['close', CloseReason.ERROR, {reason: 'the event stream failed'}]
        : ['close', CloseReason.REFUSED, {reason: expected, action: CloseAction.GIVE_UP}]], String(status));
    }
  });

  test('an error after the open is an error close at once, asking nothing', () => {
    const {source, events, fetch} = opened();
    source.fails();
    assert.deepEqual(events.at(-1), ['close', CloseReason.ERROR, {reason: 'the event stream failed'}]);
    assert.equal(fetch.requests.length, 0);
  });

  test('close() closes the EventSource', () => {
    const {source, events, transport} = opened();
    transport.close(CloseReason.HEARTBEAT_TIMEOUT);
    assert.ok(source.closed);
    assert.deepEqual(events.at(-1), ['close', CloseReason.HEARTBEAT_TIMEOUT, {}]);
  });
});

describe('SseTransport: the POSTs', () => {
  test('a message is POSTed as JSON, naming the session', () => {
    const {transport, fetch} = opened();
    transport.send('[{"t":"ack","seq":1}]');
    assert.equal(fetch.requests.length, 1);
    assert.deepEqual(fetch.last.url, '/app/_flash_ws/post');
    assert.deepEqual(fetch.last.init, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-Flash-Ws-Session': 'tok'},
      body: '[{"t":"ack","seq":1}]',
    });
  });

  test('one at a time, in order; messages written meanwhile go together in the next POST', async () => {
    const {transport, fetch} = opened();
    transport.send('[{"t":"start","run":1,"cb":"a","args":[]}]');
    transport.send('[{"t":"cancel","run":1}]');
    transport.send('[{"t":"ack","seq":3},{"t":"pong","id":2}]');
    assert.equal(fetch.requests.length, 1);
    fetch.last.respond(204);
    await settle();
    assert.equal(fetch.requests.length, 2);
    assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}, {t: 'ack', seq: 3}, {t: 'pong', id: 2}]);
    fetch.last.respond(204);
    await settle();
    assert.equal(fetch.requests.length, 2);
    transport.send('[{"t":"ack","seq":4}]');
    assert.equal(fetch.requests.length, 3, 'nothing in flight: posted at once');
  });

  for (const [what, answer, reason] of [
    ['a network error', (request) => request.fail(), 'POST failed: TypeError: Failed to fetch'],
    ['404 unknown_session', (request) => request.respond(404, {code: 'unknown_session', message: 'gone'}), 'the server no longer has the session'],
    ['a 5xx', (request) => request.respond(502, 'Bad Gateway'), 'POST answered 502 (http_502: status 502)'],
    ['a 429', (request) => request.respond(429, {code: 'too_many_sessions', message: 'later'}), 'POST answered 429 (too_many_sessions: later)'],
  ]) {
    test(`${what} ends the uplink only: the event stream is read until it ends, then the connection closes to resume`, async () => {
      const {transport, fetch, source, events, console} = opened();
      transport.send('[{"t":"cancel","run":1}]');
      transport.send('[{"t":"cancel","run":2}]');
      answer(fetch.last);
      await settle();
      assert.ok(!source.closed, 'a draining server that no longer listens still sends on the open stream');
      assert.equal(transport.state, TransportState.OPEN);
      assert.equal(fetch.requests.length, 1, 'the frames waiting are dropped: the resume sends again what the server missed');
      transport.send('[{"t":"ack","seq":7}]');
      await settle();
      assert.equal(fetch.requests.length, 1, 'nothing more is posted on this connection: it could overtake the lost POST');
      source.serverSends('[{"t":"end","seq":8,"run":1,"reason":"error","error":{"code":"worker_shutdown","message":""},"reset":true}]');
      assert.deepEqual(events.at(-1), ['message', '[{"t":"end","seq":8,"run":1,"reason":"error","error":{"code":"worker_shutdown","message":""},"reset":true}]']);
      source.fails(); // the server ends the stream
      assert.ok(source.closed);
      assert.deepEqual(events.at(-1), ['close', CloseReason.ERROR, {reason, action: CloseAction.RESUME}]);
      assert.deepEqual(events.map(([kind]) => kind), ['open', 'message', 'close']);
      assert.deepEqual(console.lines.error, []);
    });
  }

  test('the wait after a failed POST is the table\'s (uplink_lost_wait_s)', () => {
    assert.equal(UPLINK_LOST_WAIT_MS, TABLE.uplink_lost_wait_s * 1000);
  });

  for (const [what, answer] of [
    ['no answer', (request) => request.fail()],
    ['a 503', (request) => request.respond(503, {code: 'store_unavailable', message: 'later'})],
  ]) {
    test(`${what} on a stream that stays open and quiet: the connection closes after the wait, to resume`, async () => {
      const {transport, fetch, source, events, clock} = opened();
      transport.send('[{"t":"cancel","run":1}]');
      answer(fetch.last);
      await settle();
      assert.equal(transport.state, TransportState.OPEN);
      clock.advance(UPLINK_LOST_WAIT_MS - 1);
      assert.ok(!source.closed, 'the stream is read during the wait');
      clock.advance(1);
      assert.ok(source.closed, 'the stream is closed: the page does not wait for the server\'s heartbeat timeout without an uplink');
      assert.equal(transport.state, TransportState.CLOSED);
      assert.deepEqual(events.at(-1).slice(0, 2), ['close', CloseReason.ERROR]);
      assert.equal(events.at(-1)[2].action, CloseAction.RESUME);
      assert.match(events.at(-1)[2].reason, /the event stream was still open after 5 s$/);
      assert.deepEqual(clock.pending(), [], 'no timer left');
    });
  }

  test('the wait is an option; a stream that ends first closes the connection at once, and the wait\'s timer with it', async () => {
    const EventSource = fakeEventSourceClass();
    const fetch = new FakeFetch();
    const clock = new FakeClock();
    const transport = new SseTransport(URLS, {EventSource, fetch: fetch.fetch, console: new FakeConsole(), uplinkLostWaitMs: 200,
      setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout});
    const events = [];
    transport.onclose = (reason, detail) => events.push([reason, detail]);
    transport.open(HELLO);
    EventSource.last.serverOpens();
    transport.session = 'tok';
    transport.send('[{"t":"cancel","run":1}]');
    fetch.last.fail();
    await settle();
    assert.ok(clock.pending().includes(200));
    EventSource.last.fails();
    assert.deepEqual(events, [[CloseReason.ERROR, {reason: 'POST failed: TypeError: Failed to fetch', action: CloseAction.RESUME}]]);
    assert.ok(!clock.pending().includes(200));
    clock.advance(200);
    assert.equal(events.length, 1);
  });

  test('a POST that fails while the page goes: the last message still leaves, in its keepalive POST', async () => {
    const {transport, fetch, source, events} = opened();
    transport.send('[{"t":"ack","seq":1}]');
    fetch.last.fail();
    await settle();
    transport.send('[{"t":"ack","seq":2}]');
    transport.send('[{"t":"bye"}]', {last: true});
    assert.equal(fetch.requests.length, 2);
    assert.equal(fetch.last.init.keepalive, true);
    assert.deepEqual(fetch.last.frames(), [{t: 'bye'}]);
    transport.close();
    fetch.last.fail();
    await settle();
    assert.ok(source.closed);
    assert.deepEqual(events.at(-1), ['close', CloseReason.NORMAL, {}]);
  });

  for (const status of [401, 403]) {
    test(`a ${status} is a refusal of the connection: it closes, to give up`, async () => {
      const {transport, fetch, source, events} = opened();
      transport.send('[{"t":"cancel","run":1}]');
      fetch.last.respond(status, {code: 'rejected', message: 'log in first'});
      await settle();
      assert.ok(source.closed);
      const reason = `POST answered ${status} (rejected: log in first)`;
      assert.deepEqual(events.at(-1), ['close', CloseReason.REFUSED, {reason, action: CloseAction.GIVE_UP}]);
    });
  }

  for (const [status, answer] of [[404, {code: 'not_found', message: 'no route'}], [400, {code: 'bad_frame', message: 'frame 0: no'}]]) {
    test(`a ${status} ${answer.code} refuses the message only: it is logged; the next POST goes out`, async () => {
      const {transport, fetch, console, events} = opened();
      transport.send('[{"t":"start","run":1,"cb":"a","args":[]}]');
      transport.send('[{"t":"cancel","run":1}]');
      fetch.last.respond(status, answer);
      await settle();
      assert.deepEqual(console.lines.error, [`flash_ws: the server refused a message (${answer.code}): ${answer.message}`]);
      assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}]);
      assert.deepEqual(events, [['open']]);
    });
  }

  test('POSTs leave credentials at their default (same-origin): the browser sends the flash_ws_key cookie', () => {
    const {transport, fetch} = opened();
    transport.send('[{"t":"ack","seq":1}]');
    transport.send('[{"t":"bye"}]', {last: true});
    for (const request of fetch.requests) assert.equal(request.init.credentials, undefined);
  });

  test('answers that come after the close are ignored', async () => {
    const {transport, fetch, console, events} = opened();
    transport.send('[{"t":"cancel","run":1}]');
    transport.send('[{"t":"cancel","run":2}]');
    transport.close();
    fetch.last.respond(400, {code: 'bad_frame', message: 'late'});
    await settle();
    assert.deepEqual(console.lines.error, []);
    assert.equal(fetch.requests.length, 1);
    assert.deepEqual(events, [['open'], ['close', CloseReason.NORMAL, {}]]);
  });

  test('the last message goes out at once in a keepalive POST, after those waiting', () => {
    const {transport, fetch} = opened();
    transport.send('[{"t":"start","run":1,"cb":"a","args":[]}]');
    transport.send('[{"t":"cancel","run":1}]');
    transport.send('[{"t":"bye"}]', {last: true});
    assert.equal(fetch.requests.length, 2);
    assert.equal(fetch.last.init.keepalive, true);
    assert.equal(fetch.last.init.headers['X-Flash-Ws-Session'], 'tok');
    assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}, {t: 'bye'}]);
    assert.notEqual(fetch.requests[0].init.keepalive, true);
  });

  test('a keepalive POST that fails as the page goes is no unhandled rejection', async () => {
    const {transport, fetch, events} = opened();
    transport.send('[{"t":"bye"}]', {last: true});
    transport.close();
    fetch.last.fail();
    await settle();
    assert.deepEqual(events.at(-1), ['close', CloseReason.NORMAL, {}]);
  });
});

describe('SseTransport: what a POST\'s outcome does to its connection (tests/vectors/close_codes.json, post_failures)', () => {
  const END = '[{"t":"end","seq":5,"run":1,"reason":"error","error":{"code":"worker_shutdown","message":""}}]';
  for (const row of TABLE.post_failures) {
    test(row.name, async () => {
      const {transport, fetch, source, events} = opened();
      transport.send('[{"t":"start","run":2,"cb":"a","args":[]}]');
      transport.send('[{"t":"cancel","run":1}]'); // waits for the POST in flight
      if (row.status === null) fetch.last.fail();
      else fetch.last.respond(row.status, row.code === null ? 'not json' : {code: row.code, message: 'm'});
      await settle();
      if (row.after === 'closed') {
        assert.ok(source.closed);
        assert.deepEqual(events.at(-1).slice(0, 2), ['close', CloseReason.REFUSED]);
        assert.equal(events.at(-1)[2].action, row.action);
        return;
      }
      assert.ok(!source.closed, 'the event stream goes on');
      source.serverSends(END);
      assert.deepEqual(events.at(-1), ['message', END]);
      if (row.after === 'posting') {
        assert.equal(fetch.requests.length, 2, 'the next POST leaves');
        assert.deepEqual(fetch.last.frames(), [{t: 'cancel', run: 1}]);
        return;
      }
      assert.equal(row.after, 'stream_only');
      transport.send('[{"t":"ack","seq":5}]');
      await settle();
      assert.equal(fetch.requests.length, 1, 'nothing more is posted on this connection');
      assert.equal(transport.state, TransportState.OPEN);
      source.fails(); // the stream ends
      assert.deepEqual(events.at(-1).slice(0, 2), ['close', CloseReason.ERROR]);
      assert.equal(events.at(-1)[2].action, row.action);
    });
  }
});
