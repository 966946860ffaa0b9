// Which transport a page uses, and why: the page config's `transport`, a transport forced for
// debugging, or what the tab remembers of a WebSocket that failed.

/** @typedef {'websocket' | 'sse'} TransportName */

const TRANSPORTS = Object.freeze(['websocket', 'sse']);

/** sessionStorage key: `{transport: 'sse', at, why}` once a WebSocket failed in this tab. */
export const REMEMBER_KEY = 'flash_ws.transport';
/** sessionStorage key and URL query parameter that force a transport. */
export const FORCE_KEY = 'flash_ws.force';
export const FORCE_PARAM = 'flash_ws_transport';

/**
 * The transport of one page life. In "auto" mode the WebSocket is on trial until its first
 * welcome; if it fails first, the page falls back to SSE for the rest of its life, and the tab
 * remembers it so that its next pages go straight to SSE until `retryAfterMs` have passed. A
 * transport forced by the URL (`?flash_ws_transport=sse`) or by sessionStorage
 * (`flash_ws.force`) overrides the config and never falls back.
 */
export class TransportChoice {
  #storage;
  #wallClock;
  /** @type {TransportName} */ #name;
  #why;
  #onTrial = false;
  #auto = false;

  /**
   * @param {object} options
   * @param {string} [options.configured] the page config's transport: auto, websocket or sse
   * @param {string} [options.search] the page URL's query string (location.search)
   * @param {Storage | null} [options.storage] the tab's sessionStorage; null when unavailable
   * @param {() => number} [options.wallClock] milliseconds since the epoch
   * @param {number} [options.retryAfterMs] how long the tab sticks to SSE after a WebSocket failed
   * @param {Pick<Console, 'warn'>} [options.console]
   */
  constructor({
    configured = 'auto',
    search = '',
    storage = null,
    wallClock = () => Date.now(),
    retryAfterMs = 600_000,
    console = globalThis.console,
  }) {
    this.#storage = storage;
    this.#wallClock = wallClock;
    const forced = this.#forced(search, console);
    if (forced !== null) {
      [this.#name, this.#why] = forced;
    } else if (TRANSPORTS.includes(configured)) {
      [this.#name, this.#why] = [configured, `"${configured}" in the page config`];
    } else {
      this.#chooseAuto(retryAfterMs);
    }
  }

  /** @returns {TransportName} the transport to connect with */
  get name() {
    return this.#name;
  }

  /** @returns {string} why this transport, for the logs */
  get why() {
    return this.#why;
  }

  /** @returns {boolean} the WebSocket has not been welcomed yet, and SSE takes over if it fails */
  get onTrial() {
    return this.#onTrial;
  }

  /** @returns {boolean} the page is on a WebSocket that auto chose: SSE may still take over */
  get canFallBack() {
    return this.#auto && this.#name === 'websocket';
  }

  /** A connection was welcomed: the transport is settled for this page life. */
  welcomed() {
    if (!this.#onTrial) return;
    this.#onTrial = false;
    this.#tryStorage((storage) => storage.removeItem(REMEMBER_KEY)); // the WebSocket works (again)
  }

  /** The WebSocket on trial failed: SSE from now on, and for the tab's next pages. @param {string} failure */
  fallBack(failure) {
    this.#onTrial = false;
    this.#name = 'sse';
    this.#why = `websocket failed: ${failure}; remembered for this tab`;
    const record = JSON.stringify({transport: 'sse', at: this.#wallClock(), why: failure});
    this.#tryStorage((storage) => storage.setItem(REMEMBER_KEY, record));
  }

  /** @returns {[TransportName, string] | null} the transport forced for debugging, and by what */
  #forced(search, console) {
    const sources = [
      [new URLSearchParams(search).get(FORCE_PARAM), (value) => `?${FORCE_PARAM}=${value}`],
      [this.#tryStorage((storage) => storage.getItem(FORCE_KEY)), () => `sessionStorage["${FORCE_KEY}"]`],
    ];
    for (const [value, source] of sources) {
      if (value === null) continue;
      if (TRANSPORTS.includes(value)) return [value, `forced by ${source(value)}`];
      console.warn(`flash_ws: ignoring ${source(value)}: expected "websocket" or "sse"`);
    }
    return null;
  }

  #chooseAuto(retryAfterMs) {
    const remembered = this.#remembered();
    const age = remembered === null ? null : this.#wallClock() - remembered.at;
    if (age !== null && age >= 0 && age < retryAfterMs) {
      this.#name = 'sse';
      this.#why = `remembered for this tab: websocket failed ${seconds(age)} ago (${remembered.why}); retried after ${seconds(retryAfterMs)}`;
      return;
    }
    this.#name = 'websocket';
    this.#onTrial = true;
    this.#auto = true;
    this.#why = age === null ? 'auto' : `auto: retrying websocket, which failed in this tab ${seconds(age)} ago`;
  }

  /** @returns {{at: number, why: string} | null} the record of a WebSocket that failed in this tab */
  #remembered() {
    let record;
    try {
      record = JSON.parse(this.#tryStorage((storage) => storage.getItem(REMEMBER_KEY)) ?? 'null');
    } catch {
      return null; // not ours, or damaged: as if absent
    }
    return record?.transport === 'sse' && Number.isFinite(record.at) ? {at: record.at, why: String(record.why)} : null;
  }

  /** sessionStorage may be missing or refuse access (privacy settings, sandboxed frames, quota). */
  #tryStorage(use) {
    try {
      return this.#storage === null ? null : use(this.#storage);
    } catch {
      return null;
    }
  }
}

/** @param {number} ms @returns {string} */
function seconds(ms) {
  return `${Math.round(ms / 1000)} s`;
}
