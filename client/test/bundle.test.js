// The built bundle, as a page loads it: a script in a window with a document.

import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {test} from 'node:test';
import vm from 'node:vm';

import {FakeClock, FakeConsole, fakeEventSourceClass, FakeFetch, FakeStorage, fakeWebSocketClass} from '../test-support/fakes.js';

const BUNDLE_URL = new URL('../../flash_ws/assets/flash_ws.js', import.meta.url);
const BUILD = fileURLToPath(new URL('../build.mjs', import.meta.url));
const FLASH_WS = {
  v: 1,
  ws_url: '/app/_flash_ws/ws',
  sse_url: '/app/_flash_ws/sse',
  post_url: '/app/_flash_ws/post',
  transport: 'auto',
  callbacks: {load: {name: 'app.load', reset: []}},
  groups: {clicks: [{kind: 'start', cb: 'load', args: [0], initial: false}]},
  ack_interval_ms: 100,
  ack_every: 64,
};
const welcome = {t: 'welcome', v: 1, session: 'tok', epoch: 'e', resumed: false, seq: 0, run: 0};

/**
 * Runs the bundle in a fresh window; `config` is Dash's page config (null: no such element),
 * `search` the query string of the page URL.
 */
function loadPage({readyState = 'loading', config = {url_base_pathname: '/app/', flash_ws: FLASH_WS}, search = ''} = {}) {
  const listeners = {document: {}, window: {}};
  const on = (target) => (type, fn) => (listeners[target][type] ??= []).push(fn);
  const clock = new FakeClock();
  const WebSocket = fakeWebSocketClass();
  const EventSource = fakeEventSourceClass();
  const fetch = new FakeFetch();
  const sessionStorage = new FakeStorage();
  const setProps = [];
  const window = {
    document: {
      readyState,
      getElementById: (id) => (id === '_dash-config' && config ? {textContent: JSON.stringify(config)} : null),
      addEventListener: on('document'),
    },
    location: {protocol: 'https:', host: 'example.test:8443', search},
    WebSocket,
    EventSource,
    URLSearchParams,
    sessionStorage,
    fetch(...request) {
      // a browser's fetch throws "Illegal invocation" when called on anything but the window
      assert.equal(this?.EventSource, EventSource, 'fetch is called on the window');
      return fetch.fetch(...request);
    },
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    performance: {now: clock.now},
    console: new FakeConsole(),
    dash_clientside: {set_props: (id, props) => setProps.push(JSON.stringify([id, props]))},
    addEventListener: on('window'),
  };
  window.window = window;
  vm.createContext(window);
  vm.runInContext(readFileSync(BUNDLE_URL, 'utf8'), window, {filename: 'flash_ws.js'});
  const emit = (target, type, event = {}) => (listeners[target][type] ?? []).forEach((fn) => fn(event));
  return {window, WebSocket, EventSource, fetch, sessionStorage, clock, setProps, emit};
}

const sentFrames = (ws) => ws.sent.flatMap((text) => JSON.parse(text));

test('fire() exists as soon as the script runs; calls before the page is parsed are kept', () => {
  const {window, WebSocket, setProps, emit} = loadPage();
  assert.equal(typeof window.flash_ws.fire, 'function');
  window.flash_ws.fire('clicks', [7], [{prop_id: 'b.n_clicks', value: 1}]);
  assert.equal(WebSocket.instances.length, 0);
  emit('document', 'DOMContentLoaded');
  const ws = WebSocket.last;
  assert.equal(ws.url, 'wss://example.test:8443/app/_flash_ws/ws');
  ws.serverOpens();
  ws.serverSends([welcome]);
  assert.deepEqual(sentFrames(ws), [
    {t: 'hello', v: 1, session: null, seq: 0},
    {t: 'start', run: 1, cb: 'load', args: [7]},
  ]);
  ws.serverSends([{t: 'update', seq: 1, run: 1, props: [['out', {children: 'hi'}]]}]);
  assert.deepEqual(setProps, ['["out",{"children":"hi"}]']);
  assert.match(window.console.lines.info[0], /connected over websocket/);
});

test('a page already parsed connects at once; pagehide says bye', () => {
  const {WebSocket, emit} = loadPage({readyState: 'complete'});
  const ws = WebSocket.last;
  ws.serverOpens();
  ws.serverSends([welcome]);
  emit('window', 'pagehide', {persisted: false});
  assert.deepEqual(sentFrames(ws).at(-1), {t: 'bye'});
  assert.equal(ws.closedWith, 1000);
  emit('window', 'pageshow', {persisted: true});
  assert.equal(WebSocket.instances.length, 2, 'back from the back/forward cache: connects again');
});

test('?flash_ws_transport=sse: the page connects over SSE + POST and says bye in a keepalive POST', async () => {
  const {window, WebSocket, EventSource, fetch, emit} = loadPage({readyState: 'complete', search: '?flash_ws_transport=sse'});
  assert.equal(WebSocket.instances.length, 0);
  const source = EventSource.last;
  assert.equal(source.url, '/app/_flash_ws/sse?v=1&sid=&seq=0');
  source.serverOpens();
  source.serverSends([welcome]);
  assert.match(window.console.lines.info[0], /connected over sse, new session \(forced by \?flash_ws_transport=sse\)/);
  window.flash_ws.fire('clicks', [7], [{prop_id: 'b.n_clicks', value: 1}]);
  assert.equal(fetch.last.url, '/app/_flash_ws/post');
  assert.deepEqual(fetch.last.frames(), [{t: 'start', run: 1, cb: 'load', args: [7]}]);
  emit('window', 'pagehide', {persisted: false});
  assert.equal(fetch.last.init.keepalive, true);
  assert.deepEqual(fetch.last.frames(), [{t: 'bye'}]);
  assert.ok(source.closed);
});

test('auto: a WebSocket that fails gives way to SSE, and the tab remembers it in sessionStorage', () => {
  const {WebSocket, EventSource, sessionStorage, clock} = loadPage({readyState: 'complete'});
  WebSocket.last.serverCloses(1006);
  clock.advance(0);
  assert.equal(EventSource.instances.length, 1);
  assert.equal(JSON.parse(sessionStorage.getItem('flash_ws.transport')).transport, 'sse');
});

test('without event callbacks in the page config nothing connects, and fire() is harmless', () => {
  for (const config of [null, {url_base_pathname: '/'}, {flash_ws: {...FLASH_WS, callbacks: {}}}]) {
    const {window, WebSocket} = loadPage({readyState: 'interactive', config});
    assert.equal(WebSocket.instances.length, 0);
    assert.equal(window.flash_ws.fire('clicks', [1], [{prop_id: 'b.n_clicks'}]), undefined);
  }
});

test('the bundle is what client/build.mjs makes of client/src', () => {
  const result = spawnSync(process.execPath, [BUILD, '--check'], {encoding: 'utf8'});
  assert.equal(result.status, 0, result.stderr);
  assert.match(readFileSync(BUNDLE_URL, 'utf8'), /^\/\/ generated by client\/build\.mjs from client\/src — do not edit\n/);
});
