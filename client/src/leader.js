// Where the browser has no SharedWorker (Chrome on Android): the tabs elect a leader with the Web
// Locks API; the leader runs the hub (shared_hub.js) in its page and the other tabs reach it over a
// BroadcastChannel. When the leader leaves, freezes, or goes silent, another tab takes over and
// every tab reconnects to it (resuming its own session).

import {HubPort} from './shared_transport.js';

/** How often the leader says it is alive; a follower with open transports takes over after STEAL_AFTER_MS of silence. */
const ALIVE_EVERY_MS = 5000;
const STEAL_AFTER_MS = 20000;

/**
 * Channel messages: {to: 'hub', from: tabId, m} (a tab to the hub), {to: tabId, m} (the hub to a
 * tab), {alive: epoch} (the leader, now and then), {ready: epoch} (a new leader's hub started).
 * @param {object} options
 * @param {string} options.name the lock's and the channel's name (one per app)
 * @param {{sharedUrl: string, postsUrl: string}} options.urls
 * @param {number} options.stallMs
 * @param {Pick<Console, 'info' | 'warn' | 'error'>} options.console
 * @param {() => import('./shared_hub.js').SharedHub} options.makeHub
 * @param {Window} window the page's (navigator.locks, BroadcastChannel, timers, document events)
 * @returns {HubPort} this tab's port to whichever tab leads
 */
export function leaderHubPort({name, urls, stallMs, console, makeHub}, window) {
  const now = () => window.Date.now();
  const tabId = `${now().toString(36)}-${window.Math.random().toString(36).slice(2)}`;
  const channel = new window.BroadcastChannel(name);
  const port = {onmessage: null, postMessage: (m) => channel.postMessage({to: 'hub', from: tabId, m})};
  const hubPort = new HubPort(port, urls, {stallMs, console});
  let heard = now();
  channel.onmessage = ({data}) => {
    heard = now();
    if (data?.to === tabId) port.onmessage?.({data: data.m});
    else if (data?.ready !== undefined) hubPort.hubChanged('another tab now holds the shared event stream');
  };
  let stopHub = null;
  const lead = () => {
    const {done, stop} = runHub({name, makeHub, console}, window);
    stopHub = stop;
    return done;
  };
  // a lock stolen from this tab (it was silent too long) rejects its request: its hub stops
  const request = (options) => window.navigator.locks.request(name, options, lead).catch(() => {
    stopHub?.();
    stopHub = null;
  });
  request({});
  window.document.addEventListener('resume', () => request({})); // after a freeze, as a follower again
  window.setInterval(() => {
    if (hubPort.openTransports > 0 && now() - heard > STEAL_AFTER_MS) {
      heard = now();
      console.warn(`flash_ws: the tab holding the shared event stream has been silent ${STEAL_AFTER_MS / 1000} s; this tab takes over`);
      request({steal: true});
    }
  }, ALIVE_EVERY_MS);
  return hubPort;
}

/**
 * This tab leads: it runs the hub until it is stopped (its lock stolen), frozen, or leaves.
 * @returns {{done: Promise<void>, stop: () => void}} done settles when it stops (releasing the lock)
 */
function runHub({name, makeHub, console}, window) {
  const hub = makeHub();
  const channel = new window.BroadcastChannel(name);
  const epoch = window.Date.now();
  /** @type {Map<string, {onmessage: Function | null, postMessage: (m: object) => void}>} */
  const ports = new Map();
  channel.onmessage = ({data}) => {
    if (data?.to !== 'hub') return;
    let port = ports.get(data.from);
    if (port === undefined) {
      port = {onmessage: null, postMessage: (m) => channel.postMessage({to: data.from, m})};
      ports.set(data.from, port);
      hub.connect(port);
    }
    port.onmessage?.({data: data.m});
  };
  const alive = window.setInterval(() => channel.postMessage({alive: epoch}), ALIVE_EVERY_MS);
  channel.postMessage({ready: epoch});
  console.info('flash_ws: this tab holds the shared event stream of its browser (leader)');
  let stop;
  const done = new Promise((resolve) => {
    stop = () => {
      window.clearInterval(alive);
      hub.stop();
      channel.close();
      resolve();
    };
  });
  window.document.addEventListener('freeze', stop, {once: true});
  window.addEventListener('pagehide', stop, {once: true});
  return {done, stop};
}
