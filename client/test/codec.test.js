import assert from 'node:assert/strict';
import {test} from 'node:test';

import {concatMessages, decodeMessage, encodeMessage} from '../src/codec.js';

const refusal = (code, message) => (error) => {
  assert.equal(error.code, code);
  assert.equal(error.message, message);
  return true;
};

test('a bad member is named with its frame, what was expected and what came', () => {
  assert.throws(
    () => decodeMessage('[{"t":"ping","id":1},{"t":"cancel"}]', 'client'),
    refusal('bad_frame', "frame 1: 'cancel' needs a non-negative integer 'run', got nothing"),
  );
  assert.throws(
    () => decodeMessage('[{"t":"cancel","run":true}]', 'client'),
    refusal('bad_frame', "frame 0: 'cancel' needs a non-negative integer 'run', got true"),
  );
  assert.throws(
    () => decodeMessage('[{"t":"update","seq":1,"run":1.5,"props":[]}]', 'server'),
    refusal('bad_frame', "frame 0: 'update' needs a non-negative integer 'run', got 1.5"),
  );
});

test('a frame type is known only from its sender', () => {
  assert.throws(() => decodeMessage('[{"t":"start","run":1,"cb":"x","args":[]}]', 'server'), /unknown type 'start' from the server/);
  assert.throws(() => decodeMessage('[{"t":"toString"}]', 'client'), /unknown type 'toString'/);
  assert.throws(() => decodeMessage('[{"x":1}]', 'client'), /frame 0: unknown type nothing/);
});

test('optional members may be absent or null; null ones are left out', () => {
  const [end] = decodeMessage('[{"t":"end","seq":1,"run":1,"reason":"done","error":null}]', 'server');
  assert.deepEqual(end, {t: 'end', seq: 1, run: 1, reason: 'done'});
  const [error] = decodeMessage('[{"t":"error","code":"unknown_run","message":"m","run":4,"cb":null}]', 'server');
  assert.deepEqual(error, {t: 'error', code: 'unknown_run', message: 'm', run: 4});
  assert.throws(() => decodeMessage('[{"t":"error","code":"c","message":"m","run":-1}]', 'server'), /'run'/);
});

test('unknown members inside an end error are dropped too', () => {
  const [end] = decodeMessage(
    '[{"t":"end","seq":2,"run":1,"reason":"error","error":{"code":"c","message":"m","trace":"x"}}]',
    'server',
  );
  assert.deepEqual(end.error, {code: 'c', message: 'm'});
});

test('a message over maxBytes is refused, counting UTF-8 bytes', () => {
  const ascii = encodeMessage([{t: 'ping', id: 1}]);
  assert.deepEqual(decodeMessage(ascii, 'client', {maxBytes: ascii.length}), [{t: 'ping', id: 1}]);
  assert.throws(() => decodeMessage(ascii, 'client', {maxBytes: ascii.length - 1}), refusal('too_large',
    `message of ${ascii.length} bytes exceeds the limit of ${ascii.length - 1} bytes`));
  const accented = encodeMessage([{t: 'error', code: 'c', message: 'é'.repeat(10)}]);
  const bytes = Buffer.byteLength(accented);
  assert.equal(bytes, accented.length + 10);
  assert.equal(decodeMessage(accented, 'server', {maxBytes: bytes}).length, 1);
  assert.throws(() => decodeMessage(accented, 'server', {maxBytes: bytes - 1}), /too_large|exceeds/);
});

test('an empty message is an empty list of frames', () => {
  assert.deepEqual(decodeMessage('[]', 'server'), []);
});

test('concatMessages joins the frames of several messages into one, in order', () => {
  const messages = [[{t: 'start', run: 1, cb: 'x', args: ['a,]', [2]]}], [], [{t: 'ack', seq: 3}, {t: 'pong', id: 1}]];
  const joined = concatMessages(messages.map(encodeMessage));
  assert.deepEqual(JSON.parse(joined), messages.flat());
  assert.equal(concatMessages(['[{"t":"bye"}]']), '[{"t":"bye"}]');
});
