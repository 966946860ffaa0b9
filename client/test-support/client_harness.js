// A FlashClient on the fakes of fakes.js, for the client tests.

import assert from 'node:assert/strict';

import {FlashClient} from '../src/client.js';
import {SseTransport} from '../src/sse_transport.js';
import {WebSocketTransport} from '../src/websocket_transport.js';
import {FakeClock, FakeConsole, fakeEventSourceClass, FakeFetch, FakeStorage, fakeWebSocketClass} from './fakes.js';

export const RESET = [['start', {disabled: false}], ['status', {children: 'stopped'}]];
export const CONFIG = {
  v: 1,
  ws_url: '/_flash_ws/ws',
  sse_url: '/_flash_ws/sse',
  post_url: '/_flash_ws/post',
  transport: 'websocket',
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
export const CLICK = [{prop_id: 'start.n_clicks', value: 1}];
export const welcome = (over = {}) => ({t: 'welcome', v: 1, session: 'tok', epoch: 'e1', resumed: false, seq: 0, run: 0, ...over});

/**
 * A client on fakes. `transport` is the page config's; `storage` the tab's sessionStorage (shared
 * by the pages of a tab); `time` the wall clock at page load; `search` the page URL's query;
 * `layout` the Set of ids the page's layout holds (null: every id).
 */
export function setup({random = () => 0, transport = 'websocket', config = {}, storage = new FakeStorage(), time = 0, search = '',
  layout = null} = {}) {
  const clock = new FakeClock();
  clock.time = time;
  const WebSocket = fakeWebSocketClass();
  const EventSource = fakeEventSourceClass();
  const fetch = new FakeFetch();
  const console = new FakeConsole();
  const applied = [];
  const lost = [];
  const client = new FlashClient({
    config: {...CONFIG, transport, ...config},
    transports: {
      websocket: () => new WebSocketTransport('ws://example.test/_flash_ws/ws', {WebSocket}),
      sse: () => new SseTransport({sseUrl: '/_flash_ws/sse', postUrl: '/_flash_ws/post'},
        {EventSource, fetch: fetch.fetch, console, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout}),
    },
    setProps: (id, props) => applied.push([id, props]),
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    random,
    console,
    sessionStorage: storage,
    location: {search},
    wallClock: clock.now,
    onLost: (run) => lost.push(run),
    // `layout`: a Set of the ids the page's layout holds (the test changes it); null: every id
    ...(layout === null ? {} : {hasComponent: (id) => layout.has(id), layoutIds: () => [...layout]}),
  });
  /** Opens the current socket and welcomes it. */
  const welcomeIn = (over) => {
    WebSocket.last.serverOpens();
    WebSocket.last.serverSends([welcome(over)]);
    return WebSocket.last;
  };
  return {client, clock, WebSocket, EventSource, fetch, console, applied, lost, storage, welcomeIn};
}

/** A client connected and welcomed, with one run of `load` started as run 1 (`options` as setup's). */
export function running(options = {}) {
  const context = setup(options);
  context.client.connect();
  const ws = context.welcomeIn();
  context.client.fire('clicks', [1, 'ignored', 'rows'], CLICK);
  assert.deepEqual(ws.frames().at(-1), {t: 'start', run: 1, cb: 'load', args: [1, 'rows']});
  return {...context, ws};
}
