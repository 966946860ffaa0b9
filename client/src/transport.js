// The lifecycle every transport shares. A transport is one connection attempt, used once.

/** Why a transport closed. */
export const CloseReason = Object.freeze({
  NORMAL: 'normal', // this side closed it on purpose
  ERROR: 'error', // the connection failed or dropped
  SERVER_CLOSED: 'server_closed', // the server closed it cleanly
  REFUSED: 'refused', // the server refused the connection (close codes 4000-4999)
  PROTOCOL_ERROR: 'protocol_error', // the server sent something this client cannot read
  SEQUENCE_GAP: 'sequence_gap', // frames were lost: reconnect to resume
  HEARTBEAT_TIMEOUT: 'heartbeat_timeout', // the server was silent for longer than its heartbeat allows
});

export const TransportState = Object.freeze({IDLE: 'idle', OPENING: 'opening', OPEN: 'open', CLOSED: 'closed'});

/** @typedef {{code?: number, reason?: string}} CloseDetail  what the connection said when it closed */

/**
 * Owns the lifecycle idle -> opening -> open -> closed. Subclasses implement doOpen(), doClose()
 * and write(text), and report their connection through emitOpen(), emitMessage(text) and
 * emitClose(reason, detail). The handlers onopen, onmessage(text) and onclose(reason, detail) are
 * called at most once each for open and close, and never after the close.
 */
export class Transport {
  /** @type {() => void} */
  onopen = () => {};
  /** @type {(text: string) => void} */
  onmessage = () => {};
  /** @type {(reason: string, detail: CloseDetail) => void} */
  onclose = () => {};
  #state = TransportState.IDLE;

  /** @returns {string} one of TransportState */
  get state() {
    return this.#state;
  }

  /** Starts connecting; a failure to start is reported through onclose. */
  open() {
    if (this.#state !== TransportState.IDLE) {
      throw new Error(`cannot open a transport that is ${this.#state}: transports are used once`);
    }
    this.#state = TransportState.OPENING;
    try {
      this.doOpen();
    } catch (error) {
      this.emitClose(CloseReason.ERROR, {reason: String(error)});
    }
  }

  /** Closes the connection; onclose is called at once with `reason`. @param {string} [reason] */
  close(reason = CloseReason.NORMAL) {
    if (this.#state === TransportState.CLOSED) return;
    if (this.#state !== TransportState.IDLE) this.doClose();
    this.emitClose(reason, {});
  }

  /** @param {string} text one encoded message */
  send(text) {
    if (this.#state !== TransportState.OPEN) throw new Error(`cannot send on a transport that is ${this.#state}`);
    this.write(text);
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

  /** Starts connecting. */
  doOpen() {
    throw new Error(`${this.constructor.name} must implement doOpen()`);
  }

  /** Drops the connection without reporting it (close() reports). */
  doClose() {
    throw new Error(`${this.constructor.name} must implement doClose()`);
  }

  /** Sends one message on the open connection. @param {string} text */
  write(text) {
    throw new Error(`${this.constructor.name} must implement write()`);
  }
}
