// The page's connection: one transport at a time, chosen by TransportChoice, watched for silence,
// and replaced after every unexpected close: with backoff, at once, or (auto) over SSE when the
// WebSocket fails. What the connection carries is the client's (see FlashClient).

import {backoffDelay} from './backoff.js';
import {CloseAction} from './close_codes.js';
import {CloseReason} from './transport.js';
import {TransportChoice} from './transport_choice.js';

/** With auto, WebSocket reconnections in a row that fail to open before the page moves to SSE. */
const FALLBACK_AFTER_FAILED_RECONNECTS = 3;
/** After a dead path, event stream attempts given sse_open_timeout_ms to open; later ones wait for the watchdog. */
const MAX_QUICK_ATTEMPTS = 10;

/** @typedef {import('./transport.js').Transport} Transport */
/** @typedef {import('./transport.js').CloseDetail} CloseDetail */
/** @typedef {import('./transport_choice.js').TransportName} TransportName */

export class Connection {
  #transports;
  #choice;
  #wsTimeoutMs;
  #now;
  #setTimeout;
  #clearTimeout;
  #random;
  #console;
  #hello;
  #onMessage;
  #onClose;
  /** @type {Transport | null} */ #transport = null;
  #welcomed = false;
  #trialTimer = null; // the WebSocket on trial must be welcomed before it fires
  #openTimer = null; // after a dead path, an event stream attempt must open before it fires
  #silentCloses = 0; // connections and attempts in a row closed for silence (a dead path)
  #sseOpenTimeoutMs;
  #attempt = 0; // reconnection attempts since the last welcome
  #reconnectTimer = null;
  /** @type {number | null} */ #silenceLimit; // ms without a message before the connection is dead
  #watchdog = null;
  #lastHeard = 0;
  #failedReconnects = 0; // WebSocket attempts in a row that never opened

  /**
   * @param {object} options
   * @param {import('./client.js').PageConfig} options.config
   * @param {Record<TransportName, () => Transport>} options.transports a new transport of each
   *   kind for each connection attempt
   * @param {() => import('./codec.js').Frame} options.hello the hello frame each transport opens with
   * @param {(text: string) => void} options.onMessage a message of the connection's
   * @param {(reason: string, detail: CloseDetail) => boolean} options.onClose the connection
   *   closed; returns whether to reconnect (false: closed on purpose, or refused for good)
   * @param {() => number} options.now milliseconds, on the clock of setTimeout
   * @param {(fn: () => void, ms: number) => unknown} options.setTimeout
   * @param {(timer: unknown) => void} options.clearTimeout
   * @param {() => number} options.random for the backoff jitter
   * @param {Pick<Console, 'info' | 'warn' | 'error'>} options.console
   * @param {Storage | null} options.sessionStorage where the tab remembers a failed WebSocket
   * @param {{search: string}} options.location the page's, for ?flash_ws_transport=
   * @param {() => number} options.wallClock milliseconds since the epoch, for what the tab remembers
   */
  constructor({
    config, transports, hello, onMessage, onClose, now, setTimeout, clearTimeout, random, console, sessionStorage,
    location, wallClock,
  }) {
    this.#transports = transports;
    this.#choice = new TransportChoice({
      configured: config.transport,
      search: location.search,
      storage: sessionStorage,
      wallClock,
      retryAfterMs: config.ws_retry_after_ms,
      console,
    });
    this.#wsTimeoutMs = config.ws_timeout_ms ?? 2000;
    this.#sseOpenTimeoutMs = config.sse_open_timeout_ms ?? 1000;
    this.#now = now;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
    this.#random = random;
    this.#console = console;
    this.#hello = hello;
    this.#onMessage = onMessage;
    this.#onClose = onClose;
    this.#silenceLimit =
      config.heartbeat_ms === undefined ? null : config.heartbeat_ms + (config.heartbeat_timeout_ms ?? 0);
  }

  /** @returns {Transport | null} the transport of the current attempt; null between attempts */
  get transport() {
    return this.#transport;
  }

  /** Whether the current transport was welcomed (its session is the page's). */
  get welcomed() {
    return this.#welcomed;
  }

  /** The transport chosen and why (for the dev-tools view). */
  get choice() {
    return {name: this.#choice.name, why: this.#choice.why};
  }

  /** Opens a transport now, replacing a reconnection waiting for its backoff. */
  open() {
    this.#reconnectTimer = null;
    const transport = this.#transports[this.#choice.name]();
    this.#transport = transport;
    let opened = false;
    transport.onopen = () => {
      opened = true;
      this.#silentCloses = 0;
      this.#clearTimer(this.#openTimer);
      this.#openTimer = null;
      this.#heardFromServer();
    };
    transport.onmessage = (text) => {
      this.#heardFromServer();
      this.#onMessage(text);
    };
    transport.onclose = (reason, detail) => this.#closed(reason, detail, opened);
    if (this.#choice.onTrial) {
      this.#trialTimer = this.#setTimeout(() => transport.close(CloseReason.WELCOME_TIMEOUT), this.#wsTimeoutMs);
    } else if (this.#choice.name === 'sse' && this.#silentCloses > 0 && this.#silentCloses <= MAX_QUICK_ATTEMPTS) {
      // After a dead path the browser may hand the event stream a pooled connection that died with
      // it: an attempt the server has not answered soon (it answers at once) is replaced.
      this.#openTimer = this.#setTimeout(() => transport.close(CloseReason.OPEN_TIMEOUT), this.#sseOpenTimeoutMs);
    }
    this.#heardFromServer(); // a connection attempt that never answers (a dead path) is dead too
    transport.open(this.#hello());
  }

  /** Closes the transport, and cancels a reconnection waiting for its backoff. */
  close() {
    this.#clearTimer(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#transport?.close(CloseReason.NORMAL);
  }

  /** See FlashClient.wake. */
  wake() {
    const silent = this.#silenceLimit !== null && this.#now() - this.#lastHeard > this.#silenceLimit;
    if (this.#transport !== null && silent) {
      this.#transport.close(CloseReason.HEARTBEAT_TIMEOUT);
    }
    if (this.#reconnectTimer !== null) {
      this.#clearTimer(this.#reconnectTimer);
      this.#attempt = 0;
      this.open();
    }
  }

  /**
   * The server welcomed the transport into session `token`: the WebSocket's trial is over, the
   * backoff starts again from its first delay, and the console says which transport and why.
   * @param {string} token @param {boolean} resumed
   */
  welcome(token, resumed) {
    this.#welcomed = true;
    this.#attempt = 0;
    this.#transport.session = token;
    this.#clearTimer(this.#trialTimer);
    this.#trialTimer = null;
    this.#choice.welcomed();
    this.#console.info(
      `flash_ws: connected over ${this.#transport.name}, ${resumed ? 'session resumed' : 'new session'}` +
        ` (${this.#choice.why})`,
    );
  }

  /** Restarts the watchdog: a connection (or attempt) silent past the server's heartbeat is dead. */
  #heardFromServer() {
    this.#lastHeard = this.#now();
    if (this.#silenceLimit === null) return;
    this.#clearTimer(this.#watchdog);
    const transport = this.#transport;
    this.#watchdog = this.#setTimeout(() => transport.close(CloseReason.HEARTBEAT_TIMEOUT), this.#silenceLimit);
  }

  /** @param {string} reason @param {CloseDetail} detail @param {boolean} opened whether the transport had opened */
  #closed(reason, detail, opened) {
    const wasWelcomed = this.#welcomed;
    this.#transport = null;
    this.#welcomed = false;
    for (const timer of [this.#watchdog, this.#trialTimer, this.#openTimer]) this.#clearTimer(timer);
    this.#watchdog = null;
    this.#trialTimer = null;
    this.#openTimer = null;
    if (!this.#onClose(reason, detail)) return;
    const action = detail.action ?? CloseAction.RESUME; // a close of this side's own: resume
    if (this.#choice.onTrial) {
      this.#choice.fallBack(this.#trialFailure(reason, detail, opened));
      this.#reconnectTimer = this.#setTimeout(() => this.open(), 0);
      return;
    }
    if (action === CloseAction.REPLACED) {
      // quiet: another connection of this session took over; this one was still the page's, so resume
      this.#console.info(`flash_ws: a newer connection took over the session (${describeClose(reason, detail)}); resuming`);
    } else if (wasWelcomed) {
      this.#console.warn(`flash_ws: connection lost (${describeClose(reason, detail)}); reconnecting`);
    }
    this.#failedReconnects = opened ? 0 : this.#failedReconnects + 1;
    if (this.#choice.canFallBack && this.#failedReconnects >= FALLBACK_AFTER_FAILED_RECONNECTS) {
      // the WebSocket worked, then stopped getting through (a proxy changed?): the session goes on over SSE
      this.#choice.fallBack(`${this.#failedReconnects} reconnections failed after a drop`);
      this.#reconnectTimer = this.#setTimeout(() => this.open(), 0);
      return;
    }
    // at once only after a welcome: a server that closes every new connection so gets the backoff
    const now = action === CloseAction.RESUME_NOW && wasWelcomed;
    if (now) this.#attempt = 0;
    // an attempt abandoned for silence has waited already: the backoff does not grow with it
    const silent = reason === CloseReason.OPEN_TIMEOUT || (reason === CloseReason.HEARTBEAT_TIMEOUT && !opened);
    this.#silentCloses = silent || reason === CloseReason.HEARTBEAT_TIMEOUT ? this.#silentCloses + 1 : 0;
    const delay = now ? 0 : backoffDelay(silent ? 0 : this.#attempt++, {}, this.#random);
    this.#reconnectTimer = this.#setTimeout(() => this.open(), delay);
  }

  /** @returns {string} how the WebSocket on trial failed, for the logs */
  #trialFailure(reason, detail, opened) {
    if (reason === CloseReason.WELCOME_TIMEOUT) return `no welcome within ${this.#wsTimeoutMs} ms`;
    return `closed before ${opened ? 'the welcome' : 'opening'} (${describeClose(reason, detail)})`;
  }

  #clearTimer(timer) {
    if (timer !== null) this.#clearTimeout(timer);
  }
}

/** @param {string} reason @param {CloseDetail} detail @returns {string} e.g. "server_closed 4008: heartbeat timeout" */
export function describeClose(reason, detail) {
  const what = detail.code === undefined ? reason : `${reason} ${detail.code}`;
  return detail.reason ? `${what}: ${detail.reason}` : what;
}
