// The page entry: reads the flash_ws page config and connects (window.flash_ws.fire queues its
// calls until then); says bye when the page is hidden for good or put in the back/forward cache.
// Loaded as a SharedWorker (the same file), it is the hub the tabs share the fallback through.

import {FlashClient} from './client.js';
import {DevtoolsStats, installDevtoolsView, watchTransport} from './devtools.js';
import {graphBusyCheck} from './graph_busy.js';
import {dashLayout} from './layout_guard.js';
import {leaderHubPort} from './leader.js';
import {SharedHub} from './shared_hub.js';
import {HubPort, SharedTransport} from './shared_transport.js';
import {SseTransport} from './sse_transport.js';
import {WebSocketTransport} from './websocket_transport.js';

/**
 * @param {Document} document
 * @returns {import('./client.js').PageConfig | null} null when the page has no event callbacks
 */
function readPageConfig(document) {
  const element = document.getElementById('_dash-config');
  if (element === null) return null;
  const config = JSON.parse(element.textContent).flash_ws;
  return config && Object.keys(config.callbacks ?? {}).length > 0 ? config : null;
}

/** @param {Location} location @param {string} path */
function webSocketUrl(location, path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

/** @returns {Storage | null} the tab's sessionStorage; reading it throws where the browser denies it */
function tabStorage(window) {
  try {
    return window.sessionStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * How the tabs of this browser share the fallback: a SharedWorker running this script, else a
 * leader tab (Web Locks + BroadcastChannel), else not at all (one event stream per tab).
 * `?flash_ws_share=worker|leader|none` in the page's URL forces one (for tests).
 * @returns {'worker' | 'leader' | 'none'}
 */
function shareMode(window, config, scriptUrl) {
  const forced = new URLSearchParams(window.location.search).get('flash_ws_share');
  if (!config.shared_url || forced === 'none') return 'none';
  const worker = Boolean(scriptUrl) && typeof window.SharedWorker === 'function';
  const leader = Boolean(window.navigator?.locks) && typeof window.BroadcastChannel === 'function';
  if (worker && forced !== 'leader') return 'worker';
  return leader ? 'leader' : 'none';
}

/**
 * A factory of fallback transports: lanes of the event stream the tabs of the browser share (see
 * shareMode), or one EventSource per tab.
 * @returns {() => import('./transport.js').Transport}
 */
function fallbackTransports(window, config, scriptUrl, fetch) {
  const urls = {sseUrl: config.sse_url, postUrl: config.post_url};
  const stallMs = config.stall_warning_ms ?? 10000;
  const own = () => new SseTransport(urls, {EventSource: window.EventSource, fetch, console: window.console, stallMs});
  const mode = shareMode(window, config, scriptUrl);
  if (mode === 'none') return own;
  const hubUrls = {sharedUrl: config.shared_url, postsUrl: config.posts_url};
  const name = `flash_ws ${config.shared_url}`;
  let hub = null;
  let failed = false;
  const giveUpSharing = (error) => {
    failed = true;
    window.console.warn(`flash_ws: cannot share the event stream (${error}); this tab opens its own`);
  };
  return () => {
    if (failed) return own();
    if (hub === null) {
      try {
        if (mode === 'worker') {
          const worker = new window.SharedWorker(scriptUrl, {name});
          hub = new HubPort(worker.port, hubUrls, {stallMs, console: window.console});
          worker.onerror = () => { // the script did not load or run (a Content-Security-Policy, say)
            giveUpSharing('the shared worker failed to start');
            hub.hubChanged('the shared worker failed to start');
          };
        } else {
          hub = leaderHubPort({name, urls: hubUrls, stallMs, console: window.console, makeHub: () => newHub(window)}, window);
        }
      } catch (error) {
        giveUpSharing(error);
        return own();
      }
    }
    return new SharedTransport(hub, {postUrl: config.post_url, fetch});
  };
}

/** The hub of a SharedWorker or of a leader tab, on the globals of `scope`. */
function newHub(scope) {
  return new SharedHub({
    EventSource: scope.EventSource,
    fetch: (...request) => scope.fetch(...request),
    setTimeout: (fn, ms) => scope.setTimeout(fn, ms),
    clearTimeout: (timer) => scope.clearTimeout(timer),
  });
}

/** Installs window.flash_ws: a queue of fire() calls at once, the client once the page is parsed. */
function installFlashWs(window, scriptUrl) {
  const early = [];
  window.flash_ws = {
    fire: (...call) => {
      early.push(call);
    },
  };
  const start = () => {
    const config = readPageConfig(window.document);
    if (config === null) {
      window.flash_ws = {fire: () => {}};
      return;
    }
    const url = webSocketUrl(window.location, config.ws_url);
    const fetch = (...request) => window.fetch(...request); // fetch needs window as `this`
    // Dash's debug mode: the dev-tools view watches the transports (see devtools.js)
    const stats = config.devtools ? new DevtoolsStats({names: config.callbacks, now: () => window.performance.now()}) : null;
    const watched = {current: null};
    const watch = (transport, name) => (stats ? watchTransport(transport, name, stats, watched) : transport);
    const client = new FlashClient({
      config,
      transports: {
        websocket: () => watch(new WebSocketTransport(url, {WebSocket: window.WebSocket}), 'websocket'),
        sse: ((fallback) => () => watch(fallback(), 'sse'))(fallbackTransports(window, config, scriptUrl, fetch)),
      },
      setProps: (id, props) => window.dash_clientside.set_props(id, props),
      isBusy: graphBusyCheck(window.document),
      ...dashLayout(window), // which components the layout holds, as Dash's renderer says
      now: () => window.performance.now(),
      setTimeout: (fn, ms) => window.setTimeout(fn, ms),
      clearTimeout: (timer) => window.clearTimeout(timer),
      console: window.console,
      // A hook for the app: window.addEventListener('flash_ws:lost', (event) => event.detail.name ...)
      onLost: (lost) => window.dispatchEvent(new window.CustomEvent('flash_ws:lost', {detail: lost})),
      sessionStorage: tabStorage(window),
      location: window.location,
    });
    window.flash_ws = client;
    if (stats) installDevtoolsView(window, stats, watched, () => window.flash_ws);
    for (const call of early) client.fire(...call);
    client.connect();
    window.addEventListener('pagehide', () => client.leave());
    window.addEventListener('online', () => client.wake());
    window.document.addEventListener('visibilitychange', () => {
      if (window.document.visibilityState === 'visible') client.wake();
    });
    window.addEventListener('pageshow', (event) => {
      if (event.persisted) client.connect();
    });
  };
  if (window.document.readyState === 'loading') {
    window.document.addEventListener('DOMContentLoaded', start, {once: true});
  } else {
    start();
  }
}

if (typeof window === 'undefined' && typeof globalThis.onconnect !== 'undefined') {
  // the SharedWorker: every tab that connects shares its event stream and its POSTs
  const hub = newHub(globalThis);
  globalThis.onconnect = (event) => hub.connect(event.ports[0]);
} else {
  installFlashWs(window, globalThis.document?.currentScript?.src ?? null);
}
