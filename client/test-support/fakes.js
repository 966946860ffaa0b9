// Test doubles, all driven by the test: a clock with timers, WebSocket and EventSource classes, fetch,
// sessionStorage and a console.

/** Timers that run only when the test advances the clock. */
export class FakeClock {
  time = 0;
  #timers = new Map();
  #nextId = 1;

  now = () => this.time;

  setTimeout = (fn, ms = 0) => {
    const id = this.#nextId++;
    this.#timers.set(id, {at: this.time + Math.max(0, ms), fn});
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** @returns {number[]} delays of the pending timers, soonest first */
  pending() {
    return [...this.#timers.values()].map(({at}) => at - this.time).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer that falls due, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, timer]) => timer.at <= end).sort(([, a], [, b]) => a.at - b.at)[0];
      if (due === undefined) break;
      const [id, timer] = due;
      this.#timers.delete(id);
      this.time = timer.at;
      timer.fn();
    }
    this.time = end;
  }
}

/** A WebSocket class whose instances the test opens, feeds and closes. */
export function fakeWebSocketClass() {
  class FakeWebSocket {
    static instances = [];
    sent = [];
    closedWith = null;

    constructor(url) {
      this.url = url;
      FakeWebSocket.instances.push(this);
    }

    send(text) {
      this.sent.push(text);
    }

    close(code) {
      this.closedWith = code;
    }

    /** @returns {object[]} every frame sent, decoded */
    frames() {
      return this.sent.flatMap((text) => JSON.parse(text));
    }

    serverOpens() {
      this.onopen?.({});
    }

    serverSends(frames) {
      this.onmessage?.({data: typeof frames === 'string' ? frames : JSON.stringify(frames)});
    }

    serverCloses(code = 1006, reason = '', wasClean = false) {
      this.onclose?.({code, reason, wasClean});
    }

    static get last() {
      return FakeWebSocket.instances.at(-1);
    }
  }
  return FakeWebSocket;
}

/** An EventSource class whose instances the test opens, feeds and fails. */
export function fakeEventSourceClass() {
  class FakeEventSource {
    static instances = [];
    closed = false;

    constructor(url) {
      this.url = url;
      FakeEventSource.instances.push(this);
    }

    close() {
      this.closed = true;
    }

    /** @returns {Record<string, string>} the query parameters of the URL (the hello) */
    query() {
      return Object.fromEntries(new URL(this.url, 'http://page.test').searchParams);
    }

    serverOpens() {
      this.onopen?.({});
    }

    serverSends(frames) {
      this.onmessage?.({data: typeof frames === 'string' ? frames : JSON.stringify(frames)});
    }

    /** The stream failed or ended (a real EventSource would then try to reconnect by itself). */
    fails() {
      this.onerror?.({});
    }

    static get last() {
      return FakeEventSource.instances.at(-1);
    }
  }
  return FakeEventSource;
}

/**
 * A fetch whose requests wait until the test answers them: respond(status, body) with body an
 * object (JSON) or a string (not JSON), or fail() as a network error does.
 */
export class FakeFetch {
  /** @type {Array<{url: string, init: RequestInit, frames: () => object[], respond: Function, fail: Function}>} */
  requests = [];

  fetch = (url, init) =>
    new Promise((resolve, reject) => {
      this.requests.push({
        url,
        init,
        frames: () => JSON.parse(init.body),
        respond: (status, body) => resolve(fakeResponse(status, body)),
        fail: () => reject(new TypeError('Failed to fetch')),
      });
    });

  get last() {
    return this.requests.at(-1);
  }
}

function fakeResponse(status, body) {
  return {
    status,
    ok: status >= 200 && status < 300,
    statusText: `status ${status}`,
    json: async () => (typeof body === 'string' ? JSON.parse(body) : body),
  };
}

/** Lets every pending promise callback run (answered requests, their handlers), without waiting on time. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A sessionStorage backed by a Map. */
export class FakeStorage {
  items = new Map();
  getItem = (key) => this.items.get(key) ?? null;
  setItem = (key, value) => this.items.set(key, String(value));
  removeItem = (key) => this.items.delete(key);
}

/** A console that records what is logged. */
export class FakeConsole {
  lines = {info: [], warn: [], error: []};
  info = (...args) => this.lines.info.push(args.join(' '));
  warn = (...args) => this.lines.warn.push(args.join(' '));
  error = (...args) => this.lines.error.push(args.join(' '));
}

/** A defer() that runs nothing until the test calls runNext(). */
export class FakeDefer {
  #queue = [];
  defer = (fn) => {
    this.#queue.push(fn);
  };

  get pending() {
    return this.#queue.length;
  }

  runNext() {
    this.#queue.shift()();
  }

  runAll() {
    while (this.#queue.length > 0) this.runNext();
  }
}
