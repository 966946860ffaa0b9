// The cases shared with the Python tests: the wire format (tests/vectors/codec.json) and what a
// client sends again after a welcome (tests/vectors/resume.json) and when it acknowledges
// (tests/vectors/acks.json), and how it applies void frames (tests/vectors/sequencing.json).

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {decodeMessage, encodeMessage, ProtocolError} from '../src/codec.js';
import {ClientSession} from '../src/session.js';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/codec.json', import.meta.url), 'utf8'));

describe('valid vectors', () => {
  for (const vector of vectors.valid) {
    test(vector.name, () => {
      const frames = decodeMessage(vector.wire, vector.from);
      assert.deepEqual(frames, vector.frames);
      assert.deepEqual(decodeMessage(encodeMessage(frames), vector.from), vector.frames);
      if (JSON.stringify(JSON.parse(vector.wire)) === JSON.stringify(vector.frames)) {
        // nothing was dropped: the same text comes back, members in the same order
        assert.equal(encodeMessage(frames), vector.wire);
      }
    });
  }
});

describe('invalid vectors', () => {
  for (const vector of vectors.invalid) {
    test(vector.name, () => {
      assert.throws(
        () => decodeMessage(vector.wire, vector.from),
        (error) => {
          assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error}`);
          assert.equal(error.code, vector.code);
          assert.ok(error.message.includes(vector.message_contains), `'${error.message}' lacks '${vector.message_contains}'`);
          if (vector.message_lacks !== undefined) assert.ok(!error.message.includes(vector.message_lacks), 'client input echoed');
          return true;
        },
      );
    });
  }
});

test('the vectors cover both senders and both outcomes', () => {
  for (const kind of ['valid', 'invalid']) {
    assert.deepEqual(new Set(vectors[kind].map((vector) => vector.from)), new Set(['client', 'server']));
  }
});

const resume = JSON.parse(readFileSync(new URL('../../tests/vectors/resume.json', import.meta.url), 'utf8'));
const welcomeFrame = ({resumed, run, seq}) =>
  ({t: 'welcome', v: 1, session: resumed ? 'tok' : 'tok2', epoch: 'ep', resumed, seq, run});

/** A session holding the case's runs, disconnected (see the vector file's "about"). */
function sessionWithRuns(vector) {
  const session = new ClientSession();
  let connected = !vector.before_any_welcome;
  if (connected) session.receive([welcomeFrame({resumed: false, run: 0, seq: 0})], 0);
  for (const entry of vector.runs) {
    if (!entry.sent && connected) {
      session.onDisconnect();
      connected = false;
    }
    assert.equal(session.start(entry.cb, entry.args).run, entry.run, 'runs are numbered from 1 in the order listed');
    session.takeFrames(0); // hands the start to the connection, when one is welcomed
    if (entry.applied) {
      const update = {t: 'update', seq: session.lastSeq + 1, run: entry.run, props: [['out', {children: 0}]]};
      assert.deepEqual(session.receive([update], 0).map(({kind}) => kind), ['apply'], "the case's frame is applied");
    }
    if (entry.state === 'cancelled') assert.deepEqual(session.cancel(entry.cb).map(({run}) => run), [entry.run]);
    session.takeFrames(0);
  }
  session.onDisconnect();
  return session;
}

describe('resume vectors', () => {
  for (const vector of resume.cases) {
    test(vector.name, () => {
      const session = sessionWithRuns(vector);
      const effects = session.receive([welcomeFrame(vector.welcome)], 0);
      assert.deepEqual(session.takeFrames(0), vector.sent_again);
      assert.deepEqual(effects.filter((effect) => effect.kind === 'lost').map((effect) => effect.run), vector.lost);
    });
  }
});

const identity = JSON.parse(readFileSync(new URL('../../tests/vectors/run_identity.json', import.meta.url), 'utf8'));

describe('run identity vectors', () => {
  for (const vector of identity.cases) {
    test(vector.name, () => {
      const session = new ClientSession();
      session.receive([welcomeFrame({resumed: false, run: 0, seq: 0})], 0);
      const replaced = [];
      const cancelled = [];
      for (const op of vector.ops) {
        if (op.start !== undefined) {
          const started = session.start(op.start, [], op.key);
          if (started.replaced !== null) replaced.push([started.run, started.replaced]);
        } else {
          cancelled.push(...session.cancel(op.cancel, op.key).map(({run}) => run));
        }
      }
      assert.deepEqual(replaced, vector.replaced);
      assert.deepEqual(cancelled, vector.cancelled);
      assert.deepEqual(session.running().map(({run}) => run), vector.active);
      const keys = new Map(vector.ops.filter((op) => op.start !== undefined).map((op, index) => [index + 1, op.key]));
      for (const frame of session.takeFrames(0).filter((queued) => queued.t === 'start')) {
        assert.equal(frame.key ?? '', keys.get(frame.run), 'a start carries its key (none when empty)');
      }
    });
  }
});

const acks = JSON.parse(readFileSync(new URL('../../tests/vectors/acks.json', import.meta.url), 'utf8'));

describe('ack vectors', () => {
  for (const vector of acks.cases) {
    test(vector.name, () => {
      const session = new ClientSession({
        ackEvery: vector.ack_every, ackIntervalMs: vector.ack_interval_ms, ackBytes: vector.ack_bytes,
      });
      session.receive([welcomeFrame({resumed: false, run: 0, seq: 0})], 0);
      const {run} = session.start('a', []);
      session.takeFrames(0);
      for (const step of vector.steps) {
        let ack;
        if (step.seqs) {
          const text = encodeMessage(step.seqs.map((seq) => ({t: 'update', seq, run, props: [['out', {k: seq}]]})));
          assert.ok(text.length <= step.size, `the case's size ${step.size} is below the message's own ${text.length}`);
          const padded = text + ' '.repeat(step.size - text.length);
          session.receive(decodeMessage(padded, 'server'), step.at, padded.length);
          ack = session.takeFrames(step.at).find((frame) => frame.t === 'ack');
        } else if (step.resume) {
          session.onDisconnect();
          session.receive([welcomeFrame({resumed: true, run, seq: session.lastSeq})], step.at);
          ack = session.takeFrames(step.at).find((frame) => frame.t === 'ack');
        } else {
          ack = session.ackFrame(step.at) ?? undefined;
        }
        assert.deepEqual(ack?.seq ?? null, step.ack, JSON.stringify(step));
      }
    });
  }
});

const sequencing = JSON.parse(readFileSync(new URL('../../tests/vectors/sequencing.json', import.meta.url), 'utf8'));

describe('sequencing vectors', () => {
  for (const vector of sequencing.cases) {
    test(vector.name, () => {
      const session = new ClientSession();
      session.receive([welcomeFrame({resumed: false, run: 0, seq: vector.applied})], 0);
      session.start('a', []);
      const effects = session.receive(decodeMessage(JSON.stringify(vector.message), 'server'), 0);
      const gaps = effects.filter((effect) => effect.kind === 'gap').map(({expected, received}) => ({expected, received}));
      assert.equal(session.lastSeq, vector.applied_after);
      assert.deepEqual(gaps, vector.gap === null ? [] : [vector.gap]);
    });
  }
});
