// The SharedWorker side of the fallback shared by every tab of a browser: one EventSource carries
// the sessions of all tabs (one lane each), one POST at a time carries their messages, batched.
// Each tab keeps its own session (FlashClient); to it, its lane is a transport like any other.

import {CloseAction, httpAction, websocketAction} from './close_codes.js';
import {ProtocolError} from './codec.js';
import {isObject} from './json.js';
import {whyRefused} from './refusal_probe.js';
import {batchBody, parseLaneEvent, sharedStreamUrl} from './shared_stream.js';
import {UPLINK_LOST_WAIT_MS} from './sse_transport.js';
import {CloseReason} from './transport.js';

/** How long the hub waits for more tabs' hellos before it opens the stream. */
const GATHER_MS = 30;
/** After closing the stream to add a tab, how long the tabs it carried have to say hello again. */
const REJOIN_MS = 150;

/**
 * Messages between a tab and the hub (over the tab's MessagePort):
 *   tab -> hub: {op: 'open', id, hello, urls: {sharedUrl, postsUrl}, stallMs}, {op: 'send', id,
 *     session, text}, {op: 'close', id}
 *   hub -> tab: {op: 'open', id}, {op: 'message', id, text}, {op: 'close', id, reason, detail},
 *     {op: 'log', level, text}
 * `id` names one transport of the tab; the hub gives each a lane number of its own.
 * `uplinkLost` is the outcome of the POST that failed for the lane (or was answered "resume"):
 * nothing more of the lane is posted on this stream, which carries it until it ends or
 * uplinkLostWaitMs pass: then the lane alone ends, to resume.
 * @typedef {{port: MessagePort, id: number, hello: object, inStream: boolean, uplinkLost?: {reason: string, action: string}}} Lane
 */

export class SharedHub {
  #EventSource;
  #fetch;
  #setTimeout;
  #clearTimeout;
  /** @type {Map<number, Lane>} */ #lanes = new Map();
  #nextLane = 1;
  /** @type {{sharedUrl: string, postsUrl: string} | null} */ #urls = null;
  #stallMs = 10000;
  /** @type {EventSource | null} */ #source = null;
  #streamTimer = null;
  /** @type {{lane: number, token: string, text: string}[]} */ #outbox = [];
  #posting = false;
  #uplinkLostWaitMs;

  /**
   * @param {object} dependencies
   * @param {typeof EventSource} dependencies.EventSource
   * @param {typeof fetch} dependencies.fetch
   * @param {(fn: () => void, ms: number) => unknown} dependencies.setTimeout
   * @param {(timer: unknown) => void} dependencies.clearTimeout
   * @param {number} [dependencies.uplinkLostWaitMs] after a lane's POST failed, how long the stream
   *   still carries the lane before it ends, to resume (UPLINK_LOST_WAIT_MS, as sse_transport.js)
   */
  constructor({EventSource, fetch, setTimeout, clearTimeout, uplinkLostWaitMs = UPLINK_LOST_WAIT_MS}) {
    this.#uplinkLostWaitMs = uplinkLostWaitMs;
    this.#EventSource = EventSource;
    this.#fetch = fetch;
    this.#setTimeout = setTimeout;
    this.#clearTimeout = clearTimeout;
  }

  /** A tab connected to the worker. @param {MessagePort} port */
  connect(port) {
    port.onmessage = (event) => this.#fromTab(port, event.data);
    port.start?.();
  }

  /** @returns {number} the lanes (tab transports) the hub carries or is about to */
  get laneCount() {
    return this.#lanes.size;
  }

  /** This hub stops (its tab no longer leads): every lane ends, and its tab reconnects to the next hub. */
  stop() {
    if (this.#streamTimer !== null) this.#clearTimeout(this.#streamTimer);
    this.#streamTimer = null;
    this.#source?.close();
    this.#source = null;
    for (const number of [...this.#lanes.keys()]) {
      this.#closeLane(number, CloseReason.ERROR, {reason: 'the tab holding the shared event stream stopped', action: CloseAction.RESUME_NOW});
    }
    this.#outbox = [];
  }

  #fromTab(port, message) {
    if (!isObject(message)) return;
    const number = this.#laneOf(port, message.id);
    if (message.op === 'open') {
      this.#urls = message.urls;
      this.#stallMs = message.stallMs ?? this.#stallMs;
      this.#lanes.set(this.#nextLane++, {port, id: message.id, hello: message.hello, inStream: false});
      this.#scheduleStream(GATHER_MS);
    } else if (message.op === 'send' && number !== null) {
      if (this.#lanes.get(number).uplinkLost) return; // its resume sends again what the server missed
      this.#outbox.push({lane: number, token: message.session, text: message.text});
      if (!this.#posting) this.#drain();
    } else if (message.op === 'close' && number !== null) {
      this.#lanes.delete(number); // the server ends its lane when the session goes on elsewhere
    }
  }

  #laneOf(port, id) {
    for (const [number, lane] of this.#lanes) if (lane.port === port && lane.id === id) return number;
    return null;
  }

  #scheduleStream(ms) {
    if (this.#streamTimer === null) this.#streamTimer = this.#setTimeout(() => this.#openStream(), ms);
  }

  /**
   * Opens the stream for the lanes waiting for one. A stream already open cannot take a lane: it
   * is closed, the tabs it carried resume at once (exactly, as after any reconnection) and join
   * the new stream with the waiting ones.
   */
  #openStream() {
    this.#streamTimer = null;
    const waiting = [...this.#lanes.values()].filter((lane) => !lane.inStream);
    if (waiting.length === 0) return;
    if (this.#source !== null) {
      this.#closeStream(CloseReason.SERVER_CLOSED, {action: CloseAction.RESUME_NOW, reason: 'the shared event stream reopens to carry another tab'}, REJOIN_MS);
      return;
    }
    const lanes = [...this.#lanes].map(([lane, {hello}]) => ({lane, hello}));
    const source = new this.#EventSource(sharedStreamUrl(this.#urls.sharedUrl, lanes));
    this.#source = source;
    for (const lane of this.#lanes.values()) lane.inStream = true;
    const stall = this.#setTimeout(() => this.#log('warn', `flash_ws: the shared event stream has not opened after ${this.#stallMs / 1000} s: ` +
      'the browser may be out of connections to this host (six per host over HTTP/1.1, shared by every tab and long request)'), this.#stallMs);
    source.onmessage = (event) => this.#fromServer(event.data);
    let opened = false;
    source.onopen = () => {
      opened = true;
      this.#clearTimeout(stall);
      for (const lane of this.#lanes.values()) if (lane.inStream) lane.port.postMessage({op: 'open', id: lane.id});
    };
    source.onerror = () => {
      this.#clearTimeout(stall);
      if (this.#source !== source) return;
      if (opened) {
        this.#closeStream(CloseReason.ERROR, {reason: 'the shared event stream failed'});
        return;
      }
      source.close(); // never opened: ask why (refusal_probe.js); the stream stays this one's meanwhile
      whyRefused(this.#fetch, this.#urls.postsUrl).then((refusal) => {
        if (this.#source !== source) return;
        if (refusal === null) this.#closeStream(CloseReason.ERROR, {reason: 'the shared event stream failed'});
        else this.#closeStream(CloseReason.REFUSED, {reason: refusal, action: CloseAction.GIVE_UP});
      });
    };
  }

  /**
   * Ends the stream and every lane it carried (their tabs reconnect as `detail` says); a new stream
   * opens after `reopenMs` for the lanes there are then.
   */
  #closeStream(reason, detail, reopenMs = GATHER_MS) {
    this.#source.close();
    this.#source = null;
    for (const [number, lane] of this.#lanes) {
      if (!lane.inStream) continue;
      const lost = reason === CloseReason.ERROR ? lane.uplinkLost : undefined;
      this.#closeLane(number, reason, lost ? {reason: lost.reason, action: lost.action} : detail);
    }
    this.#scheduleStream(reopenMs);
  }

  #fromServer(data) {
    let event;
    try {
      event = parseLaneEvent(data);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#log('error', `flash_ws: unreadable shared stream event: ${error.message}`);
      this.#closeStream(CloseReason.PROTOCOL_ERROR, {});
      return;
    }
    const lane = this.#lanes.get(event.lane);
    if (lane === undefined || !lane.inStream) return; // its tab closed that transport
    if ('message' in event) {
      lane.port.postMessage({op: 'message', id: lane.id, text: event.message});
    } else {
      const action = websocketAction(event.closed.code);
      const reason = action === CloseAction.GIVE_UP ? CloseReason.REFUSED : CloseReason.SERVER_CLOSED;
      this.#closeLane(event.lane, reason, {...event.closed, action});
    }
  }

  #closeLane(number, reason, detail) {
    const lane = this.#lanes.get(number);
    if (lane === undefined) return;
    this.#lanes.delete(number);
    lane.port.postMessage({op: 'close', id: lane.id, reason, detail});
  }

  /** Messages go out in order, one POST at a time; those written meanwhile go together in the next. */
  async #drain() {
    this.#posting = true;
    while (this.#outbox.length > 0) {
      const entries = this.#outbox.splice(0).filter(({lane}) => this.#lanes.has(lane) && !this.#lanes.get(lane).uplinkLost);
      if (entries.length === 0) continue;
      const lanes = new Map(entries.map(({lane, token}) => [token, lane]));
      const {body, tokens} = batchBody(entries);
      const stall = this.#setTimeout(() => this.#log('warn', `flash_ws: a POST has waited ${this.#stallMs / 1000} s for an answer: ` +
        'the browser may be out of connections to this host (six per host over HTTP/1.1)'), this.#stallMs);
      const outcomes = await this.#post(body, tokens.length);
      this.#clearTimeout(stall);
      outcomes.forEach((outcome, index) => this.#settle(lanes.get(tokens[index]), outcome));
    }
    this.#posting = false;
  }

  /** @returns {Promise<{action: string, reason: string, code?: string, message?: string}[]>} one outcome per entry */
  async #post(body, count) {
    const every = (outcome) => Array.from({length: count}, () => outcome);
    let response;
    try {
      response = await this.#fetch(this.#urls.postsUrl, {method: 'POST', headers: {'Content-Type': 'application/json'}, body});
    } catch (error) {
      return every({action: CloseAction.RESUME, reason: `POST failed: ${error}`});
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok || !isObject(answer) || !Array.isArray(answer.answers) || answer.answers.length !== count) {
      const code = isObject(answer) && typeof answer.code === 'string' ? answer.code : null;
      const action = response.ok ? CloseAction.RESUME : httpAction('post', response.status, code);
      return every({action, reason: `POST answered ${response.status} (${code ?? response.statusText})`, code, message: answer?.message});
    }
    return answer.answers.map(({status, code = null, message = ''}) => ({
      action: httpAction('post', status, code),
      reason: `POST answered ${status} (${code}: ${message})`,
      code,
      message,
    }));
  }

  #settle(number, outcome) {
    const lane = this.#lanes.get(number);
    if (lane === undefined || outcome.action === CloseAction.ACCEPTED) return;
    if (outcome.action === CloseAction.REFUSED) {
      lane.port.postMessage({op: 'log', level: 'error', text: `flash_ws: the server refused a message (${outcome.code}): ${outcome.message}`});
    } else if (outcome.action === CloseAction.GIVE_UP) {
      this.#closeLane(number, CloseReason.REFUSED, {reason: outcome.reason, action: outcome.action});
    } else {
      // The lane's uplink is over, not the stream, which may still carry its frames (a draining
      // server that no longer listens still sends its runs' ends): as sse_transport.js does, nothing
      // more of the lane is posted, and the lane ends with the stream (or when the server ends it),
      // or after uplinkLostWaitMs (the stream may be healthy, the POST's failure a blip): then that
      // lane alone ends, to resume; the others go on.
      const lost = lane.uplinkLost = {reason: outcome.reason, action: outcome.action};
      this.#setTimeout(() => {
        if (this.#lanes.get(number) !== lane) return; // it ended meanwhile
        const seconds = this.#uplinkLostWaitMs / 1000;
        this.#closeLane(number, CloseReason.ERROR, {reason: `${lost.reason}; the event stream was still open after ${seconds} s`, action: lost.action});
      }, this.#uplinkLostWaitMs);
    }
  }

  /** Says `text` in the console of every tab (a worker's console is not the page's). */
  #log(level, text) {
    const ports = new Set([...this.#lanes.values()].map((lane) => lane.port));
    for (const port of ports) port.postMessage({op: 'log', level, text});
  }
}
