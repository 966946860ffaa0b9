// The client side of one session, sans I/O: it never touches a socket or a timer. The caller feeds
// it server frames and page actions, carries out the effects it returns and sends what
// takeFrames() hands out.

import {PROTOCOL_VERSION} from './codec.js';

/** @typedef {import('./codec.js').Frame} Frame */
/** @typedef {{code: string, message: string}} ErrorInfo */
/**
 * What the caller must do, in order:
 * @typedef {{kind: 'welcome', resumed: boolean}} WelcomeEffect  connected: log it
 * @typedef {{kind: 'lost', run: number, cb: string, key: string, reason?: string}} LostEffect  the
 *   server lost the session and this open run with it, or (`reason` 'worker_lost') resumed the
 *   session without this run, whose worker died before Redis held it: apply the callback's reset
 *   (of instance `key`)
 * @typedef {{kind: 'apply', run: number, cb: string, props: Array<[any, object]>}} ApplyEffect  one batch
 * @typedef {{kind: 'end', run: number, cb: string, key: string, reason: string, error: ErrorInfo | null,
 *   reset: boolean}} EndEffect  the run is over; apply the callback's reset when `reset`
 * @typedef {{kind: 'error', code: string, message: string, run?: number, cb?: string}} ErrorEffect
 * @typedef {{kind: 'gap', expected: number, received: number}} GapEffect  frames were lost:
 *   reconnect to resume
 * @typedef {WelcomeEffect | LostEffect | ApplyEffect | EndEffect | ErrorEffect | GapEffect} Effect
 */

/** What the page knows of a run until its `end` arrives. */
const RunState = Object.freeze({
  RUNNING: 'running', // the active run of its callback and key
  CANCELLED: 'cancelled', // cancelled here, its reset applied already
  REPLACED: 'replaced', // superseded by a newer run of its callback and key
});

const SEQUENCED = new Set(['update', 'end', 'void']);
const RESET_ON_END = new Set(['cancelled', 'error', 'refused']);

/** A run's identity: its callback and its instance key (tests/vectors/run_identity.json). */
const identity = (cb, key) => JSON.stringify([cb, key]);

/**
 * Session token, sequence numbers and runs of one page. Runs started while no connection is
 * welcomed are queued and go out with the next welcome; one that is cancelled or replaced before
 * that is dropped from the queue and never reaches the server.
 */
export class ClientSession {
  #ackEvery;
  #ackIntervalMs;
  #ackBytes;
  /** @type {string | null} */ #token = null;
  /** @type {string | null} */ #epoch = null;
  #lastSeq = 0; // highest sequence number applied
  #ackedSeq = 0; // highest sequence number the server knows we applied
  #unackedSince = 0; // when the first frame after #ackedSeq was applied
  #unackedBytes = 0; // size of the messages that brought the frames after #ackedSeq
  /** @type {Map<number, {cb: string, key: string, args: unknown[], state: string, sent: boolean, seen: boolean}>} in run order */
  #runs = new Map();
  /** @type {Map<string, number>} identity (callback and key) -> its running run */ #active = new Map();
  #nextRun = 1;
  /** @type {Frame[]} start, cancel and pong frames not sent yet */ #outbox = [];
  #welcomed = false;

  /** @param {{ackEvery?: number, ackIntervalMs?: number, ackBytes?: number}} [options] */
  constructor({ackEvery = 64, ackIntervalMs = 3000, ackBytes = 1 << 20} = {}) {
    this.#ackEvery = ackEvery;
    this.#ackIntervalMs = ackIntervalMs;
    this.#ackBytes = ackBytes;
  }

  /** @returns {string | null} the session token, null before the first welcome */
  get token() {
    return this.#token;
  }

  /** @returns {string | null} */
  get epoch() {
    return this.#epoch;
  }

  /** @returns {number} the highest sequence number applied */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** @returns {Frame} the first frame of a connection: opens a session or resumes this one */
  hello() {
    return {t: 'hello', v: PROTOCOL_VERSION, session: this.#token, seq: this.#lastSeq};
  }

  /**
   * Adopts the session the server welcomed this connection into.
   * - Resumed: frames sent on the old connection may have been lost with it. The welcome's `run`
   *   is the highest run id the server received: starts above it are sent again (or forgotten,
   *   for runs no longer running), and cancels of runs cancelled or replaced here that have not
   *   ended are sent again (a repeated cancel is harmless). A running run above it of which a
   *   frame was applied is lost: its worker died before Redis held it (reason 'worker_lost').
   * - Not resumed: the runs the server had are lost; returns those still running (their reset is
   *   due). Starts not sent yet go to the new session.
   * @param {Frame} frame a `welcome`
   * @returns {Array<{run: number, cb: string, key: string, reason?: string}>}
   */
  onWelcome(frame) {
    const lost = [];
    /** @type {Frame[]} */
    const again = [];
    for (const [run, entry] of this.#runs) {
      if (!entry.sent) continue;
      if (frame.resumed && run <= frame.run) {
        // a replaced run is cancelled too: the start that replaced it may have been lost
        if (entry.state !== RunState.RUNNING) again.push({t: 'cancel', run});
      } else if (frame.resumed && entry.state === RunState.RUNNING && !entry.seen) {
        again.push(startFrame(run, entry));
      } else {
        this.#runs.delete(run); // the server does not have it: no end will come
        if (entry.state === RunState.RUNNING) {
          this.#active.delete(identity(entry.cb, entry.key));
          lost.push(frame.resumed ? {run, cb: entry.cb, key: entry.key, reason: 'worker_lost'} : {run, cb: entry.cb, key: entry.key});
        }
      }
    }
    // Starts not sent yet have the highest run ids: they go after those sent again.
    this.#outbox = [...again, ...this.#outbox.filter((queued) => queued.t === 'start')];
    if (!frame.resumed) this.#lastSeq = frame.seq;
    this.#token = frame.session;
    this.#epoch = frame.epoch;
    this.#ackedSeq = this.#lastSeq; // the hello told the server
    this.#unackedBytes = 0;
    this.#welcomed = true;
    return lost;
  }

  /** The connection is gone: queue frames until the next welcome. */
  onDisconnect() {
    this.#welcomed = false;
    this.#outbox = this.#outbox.filter((queued) => queued.t !== 'pong');
  }

  /**
   * Starts a run of `cb`'s instance `key` (a MATCH callback's matched values; '' otherwise); the
   * running run of the same callback and key, if any, is replaced: its later frames are ignored.
   * @param {string} cb
   * @param {unknown[]} args
   * @param {string} [key]
   * @returns {{run: number, replaced: number | null}}
   */
  start(cb, args, key = '') {
    const replaced = this.#active.get(identity(cb, key)) ?? null;
    if (replaced !== null) this.#retire(replaced, RunState.REPLACED);
    const run = this.#nextRun++;
    const entry = {cb, key, args, state: RunState.RUNNING, sent: false, seen: false};
    this.#runs.set(run, entry);
    this.#active.set(identity(cb, key), run);
    this.#outbox.push(startFrame(run, entry));
    return {run, replaced};
  }

  /**
   * Cancels the running runs of `cb`: of its instance `key`, or of every instance when `key` is
   * null. Their later frames are ignored; the caller applies their resets.
   * @param {string} cb @param {string | null} [key]
   * @returns {Array<{run: number, key: string}>} the runs cancelled
   */
  cancel(cb, key = null) {
    const cancelled = [];
    for (const [run, entry] of this.#runs) {
      if (entry.state !== RunState.RUNNING || entry.cb !== cb || (key !== null && entry.key !== key)) continue;
      this.cancelRun(run);
      cancelled.push({run, key: entry.key});
    }
    return cancelled;
  }

  /**
   * Cancels `run` if it is running: its later frames are ignored. The caller applies the reset.
   * @param {number} run
   * @returns {boolean} whether it was running
   */
  cancelRun(run) {
    if (this.#runs.get(run)?.state !== RunState.RUNNING) return false;
    if (this.#retire(run, RunState.CANCELLED)) this.#outbox.push({t: 'cancel', run});
    return true;
  }

  /**
   * Ends `run` as the running run of its callback and key. Returns whether the server knows of it:
   * a run whose start is still queued is forgotten with its start frame.
   */
  #retire(run, state) {
    const entry = this.#runs.get(run);
    this.#active.delete(identity(entry.cb, entry.key));
    if (entry.sent) {
      entry.state = state;
      return true;
    }
    this.#runs.delete(run);
    this.#outbox = this.#outbox.filter((queued) => !(queued.t === 'start' && queued.run === run));
    return false;
  }

  /** @returns {Array<{run: number, cb: string, key: string}>} the running runs, in run order */
  running() {
    return [...this.#runs]
      .filter(([, entry]) => entry.state === RunState.RUNNING)
      .map(([run, entry]) => ({run, cb: entry.cb, key: entry.key}));
  }

  /**
   * Forgets every run and queued frame, for a client that gives up.
   * @returns {Array<{run: number, cb: string, key: string}>} the runs that were running (their reset is due)
   */
  abandon() {
    const running = this.running();
    this.#runs.clear();
    this.#active.clear();
    this.#outbox = [];
    return running;
  }

  /**
   * Forgets the session itself, as ``abandon()`` forgets its runs: the server cannot have it any
   * more, and the next hello opens a new one.
   * @returns {Array<{run: number, cb: string, key: string}>} the runs that were running (their reset is due)
   */
  expire() {
    const running = this.abandon();
    this.#token = null;
    this.#epoch = null;
    this.#lastSeq = 0;
    this.#ackedSeq = 0;
    this.#unackedBytes = 0;
    return running;
  }

  /**
   * Processes the frames of one server message.
   * @param {Frame[]} frames decoded server frames
   * @param {number} now milliseconds, on the clock of ackFrame()
   * @param {number} [size] the message's length (what counts towards `ackBytes`)
   * @returns {Effect[]}
   */
  receive(frames, now, size = 0) {
    /** @type {Effect[]} */
    const effects = [];
    const applied = this.#lastSeq;
    for (const frame of frames) {
      if (SEQUENCED.has(frame.t)) {
        if (frame.seq <= this.#lastSeq) continue; // a duplicate: applied already
        // a void frame declares the numbers it skips (docs/protocol.md, "Frames sent before Redis holds them")
        if (frame.seq !== this.#lastSeq + 1 && !(frame.t === 'void' && frame.from <= this.#lastSeq + 1)) {
          effects.push({kind: 'gap', expected: this.#lastSeq + 1, received: frame.seq});
          break; // nothing after a gap can be applied in order
        }
        if (this.#lastSeq === this.#ackedSeq) this.#unackedSince = now;
        this.#lastSeq = frame.seq;
      }
      this.#dispatch(frame, effects);
    }
    if (this.#lastSeq > applied) this.#unackedBytes += size;
    return effects;
  }

  #dispatch(frame, effects) {
    switch (frame.t) {
      case 'welcome':
        effects.push({kind: 'welcome', resumed: frame.resumed});
        for (const lost of this.onWelcome(frame)) effects.push({kind: 'lost', ...lost});
        break;
      case 'update':
        if (this.#runs.get(frame.run)?.state === RunState.RUNNING) {
          const entry = this.#runs.get(frame.run);
          entry.seen = true;
          effects.push({kind: 'apply', run: frame.run, cb: entry.cb, props: frame.props});
        }
        break;
      case 'end': {
        const entry = this.#runs.get(frame.run);
        if (entry === undefined) break;
        this.#runs.delete(frame.run);
        const running = entry.state === RunState.RUNNING;
        if (running) this.#active.delete(identity(entry.cb, entry.key));
        const reset = running && RESET_ON_END.has(frame.reason);
        effects.push({kind: 'end', run: frame.run, cb: entry.cb, key: entry.key, reason: frame.reason,
          error: frame.error ?? null, reset});
        break;
      }
      case 'error': {
        const {t, ...error} = frame;
        effects.push({kind: 'error', ...error});
        break;
      }
      case 'ping':
        this.#outbox.push({t: 'pong', id: frame.id});
        break;
      // a 'pong' answers no ping of ours yet
    }
  }

  /**
   * Frames to send now: queued starts and cancels, pongs and an ack when due. Empty while no
   * connection is welcomed.
   * @param {number} now milliseconds
   * @returns {Frame[]}
   */
  takeFrames(now) {
    if (!this.#welcomed) return [];
    const frames = this.#outbox;
    this.#outbox = [];
    for (const frame of frames) {
      if (frame.t === 'start') this.#runs.get(frame.run).sent = true;
    }
    const ack = this.ackFrame(now);
    if (ack !== null) frames.push(ack);
    return frames;
  }

  /**
   * An ack of every applied frame when one is due (tests/vectors/acks.json): `ackEvery` frames
   * or `ackBytes` of messages are unacknowledged, or the first of them was applied `ackIntervalMs` ago.
   * @param {number} now milliseconds
   * @returns {Frame | null}
   */
  ackFrame(now) {
    const unacked = this.#lastSeq - this.#ackedSeq;
    if (!this.#welcomed || unacked === 0) return null;
    const due = unacked >= this.#ackEvery || this.#unackedBytes >= this.#ackBytes ||
      now - this.#unackedSince >= this.#ackIntervalMs;
    if (!due) return null;
    this.#ackedSeq = this.#lastSeq;
    this.#unackedBytes = 0;
    return {t: 'ack', seq: this.#lastSeq};
  }

  /** @returns {number | null} when an ack falls due by time (come back then), null if none will */
  pendingAckDeadline() {
    if (!this.#welcomed || this.#lastSeq === this.#ackedSeq) return null;
    return this.#unackedSince + this.#ackIntervalMs;
  }
}

/** The start frame of `run` (its key only when it has one). */
function startFrame(run, {cb, args, key}) {
  return key === '' ? {t: 'start', run, cb, args} : {t: 'start', run, cb, args, key};
}
