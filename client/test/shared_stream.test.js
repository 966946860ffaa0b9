// The fallback shared by the tabs of a browser: the wire cases of tests/vectors/shared_stream.json,
// the hub (the SharedWorker's side) and the tab's transport, with fake ports, EventSource and fetch.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {ProtocolError} from '../src/codec.js';
import {SharedHub} from '../src/shared_hub.js';
import {batchBody, parseLaneEvent, sharedStreamUrl} from '../src/shared_stream.js';
import {HubPort, SharedTransport} from '../src/shared_transport.js';
import {SseTransport, UPLINK_LOST_WAIT_MS} from '../src/sse_transport.js';
import {FakeClock, FakeConsole, FakeFetch, fakeEventSourceClass, settle} from '../test-support/fakes.js';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/shared_stream.json', import.meta.url), 'utf8'));
const URLS = {sharedUrl: '/_flash_ws/shared', postsUrl: '/_flash_ws/posts'};
const HELLO = {t: 'hello', v: 1, session: null, seq: 0};

describe('vectors', () => {
  for (const vector of vectors.queries) {
    test(`query: ${vector.name}`, () => {
      assert.equal(sharedStreamUrl('/_flash_ws/shared', vector.lanes), `/_flash_ws/shared?${vector.query}`);
    });
  }
  for (const vector of vectors.events) {
    test(`event: ${vector.name}`, () => {
      const expected = 'message' in vector ? {lane: vector.lane, message: vector.message} : {lane: vector.lane, closed: vector.closed};
      assert.deepEqual(parseLaneEvent(vector.data), expected);
    });
  }
  for (const vector of vectors.bad_events) {
    test(`bad event: ${vector.name}`, () => {
      assert.throws(() => parseLaneEvent(vector.data), (error) => error instanceof ProtocolError && error.message.includes(vector.message_contains));
    });
  }
  for (const vector of vectors.batches) {
    test(`batch: ${vector.name}`, () => {
      const {body, tokens} = batchBody(vector.entries);
      assert.equal(body, vector.body);
      assert.deepEqual(tokens, vector.pairs.map(([token]) => token));
    });
  }
});

/** A tab's end of its MessagePort to the hub: what the hub posted, and a way to talk to it. */
class FakeTabPort {
  received = [];
  postMessage(message) {
    this.received.push(message);
  }
  /** The tab sends `message` to the hub. */
  say(message) {
    this.onmessage({data: message});
  }
  ops(op) {
    return this.received.filter((message) => message.op === op);
  }
}

function makeHub() {
  const clock = new FakeClock();
  const EventSource = fakeEventSourceClass();
  const fetch = new FakeFetch();
  const hub = new SharedHub({EventSource, fetch: fetch.fetch, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout});
  const tab = () => {
    const port = new FakeTabPort();
    hub.connect(port);
    return port;
  };
  return {hub, clock, EventSource, fetch, tab};
}

/** A hub with two tabs whose lanes opened on its one event stream, which the server answered. */
function twoTabsStreaming() {
  const made = makeHub();
  const [first, second] = [made.tab(), made.tab()];
  first.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
  second.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
  made.clock.advance(50);
  made.EventSource.last.serverOpens();
  return {...made, first, second};
}

describe('SharedHub', () => {
  test('tabs opening together share one stream; each gets its own messages and lane ends', () => {
    const {clock, EventSource, tab} = makeHub();
    const [first, second] = [tab(), tab()];
    first.say({op: 'open', id: 1, hello: HELLO, urls: URLS, stallMs: 5000});
    second.say({op: 'open', id: 1, hello: {...HELLO, session: 'sid2.secret', seq: 4}, urls: URLS, stallMs: 5000});
    clock.advance(50);
    assert.equal(EventSource.instances.length, 1);
    assert.deepEqual(EventSource.last.url, '/_flash_ws/shared?v=1&lane=1%3A%3A0&lane=2%3Asid2%3A4');
    EventSource.last.serverOpens();
    assert.deepEqual([first.ops('open'), second.ops('open')], [[{op: 'open', id: 1}], [{op: 'open', id: 1}]]);
    EventSource.last.serverSends('2 [{"t":"ping","id":1}]');
    assert.deepEqual(second.ops('message'), [{op: 'message', id: 1, text: '[{"t":"ping","id":1}]'}]);
    assert.deepEqual(first.ops('message'), []);
    EventSource.last.serverSends('1 {"code": 4009, "reason": "replaced"}');
    assert.deepEqual(first.ops('close'), [{op: 'close', id: 1, reason: 'server_closed', detail: {code: 4009, reason: 'replaced', action: 'replaced'}}]);
    assert.equal(EventSource.last.closed, false, 'the other lane goes on');
  });

  test('a tab joining an open stream: the stream reopens with every tab, the others resume at once', () => {
    const {hub, clock, EventSource, tab} = makeHub();
    const [first, late] = [tab(), tab()];
    first.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
    clock.advance(50);
    EventSource.last.serverOpens();
    late.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
    clock.advance(50);
    assert.equal(EventSource.instances[0].closed, true);
    assert.equal(first.ops('close')[0].detail.action, 'resume_now');
    first.say({op: 'open', id: 2, hello: {...HELLO, session: 'sid1.s', seq: 3}, urls: URLS}); // its client reconnects
    clock.advance(200);
    assert.equal(EventSource.instances.length, 2);
    assert.ok(EventSource.last.url.includes('lane=2%3A%3A0') && EventSource.last.url.includes('lane=3%3Asid1%3A3'));
    assert.equal(hub.laneCount, 2);
  });

  test('messages of several tabs leave in one POST at a time, batched, each answer going to its tab', async () => {
    const {EventSource, fetch, first, second} = twoTabsStreaming();
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"ack","seq":1}]'});
    second.say({op: 'send', id: 1, session: 'b.2', text: '[{"t":"ack","seq":2}]'});
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"pong","id":1}]'});
    assert.equal(fetch.requests.length, 1, 'one POST in flight');
    assert.deepEqual(fetch.last.frames(), [['a.1', [{t: 'ack', seq: 1}]]]);
    fetch.last.respond(200, {answers: [{status: 204}]});
    await settle();
    assert.equal(fetch.requests.length, 2);
    assert.deepEqual(fetch.last.frames(), [['b.2', [{t: 'ack', seq: 2}]], ['a.1', [{t: 'pong', id: 1}]]]);
    fetch.last.respond(200, {answers: [{status: 404, code: 'unknown_session', message: 'gone'}, {status: 400, code: 'bad_frame', message: 'no'}]});
    await settle();
    assert.deepEqual(first.ops('log'), [{op: 'log', level: 'error', text: 'flash_ws: the server refused a message (bad_frame): no'}]);
    assert.deepEqual([first.ops('close'), second.ops('close')], [[], []], 'the stream carries both lanes on');
    EventSource.last.fails();
    assert.deepEqual(second.ops('close'), [{op: 'close', id: 1, reason: 'error', detail: {reason: 'POST answered 404 (unknown_session: gone)', action: 'resume'}}]);
    assert.deepEqual(first.ops('close'), [{op: 'close', id: 1, reason: 'error', detail: {reason: 'the shared event stream failed'}}]);
  });

  test('a POST that fails ends the uplink of the lanes it carried, not the stream: their frames still come; a stream that fails closes every lane', async () => {
    const {EventSource, fetch, first, second} = twoTabsStreaming();
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"ack","seq":1}]'});
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"ack","seq":2}]'}); // waits for the POST in flight
    fetch.last.fail();
    await settle();
    assert.deepEqual([first.ops('close'), second.ops('close')], [[], []]);
    assert.equal(fetch.requests.length, 1, 'what the failed lane had waiting is dropped: its resume sends it again');
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"ack","seq":3}]'});
    second.say({op: 'send', id: 1, session: 'b.2', text: '[{"t":"ack","seq":1}]'});
    assert.equal(fetch.requests.length, 2);
    assert.deepEqual(fetch.last.frames(), [['b.2', [{t: 'ack', seq: 1}]]], 'only the lanes whose uplink works post');
    EventSource.last.serverSends('1 [{"t":"end","seq":4,"run":1,"reason":"done"}]');
    assert.deepEqual(first.ops('message').map(({text}) => text), ['[{"t":"end","seq":4,"run":1,"reason":"done"}]']);
    EventSource.last.fails();
    assert.deepEqual(first.ops('close'), [{op: 'close', id: 1, reason: 'error', detail: {reason: 'POST failed: TypeError: Failed to fetch', action: 'resume'}}]);
    assert.equal(second.ops('close')[0].reason, 'error');
    assert.equal(EventSource.last.closed, true);
  });

  test('a lane whose POST failed, on a stream that stays open and quiet, ends after the wait, to resume; the other lanes go on', async () => {
    const {clock, EventSource, fetch, first, second} = twoTabsStreaming();
    first.say({op: 'send', id: 1, session: 'a.1', text: '[{"t":"ack","seq":1}]'});
    fetch.last.fail();
    await settle();
    clock.advance(UPLINK_LOST_WAIT_MS - 1);
    assert.deepEqual([first.ops('close'), second.ops('close')], [[], []], 'the stream is read during the wait');
    clock.advance(1);
    assert.deepEqual(first.ops('close'), [{op: 'close', id: 1, reason: 'error',
      detail: {reason: `POST failed: TypeError: Failed to fetch; the event stream was still open after ${UPLINK_LOST_WAIT_MS / 1000} s`, action: 'resume'}}]);
    assert.deepEqual(second.ops('close'), [], 'the other lane goes on');
    assert.equal(EventSource.last.closed, false);
    EventSource.last.serverSends('2 [{"t":"end","seq":4,"run":1,"reason":"done"}]');
    assert.deepEqual(second.ops('message').map(({text}) => text), ['[{"t":"end","seq":4,"run":1,"reason":"done"}]']);
    second.say({op: 'send', id: 1, session: 'b.2', text: '[{"t":"ack","seq":4}]'});
    assert.deepEqual(fetch.last.frames(), [['b.2', [{t: 'ack', seq: 4}]]], 'its uplink works');
  });

  test('a stream refused before it opened: the hub asks why, and every tab gives up with the reason', async () => {
    const {clock, EventSource, fetch, tab} = makeHub();
    const [first, second] = [tab(), tab()];
    first.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
    second.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
    clock.advance(50);
    EventSource.last.fails();
    assert.deepEqual([fetch.last.init.method, fetch.last.init.body], ['POST', '[]']);
    assert.deepEqual(first.ops('close'), [], 'no lane ends before the answer');
    fetch.last.respond(403, {code: 'origin', message: "Host 'x:1' is not in the app's allowed_hosts"});
    await settle();
    for (const port of [first, second]) {
      assert.deepEqual(port.ops('close'), [{op: 'close', id: 1, reason: 'refused', detail: {
        reason: "the event stream was refused: 403 (origin: Host 'x:1' is not in the app's allowed_hosts)", action: 'give_up'}}]);
    }
  });

  test('a stream that failed before it opened but whose checks pass closes its lanes to resume', async () => {
    const {clock, EventSource, fetch, tab} = makeHub();
    const port = tab();
    port.say({op: 'open', id: 1, hello: HELLO, urls: URLS});
    clock.advance(50);
    EventSource.last.fails();
    fetch.last.respond(400, {code: 'bad_frame', message: 'expected a batch'}); // admitted: its body is what failed
    await settle();
    assert.deepEqual(port.ops('close').map(({reason}) => reason), ['error']);
  });

  test('a stream that does not open within stallMs is reported in every tab', () => {
    const {clock, tab} = makeHub();
    const port = tab();
    port.say({op: 'open', id: 1, hello: HELLO, urls: URLS, stallMs: 5000});
    clock.advance(5100);
    const [log] = port.ops('log');
    assert.equal(log.level, 'warn');
    assert.match(log.text, /has not opened after 5 s: the browser may be out of connections/);
  });
});

describe('SharedTransport', () => {
  function makeTransport() {
    const port = new FakeTabPort();
    port.start = () => {};
    const console = new FakeConsole();
    const fetch = new FakeFetch();
    const hub = new HubPort(port, URLS, {stallMs: 5000, console});
    const transport = new SharedTransport(hub, {postUrl: '/_flash_ws/post', fetch: fetch.fetch});
    return {port, hub, transport, fetch, console};
  }

  test('a lane of the hub is a transport: open, messages, close', () => {
    const {port, transport} = makeTransport();
    const seen = [];
    transport.onopen = () => seen.push('open');
    transport.onmessage = (text) => seen.push(text);
    transport.onclose = (reason, detail) => seen.push([reason, detail]);
    transport.open(HELLO);
    assert.deepEqual(port.received, [{op: 'open', id: 1, hello: HELLO, urls: URLS, stallMs: 5000}]);
    port.onmessage({data: {op: 'open', id: 1}});
    port.onmessage({data: {op: 'message', id: 1, text: '[]'}});
    port.onmessage({data: {op: 'message', id: 2, text: 'not mine'}});
    port.onmessage({data: {op: 'close', id: 1, reason: 'server_closed', detail: {code: 4008, action: 'resume'}}});
    assert.deepEqual(seen, ['open', '[]', ['server_closed', {code: 4008, action: 'resume'}]]);
  });

  test('messages go through the hub; the last one leaves from the page itself', () => {
    const {port, transport, fetch} = makeTransport();
    transport.open(HELLO);
    port.onmessage({data: {op: 'open', id: 1}});
    transport.session = 'sid.secret';
    transport.send('[{"t":"ack","seq":1}]');
    assert.deepEqual(port.received.at(-1), {op: 'send', id: 1, session: 'sid.secret', text: '[{"t":"ack","seq":1}]'});
    transport.send('[{"t":"bye"}]', {last: true});
    assert.equal(fetch.last.init.keepalive, true);
    assert.equal(fetch.last.init.headers['X-Flash-Ws-Session'], 'sid.secret');
    transport.close();
    assert.deepEqual(port.received.at(-1), {op: 'close', id: 1});
  });

  test("the hub's warnings reach the page's console", () => {
    const {port, console} = makeTransport();
    port.onmessage({data: {op: 'log', level: 'warn', text: 'flash_ws: stalled'}});
    assert.deepEqual(console.lines.warn, ['flash_ws: stalled']);
  });
});

describe('SseTransport stalls', () => {
  test('an event stream or a POST unanswered within stallMs is reported', async () => {
    const clock = new FakeClock();
    const console = new FakeConsole();
    const EventSource = fakeEventSourceClass();
    const fetch = new FakeFetch();
    const transport = new SseTransport({sseUrl: '/sse', postUrl: '/post'},
      {EventSource, fetch: fetch.fetch, console, stallMs: 3000, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout});
    transport.open(HELLO);
    clock.advance(3100);
    assert.match(console.lines.warn[0], /the event stream has not opened after 3 s/);
    EventSource.last.serverOpens();
    transport.send('[{"t":"ack","seq":1}]');
    clock.advance(3100);
    assert.match(console.lines.warn[1], /a POST has had no answer after 3 s/);
    fetch.last.respond(204, '');
    await settle();
    clock.advance(10000);
    assert.equal(console.lines.warn.length, 2);
  });
});
