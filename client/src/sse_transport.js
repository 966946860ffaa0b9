// A transport for proxies that block WebSockets: one EventSource carries the server's messages,
// POST requests carry the page's (docs/protocol.md, "SSE + POST").

import {CloseAction, httpAction} from './close_codes.js';
import {concatMessages} from './codec.js';
import {isObject} from './json.js';
import {whyRefused} from './refusal_probe.js';
import {CloseReason, Transport, TransportState} from './transport.js';

/** The request header naming the session of a POST. */
export const SESSION_HEADER = 'X-Flash-Ws-Session';

/**
 * After a POST failed (its action is `resume`), how long the event stream is still read before the
 * connection closes to resume, if the stream has not ended by then: the stream may be healthy and
 * the POST's failure a blip, and the page has no uplink meanwhile (tests/vectors/close_codes.json,
 * uplink_lost_wait_s).
 */
export const UPLINK_LOST_WAIT_MS = 5000;

/**
 * What became of one POST: its CloseAction (close_codes.js, httpAction('post', ...)). `accepted`
 * (2xx); `refused` (the server read it and said no: the connection goes on); `resume` (the
 * request failed, the server answered 408, 429 or 5xx, or it no longer has the session: the
 * connection's uplink is over, nothing more is posted on it, but its event stream is read until it
 * ends or UPLINK_LOST_WAIT_MS pass, then the resume sends again what the server missed); `give_up`
 * (401, 403: the page stops).
 * @typedef {{action: string, reason: string, code?: string, message?: string}} PostOutcome
 */

export class SseTransport extends Transport {
  #sseUrl;
  #postUrl;
  #EventSource;
  #fetch;
  #console;
  /** @type {EventSource | null} */
  #source = null;
  /** @type {string[]} messages waiting for the POST in flight */
  #outbox = [];
  #posting = false;
  /** @type {PostOutcome | null} why this connection's POSTs stopped: its event stream is read until it ends */
  #uplinkLost = null;
  #uplinkLostWaitMs;
  #uplinkLostTimer = null;
  #stallMs;
  #setTimeout;
  #clearTimeout;
  #stallTimer = null;

  /**
   * @param {{sseUrl: string, postUrl: string}} urls the page config's sse_url and post_url
   * @param {object} dependencies
   * @param {typeof EventSource} dependencies.EventSource
   * @param {typeof fetch} dependencies.fetch
   * @param {Pick<Console, 'error' | 'warn'>} dependencies.console where refused messages and stalls are reported
   * @param {number} [dependencies.stallMs] a request unanswered this long is reported (the page
   *   config's stall_warning_ms): the browser may be out of connections to the host
   * @param {number} [dependencies.uplinkLostWaitMs] after a POST failed, how long the event stream
   *   is still read before the connection closes to resume (UPLINK_LOST_WAIT_MS)
   * @param {(fn: () => void, ms: number) => unknown} [dependencies.setTimeout]
   * @param {(timer: unknown) => void} [dependencies.clearTimeout]
   */
  constructor({sseUrl, postUrl}, {EventSource, fetch, console, stallMs = 10000, uplinkLostWaitMs = UPLINK_LOST_WAIT_MS,
    setTimeout = (fn, ms) => globalThis.setTimeout(fn, ms), clearTimeout = (timer) => globalThis.clearTimeout(timer)}) {
    super();
    this.#stallMs = stallMs;
    this.#uplinkLostWaitMs = uplinkLostWaitMs;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
    this.#sseUrl = sseUrl;
    this.#postUrl = postUrl;
    this.#EventSource = EventSource;
    this.#fetch = fetch;
    this.#console = console;
  }

  get name() {
    return 'sse';
  }

  doOpen(hello) {
    // Only the session's public id (the token's part before the dot) goes in the URL, which
    // proxies write to their access logs; the browser's cookie proves the session is its own.
    const sid = (hello.session ?? '').split('.')[0];
    const query = new URLSearchParams({v: String(hello.v), sid, seq: String(hello.seq)});
    const source = new this.#EventSource(`${this.#sseUrl}?${query}`);
    this.#source = source;
    this.#stallTimer = this.#stallWarning('the event stream has not opened');
    let opened = false;
    source.onopen = () => {
      opened = true;
      this.#clearTimeout(this.#stallTimer);
      this.emitOpen();
    };
    source.onmessage = (event) => this.emitMessage(event.data);
    // Left alone, an EventSource reconnects by itself with a Last-Event-ID this protocol does not
    // use: closing it here lets the client reconnect with a hello that resumes the session.
    source.onerror = () => {
      if (opened) {
        const lost = this.#uplinkLost;
        if (lost === null) this.close(CloseReason.ERROR, {reason: 'the event stream failed'});
        else this.close(CloseReason.ERROR, {reason: lost.reason, action: lost.action});
        return;
      }
      source.close(); // a stream that never opened: the page cannot see why, so it asks (refusal_probe.js)
      whyRefused(this.#fetch, this.#postUrl).then((refusal) => {
        if (this.state === TransportState.CLOSED) return;
        if (refusal === null) this.close(CloseReason.ERROR, {reason: 'the event stream failed'});
        else this.close(CloseReason.REFUSED, {reason: refusal, action: CloseAction.GIVE_UP});
      });
    };
  }

  doClose() {
    this.#clearTimeout(this.#stallTimer);
    if (this.#uplinkLostTimer !== null) this.#clearTimeout(this.#uplinkLostTimer);
    this.#source.close();
    this.#outbox = [];
  }

  /**
   * Messages go out in order, one POST at a time; those written while a POST is in flight go
   * together in the next one. The last message of the page goes out at once, with the waiting
   * ones, in a request that outlives the page.
   */
  write(text, last) {
    if (this.#uplinkLost !== null && !last) return; // the resume sends again what the server missed
    this.#outbox.push(text);
    if (last) {
      const body = concatMessages(this.#outbox.splice(0));
      this.#fetch(this.#postUrl, {method: 'POST', keepalive: true, headers: this.#headers(), body}).catch(() => {});
    } else if (!this.#posting) {
      this.#drain();
    }
  }

  async #drain() {
    this.#posting = true;
    while (this.#outbox.length > 0) {
      const outcome = await this.#post(concatMessages(this.#outbox.splice(0)));
      if (this.state === TransportState.CLOSED) return;
      if (outcome.action === CloseAction.GIVE_UP) {
        this.close(CloseReason.REFUSED, {reason: outcome.reason, action: outcome.action});
        return;
      }
      if (outcome.action === CloseAction.RESUME) {
        // The uplink of this connection is over, not its event stream, which may still carry
        // frames (a draining server that no longer listens still sends its runs' ends on the open
        // streams). Nothing more is posted on it (a later POST could overtake the lost one); the
        // stream is read until it ends, then the client resumes and sends again what the server
        // missed (docs/protocol.md, "SSE + POST"). The stream may be healthy and the failure a
        // blip, and the page cannot start or cancel anything meanwhile: unless it ends first, the
        // connection closes after uplinkLostWaitMs to resume.
        this.#uplinkLost = outcome;
        this.#outbox = [];
        this.#uplinkLostTimer = this.#setTimeout(() => {
          this.#uplinkLostTimer = null;
          const seconds = this.#uplinkLostWaitMs / 1000;
          this.close(CloseReason.ERROR, {reason: `${outcome.reason}; the event stream was still open after ${seconds} s`, action: outcome.action});
        }, this.#uplinkLostWaitMs);
        return; // #posting stays set: no POST leaves this connection any more
      }
      if (outcome.action === CloseAction.REFUSED) {
        this.#console.error(`flash_ws: the server refused a message (${outcome.code}): ${outcome.message}`);
      }
    }
    this.#posting = false;
  }

  /** @param {string} body one message @returns {Promise<PostOutcome>} */
  async #post(body) {
    let response;
    const stall = this.#stallWarning('a POST has had no answer');
    try {
      response = await this.#fetch(this.#postUrl, {method: 'POST', headers: this.#headers(), body});
    } catch (error) {
      return {action: CloseAction.RESUME, reason: `POST failed: ${error}`};
    } finally {
      this.#clearTimeout(stall);
    }
    if (response.ok) return {action: CloseAction.ACCEPTED, reason: ''};
    const answer = await response.json().catch(() => null); // {code, message} from the server
    const fromServer = isObject(answer) && typeof answer.code === 'string';
    const {code, message} = fromServer
      ? {code: answer.code, message: String(answer.message ?? '')}
      : {code: `http_${response.status}`, message: response.statusText}; // from a proxy, say
    const action = httpAction('post', response.status, fromServer ? code : null);
    const reason = response.status === 404 && action === CloseAction.RESUME
      ? 'the server no longer has the session'
      : `POST answered ${response.status} (${code}: ${message})`;
    return {action, reason, code, message};
  }

  /** Says in the console that `what` after stallMs, unless the returned timer is cleared first. */
  #stallWarning(what) {
    return this.#setTimeout(() => this.#console.warn(`flash_ws: ${what} after ${this.#stallMs / 1000} s: the browser may be ` +
      'out of connections to this host (six per host over HTTP/1.1, shared by every tab and long request)'), this.#stallMs);
  }

  #headers() {
    return {'Content-Type': 'application/json', [SESSION_HEADER]: this.session};
  }
}
