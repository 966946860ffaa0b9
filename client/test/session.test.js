import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {ClientSession} from '../src/session.js';

const welcome = (over = {}) => ({t: 'welcome', v: 1, session: 'tok', epoch: 'e1', resumed: false, seq: 0, run: 0, ...over});
const update = (seq, run, props = [['out', {children: seq}]]) => ({t: 'update', seq, run, props});
const end = (seq, run, reason, error) => ({t: 'end', seq, run, reason, ...(error ? {error} : {})});

/** A session welcomed into a new session, with the given callbacks started and sent. */
function connected(...cbs) {
  const session = new ClientSession();
  session.receive([welcome()], 0);
  const runs = cbs.map((cb) => session.start(cb, [cb]).run);
  session.takeFrames(0);
  return {session, runs};
}

describe('handshake', () => {
  test('hello opens a new session, then resumes it with the token and the last applied seq', () => {
    const session = new ClientSession();
    assert.deepEqual(session.hello(), {t: 'hello', v: 1, session: null, seq: 0});
    session.receive([welcome({session: 'abc'})], 0);
    const run = session.start('cb', []).run;
    session.takeFrames(0);
    session.receive([update(1, run), update(2, run)], 0);
    session.onDisconnect();
    assert.deepEqual(session.hello(), {t: 'hello', v: 1, session: 'abc', seq: 2});
    assert.equal(session.epoch, 'e1');
  });

  test('starts wait for the welcome, then go out in order', () => {
    const session = new ClientSession();
    session.start('a', [1]);
    session.start('b', [2]);
    assert.deepEqual(session.takeFrames(0), []);
    session.receive([welcome()], 0);
    assert.deepEqual(session.takeFrames(0), [
      {t: 'start', run: 1, cb: 'a', args: [1]},
      {t: 'start', run: 2, cb: 'b', args: [2]},
    ]);
    assert.deepEqual(session.takeFrames(0), []);
  });

  test('a run cancelled or replaced before it was sent never reaches the server', () => {
    const session = new ClientSession();
    session.start('a', [1]);
    assert.deepEqual(session.cancel('a'), [{run: 1, key: ''}]);
    const {run, replaced} = session.start('b', ['old']);
    assert.deepEqual(session.start('b', ['new']), {run: run + 1, replaced: run});
    session.receive([welcome()], 0);
    assert.deepEqual(session.takeFrames(0), [{t: 'start', run: 3, cb: 'b', args: ['new']}]);
    assert.equal(replaced, null);
  });
});

describe('sequenced frames', () => {
  test('each is applied once: duplicates are dropped', () => {
    const {session, runs: [run]} = connected('cb');
    const frames = [update(1, run), update(2, run)];
    assert.deepEqual(
      session.receive(frames, 0).map((effect) => effect.kind),
      ['apply', 'apply'],
    );
    assert.deepEqual(session.receive([...frames, update(3, run)], 0), [
      {kind: 'apply', run, cb: 'cb', props: [['out', {children: 3}]]},
    ]);
    assert.equal(session.lastSeq, 3);
  });

  test('a gap is reported and nothing after it is applied', () => {
    const {session, runs: [run]} = connected('cb');
    const effects = session.receive([update(1, run), update(3, run), update(4, run)], 0);
    assert.deepEqual(effects.map((effect) => effect.kind), ['apply', 'gap']);
    assert.deepEqual(effects[1], {kind: 'gap', expected: 2, received: 3});
    assert.equal(session.lastSeq, 1);
  });

  test('updates of a replaced run are ignored but advance seq; its end resets nothing', () => {
    const {session, runs: [first]} = connected('cb');
    const {run: second, replaced} = session.start('cb', []);
    assert.equal(replaced, first);
    assert.deepEqual(session.takeFrames(0), [{t: 'start', run: second, cb: 'cb', args: []}]);
    const effects = session.receive([update(1, first), end(2, first, 'replaced'), update(3, second)], 0);
    assert.deepEqual(effects, [
      {kind: 'end', run: first, cb: 'cb', key: '', reason: 'replaced', error: null, reset: false},
      {kind: 'apply', run: second, cb: 'cb', props: [['out', {children: 3}]]},
    ]);
    assert.equal(session.lastSeq, 3);
  });

  test('a run cancelled here ignores its updates; its end, even an error, resets nothing again', () => {
    const {session, runs: [a, b]} = connected('a', 'b');
    assert.deepEqual(session.cancel('a'), [{run: a, key: ''}]);
    assert.deepEqual(session.cancel('a'), []);
    assert.deepEqual(session.cancel('b'), [{run: b, key: ''}]);
    assert.deepEqual(session.takeFrames(0), [{t: 'cancel', run: a}, {t: 'cancel', run: b}]);
    const boom = {code: 'callback_error', message: 'ValueError: boom'};
    const effects = session.receive([update(1, a), end(2, a, 'cancelled'), end(3, b, 'error', boom)], 0);
    assert.deepEqual(effects, [
      {kind: 'end', run: a, cb: 'a', key: '', reason: 'cancelled', error: null, reset: false},
      {kind: 'end', run: b, cb: 'b', key: '', reason: 'error', error: boom, reset: false},
    ]);
  });

  test('the end of a running run asks for the reset on cancelled, error and refused only', () => {
    const reasons = ['done', 'cancelled', 'replaced', 'error', 'refused'];
    const {session, runs} = connected(...reasons);
    const effects = session.receive(runs.map((run, i) => end(i + 1, run, reasons[i])), 0);
    assert.deepEqual(
      effects.map(({reason, reset}) => [reason, reset]),
      [['done', false], ['cancelled', true], ['replaced', false], ['error', true], ['refused', true]],
    );
    assert.deepEqual(session.cancel('error'), [], 'an ended run is no longer active');
  });

  test('frames of unknown runs are dropped; error frames become effects', () => {
    const {session} = connected();
    const effects = session.receive(
      [update(1, 99), end(2, 99, 'done'), {t: 'error', code: 'bad_frame', message: 'm', run: 4}],
      0,
    );
    assert.deepEqual(effects, [{kind: 'error', code: 'bad_frame', message: 'm', run: 4}]);
    assert.equal(session.lastSeq, 2);
  });

  test('a server ping is answered with a pong, on the welcomed connection only', () => {
    const {session} = connected();
    session.receive([{t: 'ping', id: 7}], 0);
    assert.deepEqual(session.takeFrames(0), [{t: 'pong', id: 7}]);
    session.receive([{t: 'ping', id: 8}], 0);
    session.onDisconnect();
    session.receive([welcome({resumed: true})], 0);
    assert.deepEqual(session.takeFrames(0), []);
  });
});

describe('acks', () => {
  test('are batched: one per 64 frames', () => {
    const {session, runs: [run]} = connected('cb');
    const frames = Array.from({length: 64}, (_, i) => update(i + 1, run));
    session.receive(frames.slice(0, 63), 0);
    assert.equal(session.ackFrame(50), null);
    session.receive(frames.slice(63), 50);
    assert.deepEqual(session.ackFrame(50), {t: 'ack', seq: 64});
    assert.equal(session.ackFrame(50), null);
    assert.equal(session.pendingAckDeadline(), null);
  });

  test('or three seconds (the default) after the first unacknowledged frame', () => {
    const {session, runs: [run]} = connected('cb');
    session.receive([update(1, run)], 1000);
    session.receive([update(2, run)], 1600);
    assert.equal(session.pendingAckDeadline(), 4000);
    assert.deepEqual(session.takeFrames(3999), []);
    assert.deepEqual(session.takeFrames(4000), [{t: 'ack', seq: 2}]);
    session.receive([update(3, run)], 4150);
    assert.equal(session.pendingAckDeadline(), 7150, 'the next window starts at the next frame');
  });

  test('the options set the policy', () => {
    const session = new ClientSession({ackEvery: 2, ackIntervalMs: 10});
    session.receive([welcome()], 0);
    const {run} = session.start('cb', []);
    session.takeFrames(0);
    session.receive([update(1, run)], 0);
    assert.equal(session.pendingAckDeadline(), 10);
    session.receive([update(2, run)], 0);
    assert.deepEqual(session.ackFrame(0), {t: 'ack', seq: 2});
  });

  test('a resume hello acknowledges: no ack is due after the welcome', () => {
    const {session, runs: [run]} = connected('cb');
    session.receive([update(1, run)], 0);
    session.onDisconnect();
    assert.equal(session.ackFrame(500), null, 'no ack without a connection');
    assert.equal(session.pendingAckDeadline(), null);
    session.receive([welcome({resumed: true, seq: 1, run})], 600);
    assert.equal(session.ackFrame(1000), null);
  });
});

describe('resume', () => {
  test('after a resume, starts the server missed and cancels not ended are sent again', () => {
    const session = new ClientSession();
    session.receive([welcome()], 0);
    const kept = session.start('kept', ['k']).run; // 1: the server got it
    const cancelled = session.start('cancelled', []).run; // 2: the server got it, our cancel is unanswered
    const missed = session.start('missed', ['m']).run; // 3: lost with the connection
    const missedCancelled = session.start('gone', []).run; // 4: lost, then cancelled here
    session.takeFrames(0);
    session.cancel('cancelled');
    session.cancel('gone');
    session.takeFrames(0);
    session.onDisconnect();
    session.start('later', ['l']); // 5: queued while disconnected
    session.receive([welcome({resumed: true, run: cancelled})], 0);
    assert.deepEqual(session.takeFrames(0), [
      {t: 'cancel', run: cancelled},
      {t: 'start', run: missed, cb: 'missed', args: ['m']},
      {t: 'start', run: 5, cb: 'later', args: ['l']},
    ]);
    const effects = session.receive([update(1, kept), update(2, missedCancelled), end(3, missedCancelled, 'done')], 0);
    assert.deepEqual(effects.map((effect) => [effect.kind, effect.run]), [['apply', kept]]);
  });

  test('after a resume, a replaced run the server got is cancelled when its replacement was lost', () => {
    const session = new ClientSession();
    session.receive([welcome()], 0);
    const first = session.start('load', [1]).run; // the server got it
    session.takeFrames(0);
    const second = session.start('load', [2]).run; // replaces it; lost with the connection...
    session.cancel('load'); // ...and cancelled here before it went anywhere
    session.takeFrames(0);
    session.onDisconnect();
    session.receive([welcome({resumed: true, run: first})], 0);
    assert.deepEqual(session.takeFrames(0), [{t: 'cancel', run: first}], 'otherwise the first run streams on forever');
    assert.ok(second > first);
  });

  test('a new session loses the open runs: running ones are reported, queued starts go on', () => {
    const {session, runs: [a, , c]} = connected('a', 'b', 'c');
    session.receive([update(1, a)], 0);
    session.cancel('b');
    session.start('c', []); // replaces c
    session.onDisconnect();
    session.start('d', ['d']);
    const effects = session.receive([welcome({session: 'new', epoch: 'e2', seq: 0})], 0);
    assert.deepEqual(effects, [
      {kind: 'welcome', resumed: false},
      {kind: 'lost', run: a, cb: 'a', key: ''},
    ]);
    assert.equal(session.token, 'new');
    assert.equal(session.lastSeq, 0);
    assert.deepEqual(session.hello(), {t: 'hello', v: 1, session: 'new', seq: 0});
    assert.deepEqual(session.takeFrames(0), [
      {t: 'start', run: c + 1, cb: 'c', args: []},
      {t: 'start', run: c + 2, cb: 'd', args: ['d']},
    ]);
    assert.deepEqual(session.cancel('a'), [], 'a lost run is not active');
  });

  test('abandon forgets everything and returns the running runs', () => {
    const {session, runs: [a]} = connected('a', 'b');
    session.cancel('b');
    session.onDisconnect();
    session.start('c', []);
    assert.deepEqual(session.abandon(), [{run: a, cb: 'a', key: ''}, {run: 3, cb: 'c', key: ''}]);
    session.receive([welcome({resumed: true, run: 3})], 0);
    assert.deepEqual(session.takeFrames(0), []);
  });
});
