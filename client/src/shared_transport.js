// The tab side of the shared fallback: a transport whose connection is a lane of the event stream
// the SharedWorker (shared_hub.js) holds for every tab of the browser.

import {CloseAction} from './close_codes.js';
import {isObject} from './json.js';
import {SESSION_HEADER} from './sse_transport.js';
import {CloseReason, Transport} from './transport.js';

/** The tab's MessagePort to the hub; one per page, shared by the page's successive transports. */
export class HubPort {
  #port;
  #urls;
  #stallMs;
  #console;
  /** @type {Map<number, SharedTransport>} */ #transports = new Map();
  #nextId = 1;

  /**
   * @param {MessagePort} port the SharedWorker's port
   * @param {{sharedUrl: string, postsUrl: string}} urls the page config's shared_url and posts_url
   * @param {{stallMs: number, console: Pick<Console, 'info' | 'warn' | 'error'>}} options
   */
  constructor(port, urls, {stallMs, console}) {
    this.#port = port;
    this.#urls = urls;
    this.#stallMs = stallMs;
    this.#console = console;
    port.onmessage = (event) => this.#fromHub(event.data);
    port.start?.();
  }

  /** @param {SharedTransport} transport @param {object} hello @returns {number} the transport's id */
  attach(transport, hello) {
    const id = this.#nextId++;
    this.#transports.set(id, transport);
    this.#port.postMessage({op: 'open', id, hello, urls: this.#urls, stallMs: this.#stallMs});
    return id;
  }

  /** @param {number} id */
  detach(id) {
    if (this.#transports.delete(id)) this.#port.postMessage({op: 'close', id});
  }

  /** @returns {number} the transports of this page the hub carries */
  get openTransports() {
    return this.#transports.size;
  }

  /**
   * Another hub took over (a new leader tab): the transports on the old one end, and the page
   * reconnects at once, to the new one, resuming its session.
   * @param {string} reason
   */
  hubChanged(reason) {
    const transports = [...this.#transports.values()];
    this.#transports.clear();
    for (const transport of transports) transport.fromHub({op: 'close', reason: CloseReason.ERROR, detail: {reason, action: CloseAction.RESUME_NOW}});
  }

  /** @param {number} id @param {string} session the token @param {string} text one message */
  send(id, session, text) {
    this.#port.postMessage({op: 'send', id, session, text});
  }

  #fromHub(message) {
    if (!isObject(message)) return;
    if (message.op === 'log') {
      (this.#console[message.level] ?? this.#console.error)(String(message.text));
      return;
    }
    const transport = this.#transports.get(message.id);
    if (transport === undefined) return;
    if (message.op === 'close') this.#transports.delete(message.id);
    transport.fromHub(message);
  }
}

export class SharedTransport extends Transport {
  #hub;
  #postUrl;
  #fetch;
  /** @type {number | null} */ #id = null;

  /**
   * @param {HubPort} hub
   * @param {object} options
   * @param {string} options.postUrl the page config's post_url, for the page's last message
   * @param {typeof fetch} options.fetch
   */
  constructor(hub, {postUrl, fetch}) {
    super();
    this.#hub = hub;
    this.#postUrl = postUrl;
    this.#fetch = fetch;
  }

  get name() {
    return 'sse (shared)';
  }

  doOpen(hello) {
    this.#id = this.#hub.attach(this, hello);
  }

  doClose() {
    this.#hub.detach(this.#id);
  }

  /**
   * Messages go to the hub, which posts them in order with those of the other tabs. The page's last
   * message (bye) leaves from the page itself, in a request that outlives it: the worker may end
   * with the last tab.
   */
  write(text, last) {
    if (last) {
      const headers = {'Content-Type': 'application/json', [SESSION_HEADER]: this.session};
      this.#fetch(this.#postUrl, {method: 'POST', keepalive: true, headers, body: text}).catch(() => {});
    } else {
      this.#hub.send(this.#id, this.session, text);
    }
  }

  /** What the hub says about this transport's lane. @param {{op: string, text?: string, reason?: string, detail?: object}} message */
  fromHub(message) {
    if (message.op === 'open') this.emitOpen();
    else if (message.op === 'message') this.emitMessage(message.text);
    else if (message.op === 'close') this.emitClose(message.reason, message.detail ?? {});
  }
}
