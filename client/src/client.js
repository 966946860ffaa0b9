// The page's client: one session carried by one transport at a time, the Connection's (which
// reconnects with backoff; in "auto" mode, over SSE + POST when the WebSocket fails).

import {PropsApplier} from './apply.js';
import {CloseAction} from './close_codes.js';
import {decodeMessage, encodeMessage, ProtocolError} from './codec.js';
import {Connection, describeClose} from './connection.js';
import {instanceKey, forInstance} from './instances.js';
import {canonicalJson} from './json.js';
import {LayoutGuard} from './layout_guard.js';
import {ClientSession} from './session.js';
import {CloseReason} from './transport.js';

/** `end` error codes that mean the run's worker stopped: reported as lost runs (flash_ws:lost). */
const LOST_WITH_A_WORKER = new Set(['worker_lost', 'worker_shutdown']);

/** @typedef {import('./apply.js').Batch} Batch */
/** @typedef {import('./codec.js').Frame} Frame */
/** @typedef {import('./transport.js').Transport} Transport */
/** @typedef {import('./transport.js').CloseDetail} CloseDetail */
/** @typedef {import('./transport_choice.js').TransportName} TransportName */
/**
 * @typedef {{context: number, input: number, keys: string[]}} MatchSource  where a run's instance
 *   key comes from: the MATCH values of one Input's id in the trigger context at `context`
 * @typedef {{kind: 'start', cb: string, args: number[], initial: boolean, match?: MatchSource}
 *   | {kind: 'cancel', cb: string, arg: number, keep: unknown, match?: MatchSource}} GroupAction
 * @typedef {object} PageConfig  the flash_ws member of Dash's page config (docs/protocol.md)
 * @property {string} ws_url
 * @property {string} [sse_url]
 * @property {string} [post_url]
 * @property {'auto' | 'websocket' | 'sse'} [transport] auto (the default): WebSocket, else SSE + POST
 * @property {number} [ws_timeout_ms] auto: how long the WebSocket has for its first welcome
 * @property {number} [ws_retry_after_ms] auto: how long a tab sticks to SSE after a WebSocket failed
 * @property {number} [sse_open_timeout_ms] how long an event stream attempt has to open (the server
 *   answers at once) before the next attempt replaces it
 * @property {Record<string, {name: string, reset: Batch}>} callbacks
 * @property {Record<string, GroupAction[]>} groups
 * @property {number} [ack_interval_ms]
 * @property {number} [ack_every]
 * @property {number} [ack_bytes]
 * @property {number} [heartbeat_ms] how often the server pings
 * @property {number} [heartbeat_timeout_ms] how late a ping may be before the connection is dead
 * @property {number} [resume_grace_ms] how long the server keeps the session of a page it lost
 */

const ClientState = Object.freeze({
  IDLE: 'idle', // not connected (yet, or since the page left): fire() queues
  RUNNING: 'running', // connected, or reconnecting
  STOPPED: 'stopped', // closed, or refused by the server: fire() does nothing
});

export class FlashClient {
  #config;
  /** @type {string | null} why the server refused the page, once it gave up */ #refusal = null;
  #connection;
  #now;
  #setTimeout;
  #clearTimeout;
  #console;
  #session;
  #applier;
  #guard;
  #state = ClientState.IDLE;
  #ackTimer = null;
  /** @type {number | null} */ #ackDeadline = null;
  /** @type {number | null} */ #graceMs; // the server keeps a dropped page's session this long
  #graceTimer = null; // runs from a drop to the next welcome: past it, the session is gone
  /** @type {(lost: {cb: string, name: string, reason?: string}) => void} */ #onLost;

  /**
   * @param {object} options
   * @param {PageConfig} options.config
   * @param {Record<TransportName, () => Transport>} options.transports a new transport of each
   *   kind for each connection attempt
   * @param {(id: string | object, props: object) => void} options.setProps
   * @param {(fn: () => void) => void} [options.defer] the applier's wait between flushes
   *   (default: setTimeout(fn, 0))
   * @param {(id: string | object, prop: string) => boolean} [options.isBusy] a component is still
   *   taking its last value of prop (see PropsApplier)
   * @param {(id: string | object) => boolean} [options.hasComponent] the layout holds id now (see
   *   LayoutGuard); default: every id
   * @param {() => Array<string | object>} [options.layoutIds] every id of the layout
   * @param {(id: string | object) => {name: string, props: Set<string>} | null} [options.declaredProps]
   *   the props a component declares, checked when the page config's props_check is on
   * @param {() => number} [options.now] milliseconds, on the clock of setTimeout
   * @param {(fn: () => void, ms: number) => unknown} [options.setTimeout]
   * @param {(timer: unknown) => void} [options.clearTimeout]
   * @param {() => number} [options.random] for the backoff jitter
   * @param {Pick<Console, 'info' | 'warn' | 'error'>} [options.console]
   * @param {(lost: {cb: string, name: string}) => void} [options.onLost] a run was lost with its
   *   session (its reset_props are applied already); the page dispatches a 'flash_ws:lost' event
   * @param {Storage | null} [options.sessionStorage] where the tab remembers a failed WebSocket
   * @param {{search: string}} [options.location] the page's, for ?flash_ws_transport=
   * @param {() => number} [options.wallClock] milliseconds since the epoch, for what the tab remembers
   */
  constructor({
    config,
    transports,
    setProps,
    defer,
    isBusy,
    hasComponent = () => true,
    layoutIds = () => [],
    declaredProps = () => null,
    now = () => Date.now(),
    setTimeout = (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout = (timer) => globalThis.clearTimeout(timer),
    random = Math.random,
    console = globalThis.console,
    onLost = () => {},
    sessionStorage = null,
    location = {search: ''},
    wallClock = () => Date.now(),
  }) {
    this.#config = config;
    this.#connection = new Connection({
      config,
      transports,
      hello: () => this.#session.hello(),
      onMessage: (text) => this.#receive(text),
      onClose: (reason, detail) => this.#closed(reason, detail),
      now,
      setTimeout,
      clearTimeout,
      random,
      console,
      sessionStorage,
      location,
      wallClock,
    });
    this.#now = now;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
    this.#console = console;
    this.#onLost = onLost;
    this.#session = new ClientSession({
      ackEvery: config.ack_every, ackIntervalMs: config.ack_interval_ms, ackBytes: config.ack_bytes,
    });
    this.#graceMs = config.resume_grace_ms ?? null;
    this.#guard = new LayoutGuard({hasComponent, layoutIds, console, declaredProps: config.props_check ? declaredProps : null});
    this.#applier = new PropsApplier({
      setProps,
      defer: defer ?? ((fn) => setTimeout(fn, 0)),
      isBusy,
      onError: (error, id) => console.error(`flash_ws: set_props failed for ${canonicalJson(id)}:`, error),
    });
  }

  /** Connects, and reconnects after every unexpected close until close(). */
  connect() {
    if (this.#state !== ClientState.IDLE) return;
    this.#state = ClientState.RUNNING;
    this.#connection.open();
  }

  /** Closes the connection for good. */
  close() {
    this.#disconnect(ClientState.STOPPED);
  }

  /**
   * The page is leaving (pagehide): tells the server to end the session now, and disconnects.
   * A page restored from the back/forward cache may connect() again; its session is then new.
   */
  leave() {
    if (this.#connection.welcomed) this.#send([{t: 'bye'}], {last: true});
    this.#disconnect(ClientState.IDLE);
  }

  /**
   * The network came back (`online`) or the tab became visible: a connection silent past the
   * heartbeat limit (timers sleep in hidden tabs) is replaced, and a reconnection waiting for its
   * backoff happens now.
   */
  wake() {
    if (this.#state !== ClientState.RUNNING) return;
    this.#connection.wake();
  }

  #disconnect(state) {
    this.#state = state;
    this.#connection.close();
  }

  /**
   * Carries out the actions of a trigger group; called by the group's clientside callback.
   * @param {string} group
   * @param {unknown[]} values the Input values, then the State values
   * @param {unknown[]} triggered Dash's callback_context.triggered: empty on the initial call
   */
  fire(group, values, triggered) {
    if (this.#state === ClientState.STOPPED) {
      if (this.#refusal !== null) this.#refuseStarts(group, triggered);
      return;
    }
    const actions = this.#config.groups?.[group];
    if (actions === undefined) {
      this.#console.error(`flash_ws: unknown trigger group '${group}'`);
      return;
    }
    const initial = !Array.isArray(triggered) || triggered.length === 0;
    const resets = [];
    for (const action of actions) {
      if (action.kind === 'start') {
        if (!initial || action.initial) {
          this.#session.start(action.cb, action.args.map((index) => values[index]), instanceKey(action.match, values) ?? '');
        }
      } else if (action.kind === 'cancel') {
        const keep = canonicalJson(values[action.arg]) === canonicalJson(action.keep);
        if (initial || keep) continue;
        for (const {key} of this.#session.cancel(action.cb, instanceKey(action.match, values))) {
          resets.push(this.#resetOf(action.cb, key));
        }
      } else {
        this.#console.error(`flash_ws: unknown action kind '${action.kind}' in trigger group '${group}'`);
      }
    }
    this.#applier.apply(resets);
    this.#flushOutgoing();
  }

  /** A trigger after the server refused the page: its starts are reported, never silently dropped. */
  #refuseStarts(group, triggered) {
    const initial = !Array.isArray(triggered) || triggered.length === 0;
    for (const action of this.#config.groups?.[group] ?? []) {
      if (action.kind !== 'start' || (initial && !action.initial)) continue;
      const name = this.#nameOf(action.cb);
      this.#console.error(`flash_ws: ${name} not started: the server refused this page's connection (${this.#refusal})`);
      this.#onLost({cb: action.cb, name, reason: 'refused', message: this.#refusal});
    }
  }

  #receive(text) {
    let frames;
    try {
      frames = decodeMessage(text, 'server');
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#console.error(`flash_ws: unreadable message from the server (${error.code}): ${error.message}`);
      this.#connection.transport.close(CloseReason.PROTOCOL_ERROR);
      return;
    }
    /** @type {Batch[]} */
    const batches = [];
    const leftPage = []; // runs whose components left the layout (Dash Pages navigated away)
    let gap = false;
    for (const effect of this.#session.receive(frames, this.#now(), text.length)) {
      switch (effect.kind) {
        case 'welcome':
          this.#clearTimer(this.#graceTimer);
          this.#graceTimer = null;
          this.#connection.welcome(this.#session.token, effect.resumed);
          break;
        case 'lost': {
          batches.push(this.#resetOf(effect.cb, effect.key));
          const name = this.#nameOf(effect.cb);
          const why = effect.reason === undefined ? 'the server lost the session' : `the worker running it stopped (${effect.reason})`;
          this.#console.error(`flash_ws: ${name} was interrupted: ${why}`);
          this.#onLost(effect.reason === undefined ? {cb: effect.cb, name} : {cb: effect.cb, name, reason: effect.reason});
          break;
        }
        case 'apply': {
          const {pairs, left} = this.#guard.filter(effect.run, this.#nameOf(effect.cb), effect.props);
          if (pairs.length > 0) batches.push(pairs);
          if (left) leftPage.push(effect);
          break;
        }
        case 'end':
          this.#guard.forget(effect.run);
          if (effect.reset) batches.push(this.#resetOf(effect.cb, effect.key));
          this.#reportEnd(effect);
          if (effect.reset && LOST_WITH_A_WORKER.has(effect.error?.code)) {
            // the run's worker stopped (a restart, a crash): the page hears of it like a lost session
            this.#onLost({cb: effect.cb, name: this.#nameOf(effect.cb), reason: effect.error.code});
          }
          break;
        case 'error': {
          const about = effect.cb === undefined ? '' : ` (${this.#nameOf(effect.cb)})`;
          this.#console.error(`flash_ws: the server reported ${effect.code}${about}: ${effect.message}`);
          break;
        }
        case 'gap':
          gap = true;
          this.#console.warn(`flash_ws: expected frame ${effect.expected}, got ${effect.received}; resuming`);
          break;
      }
    }
    this.#applier.apply(batches);
    for (const {run, cb} of leftPage) {
      if (this.#session.cancelRun(run)) {
        this.#console.info(`flash_ws: ${this.#nameOf(cb)} stopped: the components it updates left the page`);
      }
    }
    if (gap) this.#connection.transport.close(CloseReason.SEQUENCE_GAP);
    else this.#flushOutgoing();
  }

  /** @param {import('./session.js').EndEffect} end */
  #reportEnd({cb, reason, error}) {
    if (reason !== 'error' && reason !== 'refused') return;
    const what = reason === 'error' ? `${this.#nameOf(cb)} failed` : `the server refused to run ${this.#nameOf(cb)}`;
    this.#console.error(error === null ? `flash_ws: ${what}` : `flash_ws: ${what}: ${error.code}: ${error.message}`);
  }

  /**
   * The connection closed: the session waits for the next one, unless the page closed it or the
   * server refused it for good.
   * @param {string} reason @param {CloseDetail} detail
   * @returns {boolean} whether the connection reconnects
   */
  #closed(reason, detail) {
    this.#session.onDisconnect();
    this.#setAckTimer(null);
    if (this.#state !== ClientState.RUNNING) return false; // closed on purpose
    if ((detail.action ?? CloseAction.RESUME) === CloseAction.GIVE_UP) {
      this.#state = ClientState.STOPPED;
      const refusal = describeClose(reason, detail);
      this.#refusal = refusal;
      this.#console.error(`flash_ws: the server refused the connection (${refusal}); giving up`);
      const ended = this.#session.abandon();
      this.#applier.apply(ended.map(({cb, key}) => this.#resetOf(cb, key)));
      for (const {cb} of ended) {
        // not a cancel: the app hears why its run ended (flash_ws:lost, reason "refused")
        this.#console.error(`flash_ws: ${this.#nameOf(cb)} was stopped: the server refused the connection (${refusal})`);
        this.#onLost({cb, name: this.#nameOf(cb), reason: 'refused', message: refusal});
      }
      return false;
    }
    if (this.#graceTimer === null && this.#graceMs !== null && this.#session.token !== null) {
      this.#graceTimer = this.#setTimeout(() => this.#sessionExpired(), this.#graceMs);
    }
    return true;
  }

  /**
   * No welcome since the connection dropped, for as long as the server keeps a lost page's session:
   * it cannot exist any more, so its runs are ended here (reset and reported, as when the server
   * says it lost them) instead of showing as running while the page keeps trying. The next
   * connection opens a new session, for new runs.
   */
  #sessionExpired() {
    this.#graceTimer = null;
    const seconds = Math.round(this.#graceMs / 100) / 10;
    const lost = this.#session.expire();
    this.#applier.apply(lost.map(({cb, key}) => this.#resetOf(cb, key)));
    for (const {cb} of lost) {
      this.#console.error(`flash_ws: ${this.#nameOf(cb)} was interrupted: the server could not be reached for ` +
        `${seconds} s (its resume_grace), so the session is gone; reconnecting for new runs`);
      this.#onLost({cb, name: this.#nameOf(cb), reason: 'unreachable'});
    }
  }

  /** Sends what the session has for the server now, then arranges for the next ack. */
  #flushOutgoing() {
    this.#send(this.#session.takeFrames(this.#now()));
    const deadline = this.#session.pendingAckDeadline();
    if (deadline !== this.#ackDeadline) this.#setAckTimer(deadline);
  }

  #setAckTimer(deadline) {
    this.#clearTimer(this.#ackTimer);
    this.#ackTimer = null;
    this.#ackDeadline = deadline;
    if (deadline === null) return;
    this.#ackTimer = this.#setTimeout(() => {
      this.#ackTimer = null;
      this.#ackDeadline = null;
      this.#flushOutgoing();
    }, Math.max(0, deadline - this.#now()));
  }

  #clearTimer(timer) {
    if (timer !== null) this.#clearTimeout(timer);
  }

  /** @param {Frame[]} frames @param {{last?: boolean}} [options] see Transport.send */
  #send(frames, options) {
    if (frames.length > 0) this.#connection.transport.send(encodeMessage(frames), options);
  }

  /**
   * The props that put the callback's outputs back when a run of instance `key` stops early (of
   * the components still in the layout; MATCH in a reset id is the instance's value).
   * @param {string} cb @param {string} key
   * @returns {Batch}
   */
  #resetOf(cb, key) {
    return this.#guard.present(forInstance(this.#config.callbacks?.[cb]?.reset ?? [], key));
  }

  #nameOf(cb) {
    return this.#config.callbacks?.[cb]?.name ?? cb;
  }

  /** The transport chosen and why (for the dev-tools view). */
  get transportChoice() {
    return this.#connection.choice;
  }
}
