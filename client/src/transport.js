// The lifecycle every transport shares. A transport is one connection attempt, used once.

/** Why a transport closed. */
export const CloseReason = Object.freeze({
  NORMAL: 'normal', // this side closed it on purpose
  ERROR: 'error', // the connection failed or dropped
  SERVER_CLOSED: 'server_closed', // the server closed it cleanly
  REFUSED: 'refused', // the server refused the connection: its close code or status says give up
  REPLACED: 'replaced', // a newer connection of the same session took over (close code 4009)
  PROTOCOL_ERROR: 'protocol_error', // the server sent something this client cannot read
  SEQUENCE_GAP: 'sequence_gap', // frames were lost: reconnect to resume
  HEARTBEAT_TIMEOUT: 'heartbeat_timeout', // the server was silent for longer than its heartbeat allows
  WELCOME_TIMEOUT: 'welcome_timeout', // no welcome came in time (the WebSocket on trial, see Connection)
  OPEN_TIMEOUT: 'open_timeout', // an event stream attempt did not open in time (see Connection)
});

export const TransportState = Object.freeze({IDLE: 'idle', OPENING: 'opening', OPEN: 'open', CLOSED: 'closed'});

/** @typedef {import('./codec.js').Frame} Frame */
/**
 * What the connection said when it closed: the close code and reason, and what the page does
 * about it (a CloseAction of close_codes.js; absent means resume with backoff).
 * @typedef {{code?: number, reason?: string, action?: string}} CloseDetail
 */

/**
 * Owns the lifecycle idle -> opening -> open -> closed. Subclasses implement doOpen(hello),
 * doClose() and write(text, last), and report their connection through emitOpen(),
 * emitMessage(text) and emitClose(reason, detail). The handlers onopen, onmessage(text) and
 * onclose(reason, detail) are called at most once each for open and close, and never after the close.
 */
export class Transport {
  /** @type {() => void} */
  onopen = () => {};
  /** @type {(text: string) => void} */
  onmessage = () => {};
  /** @type {(reason: string, detail: CloseDetail) => void} */
  onclose = () => {};
  /**
   * The token of the session the server welcomed this connection into; the client sets it. A
   * transport that names the session in its requests (SSE + POST) reads it.
   * @type {string | null}
   */
  session = null;
  #state = TransportState.IDLE;

  /** @returns {string} one of TransportState */
  get state() {
    return this.#state;
  }

  /**
   * Starts connecting; a failure to start is reported through onclose.
   * @param {Frame} hello the first frame of the connection, which the transport delivers as it
   *   connects: a WebSocket sends it first, an EventSource names it in its URL
   */
  open(hello) {
    if (this.#state !== TransportState.IDLE) {
      throw new Error(`cannot open a transport that is ${this.#state}: transports are used once`);
    }
    this.#state = TransportState.OPENING;
    try {
      this.doOpen(hello);
    } catch (error) {
      this.emitClose(CloseReason.ERROR, {reason: String(error)});
    }
  }

  /**
   * Closes the connection; onclose is called at once with `reason` and `detail`.
   * @param {string} [reason] @param {CloseDetail} [detail]
   */
  close(reason = CloseReason.NORMAL, detail = {}) {
    if (this.#state === TransportState.CLOSED) return;
    if (this.#state !== TransportState.IDLE) this.doClose();
    this.emitClose(reason, detail);
  }

  /**
   * @param {string} text one encoded message
   * @param {{last?: boolean}} [options] last: the page is leaving and this is its last message,
   *   which must get out even as the page unloads
   */
  send(text, {last = false} = {}) {
    if (this.#state !== TransportState.OPEN) throw new Error(`cannot send on a transport that is ${this.#state}`);
    this.write(text, last);
  }

  /** For subclasses: the connection is open. */
  emitOpen() {
    if (this.#state !== TransportState.OPENING) return;
    this.#state = TransportState.OPEN;
    this.onopen();
  }

  /** For subclasses: a message arrived. @param {string} text */
  emitMessage(text) {
    if (this.#state === TransportState.OPEN) this.onmessage(text);
  }

  /** For subclasses: the connection is over. @param {string} reason @param {CloseDetail} [detail] */
  emitClose(reason, detail = {}) {
    if (this.#state === TransportState.CLOSED) return;
    this.#state = TransportState.CLOSED;
    this.onclose(reason, detail);
  }

  /** @returns {string} the transport's name, for logs */
  get name() {
    throw new Error(`${this.constructor.name} must define name`);
  }

  /** Starts connecting. @param {Frame} hello */
  doOpen(hello) {
    throw new Error(`${this.constructor.name} must implement doOpen()`);
  }

  /** Drops the connection without reporting it (close() reports). */
  doClose() {
    throw new Error(`${this.constructor.name} must implement doClose()`);
  }

  /**
   * Sends one message on the open connection.
   * @param {string} text @param {boolean} last the page's last message (see send)
   */
  write(text, last) {
    throw new Error(`${this.constructor.name} must implement write()`);
  }
}
