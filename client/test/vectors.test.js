// The wire cases shared with the Python tests (tests/vectors/codec.json).

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';

import {decodeMessage, encodeMessage, ProtocolError} from '../src/codec.js';

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
