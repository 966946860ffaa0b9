// Test doubles: a clock with timers, a WebSocket class and a console, all driven by the test.

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
