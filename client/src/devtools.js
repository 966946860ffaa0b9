// The dev-tools view (Dash debug mode only): what this page's flash_ws connection is doing. The
// page's transports are watched from outside (watchTransport); DevtoolsStats reads the frames that
// pass and keeps the figures; a React component in Dash's debug menu shows them.

const DEVTOOLS_PING_BASE = 1 << 30; // ids of the view's own pings (the client's session ignores pongs)
const DEVTOOLS_PING_MS = 2000;
const KEPT_ENDED_RUNS = 5;

/**
 * What the page's transports carried: the transport in use, reconnects and replays, the round-trip
 * time of the view's pings, and the active runs with their update counts. Pure: fed by watchTransport.
 */
export class DevtoolsStats {
  transport = null;
  connections = 0;
  resumes = 0;
  replayed = 0;
  rttMs = null;
  /** @type {Map<number, {cb: string, name: string, updates: number}>} */
  runs = new Map();
  /** @type {{name: string, reason: string, updates: number}[]} */
  ended = [];
  #names;
  #now;
  #helloSeq = 0;
  #lastSeq = 0;
  #acked = 0;
  #nextPing = DEVTOOLS_PING_BASE;
  /** @type {Map<number, number>} ping id -> when it was sent */
  #pings = new Map();

  /** @param {{names?: Record<string, {name?: string}>, now: () => number}} options */
  constructor({names = {}, now}) {
    this.#names = names;
    this.#now = now;
  }

  /** A transport opens with `hello` (it resumes after hello.seq, or starts afresh). */
  opening(hello) {
    this.#helloSeq = hello.seq ?? 0;
  }

  /** @param {string} name the transport @param {string} text a message from the server */
  received(name, text) {
    for (const frame of framesOf(text)) {
      if (frame.t === 'welcome') this.#welcome(name, frame);
      else if (frame.t === 'update') this.#update(frame);
      else if (frame.t === 'end') this.#end(frame);
      else if (frame.t === 'pong' && this.#pings.has(frame.id)) {
        this.rttMs = this.#now() - this.#pings.get(frame.id);
        this.#pings.delete(frame.id);
      }
    }
  }

  /** @param {string} text a message the page sends */
  sent(text) {
    for (const frame of framesOf(text)) {
      if (frame.t === 'start') {
        this.runs.set(frame.run, {cb: frame.cb, name: this.#names[frame.cb]?.name ?? frame.cb, updates: 0});
      } else if (frame.t === 'ack') {
        this.#acked = Math.max(this.#acked, frame.seq);
      }
    }
  }

  /** The message of the view's next ping (its time is kept until the pong). */
  ping() {
    const id = this.#nextPing++;
    this.#pings.clear(); // an unanswered older ping is moot
    this.#pings.set(id, this.#now());
    return JSON.stringify([{t: 'ping', id}]);
  }

  /** Frames received but not yet acknowledged: how far the page is behind (the server makes its
   * generators wait once the unacknowledged output fills its replay buffer). */
  get unacknowledged() {
    return Math.max(0, this.#lastSeq - this.#acked);
  }

  #welcome(name, frame) {
    this.transport = name;
    this.connections += 1;
    if (frame.resumed) {
      this.resumes += 1;
      this.replayed += Math.max(0, frame.seq - this.#helloSeq);
    } else {
      this.runs.clear(); // a new session: the runs of the old one are gone
      this.#lastSeq = 0;
      this.#acked = 0;
    }
  }

  #update(frame) {
    this.#lastSeq = Math.max(this.#lastSeq, frame.seq);
    const run = this.runs.get(frame.run);
    if (run !== undefined) run.updates += 1;
  }

  #end(frame) {
    this.#lastSeq = Math.max(this.#lastSeq, frame.seq);
    const run = this.runs.get(frame.run);
    if (run === undefined) return;
    this.runs.delete(frame.run);
    const reason = frame.error ? `${frame.reason}: ${frame.error.code}` : frame.reason;
    this.ended = [{name: run.name, reason, updates: run.updates}, ...this.ended].slice(0, KEPT_ENDED_RUNS);
  }
}

/** @returns {any[]} the frames of a message (none when it is not a JSON array of frames) */
function framesOf(text) {
  try {
    const frames = JSON.parse(text);
    return Array.isArray(frames) ? frames : [];
  } catch {
    return [];
  }
}

/**
 * Lets `stats` see what `transport` carries (without changing it) and keeps it as the transport
 * the view pings through. @returns the same transport
 */
export function watchTransport(transport, name, stats, watched) {
  const open = transport.open.bind(transport);
  const emitMessage = transport.emitMessage.bind(transport);
  const send = transport.send.bind(transport);
  transport.open = (hello) => {
    stats.opening(hello);
    watched.current = transport;
    open(hello);
  };
  transport.emitMessage = (text) => {
    stats.received(name, text);
    emitMessage(text);
  };
  transport.send = (text, options) => {
    stats.sent(text);
    send(text, options);
  };
  return transport;
}

/**
 * window.flash_ws_devtools.FlashWsDevtools: the component Dash's debug menu renders (see
 * flash_ws/devtools.py). It pings through the watched transport every 2 s while it is shown.
 */
export function installDevtoolsView(window, stats, watched, client) {
  const React = window.React;
  if (React === undefined) return;
  const h = React.createElement;
  function FlashWsDevtools() {
    const [, setTick] = React.useState(0);
    const [open, setOpen] = React.useState(false);
    React.useEffect(() => {
      const timer = window.setInterval(() => {
        const transport = watched.current;
        if (transport && transport.state === 'open' && stats.transport !== null) {
          try {
            transport.send(stats.ping());
          } catch {
            // closing meanwhile: the next tick pings the next connection
          }
        }
        setTick((n) => n + 1);
      }, DEVTOOLS_PING_MS);
      return () => window.clearInterval(timer);
    }, []);
    const rtt = stats.rttMs === null ? '' : ` · ${Math.round(stats.rttMs)} ms`;
    const summary = `flash_ws: ${stats.transport ?? 'connecting'}${rtt} · ${stats.runs.size} running`;
    return h(
      'div',
      {style: {position: 'relative', display: 'inline-block'}},
      h('button', {id: 'flash-ws-devtools-button', className: 'dash-debug-menu__button', onClick: () => setOpen(!open)}, summary),
      open ? h('div', {id: 'flash-ws-devtools-panel', style: PANEL_STYLE}, ...panelRows(h, stats, client())) : null,
    );
  }
  window.flash_ws_devtools = {FlashWsDevtools};
}

const PANEL_STYLE = {
  position: 'absolute', bottom: '110%', right: 0, minWidth: '22em', padding: '8px 12px', background: '#fff',
  border: '1px solid #ccc', borderRadius: '4px', boxShadow: '0 2px 8px rgba(0,0,0,.15)', fontSize: '12px',
  textAlign: 'left', whiteSpace: 'nowrap', zIndex: 1000,
};

function panelRows(h, stats, client) {
  const why = client?.transportChoice?.why ?? '';
  const line = (label, value) => h('div', {key: label}, h('b', null, `${label}: `), String(value));
  const runs = [...stats.runs.values()].map((run, i) =>
    h('li', {key: `run-${i}`, className: 'flash-ws-devtools-run'}, `${run.name}: ${run.updates} updates`));
  const ended = stats.ended.map((run, i) =>
    h('li', {key: `ended-${i}`}, `${run.name}: ${run.reason} after ${run.updates} updates`));
  return [
    line('transport', `${stats.transport ?? 'connecting'}${why ? ` (${why})` : ''}`),
    line('round trip', stats.rttMs === null ? 'measuring…' : `${stats.rttMs.toFixed(1)} ms`),
    line('connections', `${stats.connections} (${stats.resumes} resumed, ${stats.replayed} frames replayed)`),
    line('backpressure', stats.unacknowledged > 0 ? `${stats.unacknowledged} frames not yet acknowledged` : 'none'),
    h('div', {key: 'runs'}, h('b', null, `active runs (${stats.runs.size})`), h('ul', {style: {margin: 0}}, ...runs)),
    stats.ended.length ? h('div', {key: 'ended'}, h('b', null, 'recently ended'), h('ul', {style: {margin: 0}}, ...ended)) : null,
  ];
}
