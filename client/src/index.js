// The page entry: reads the flash_ws page config and connects (window.flash_ws.fire queues its
// calls until then); says bye when the page is hidden for good or put in the back/forward cache.

import {FlashClient} from './client.js';
import {DevtoolsStats, installDevtoolsView, watchTransport} from './devtools.js';
import {graphBusyCheck} from './graph_busy.js';
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

/** Installs window.flash_ws: a queue of fire() calls at once, the client once the page is parsed. */
function installFlashWs(window) {
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
    const urls = {sseUrl: config.sse_url, postUrl: config.post_url};
    const fetch = (...request) => window.fetch(...request); // fetch needs window as `this`
    // Dash's debug mode: the dev-tools view watches the transports (see devtools.js)
    const stats = config.devtools ? new DevtoolsStats({names: config.callbacks, now: () => window.performance.now()}) : null;
    const watched = {current: null};
    const watch = (transport, name) => (stats ? watchTransport(transport, name, stats, watched) : transport);
    const client = new FlashClient({
      config,
      transports: {
        websocket: () => watch(new WebSocketTransport(url, {WebSocket: window.WebSocket}), 'websocket'),
        sse: () => watch(new SseTransport(urls, {EventSource: window.EventSource, fetch, console: window.console}), 'sse'),
      },
      setProps: (id, props) => window.dash_clientside.set_props(id, props),
      isBusy: graphBusyCheck(window.document),
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

installFlashWs(window);
