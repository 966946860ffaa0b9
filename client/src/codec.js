// Messages on the wire: a message is a JSON array of frames (docs/protocol.md).

import {isObject} from './json.js';

/** @typedef {'client' | 'server'} Sender */
/** @typedef {{t: string, [member: string]: any}} Frame */

/** A message or frame that the protocol refuses; `code` is the wire error code. */
export class ProtocolError extends Error {
  /**
   * @param {string} code e.g. "bad_frame" or "too_large"
   * @param {string} message what was expected and what came
   */
  constructor(code, message) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export const PROTOCOL_VERSION = 1;

/** Characters (code points) of a start's `cb` at most: longer ids are refused, never echoed. */
export const MAX_CALLBACK_ID = 256;
/** Characters (code points) of a start's `key` (a MATCH instance's values) at most. */
export const MAX_RUN_KEY = 1024;

const END_REASONS = Object.freeze(['done', 'cancelled', 'replaced', 'error', 'refused']);

const isUint = (v) => Number.isSafeInteger(v) && v >= 0;
const isPropsPair = (p) =>
  Array.isArray(p) && p.length === 2 && (typeof p[0] === 'string' || isObject(p[0])) && isObject(p[1]);

/** Member kinds: a check and what the error message says was expected. */
const KINDS = {
  uint: [isUint, 'a non-negative integer'],
  str: [(v) => typeof v === 'string', 'a string'],
  strOrNull: [(v) => v === null || typeof v === 'string', 'a string or null'],
  bool: [(v) => typeof v === 'boolean', 'a boolean'],
  list: [Array.isArray, 'an array'],
  props: [(v) => Array.isArray(v) && v.every(isPropsPair), 'an array of [id, props] pairs'],
  reason: [(v) => END_REASONS.includes(v), `one of ${END_REASONS.join(', ')}`],
  runKey: [(v) => typeof v === 'string' && codePoints(v) <= MAX_RUN_KEY, `a string of at most ${MAX_RUN_KEY} characters`],
  errorInfo: [
    (v) => isObject(v) && typeof v.code === 'string' && typeof v.message === 'string',
    "an object with string 'code' and 'message'",
  ],
};

/**
 * Frame schemas by sender and type: member -> kind. A kind ending in "?" is optional: the member
 * may be absent or null, and is then left out of the decoded frame.
 */
const SCHEMAS = {
  client: {
    hello: {v: 'uint', session: 'strOrNull', seq: 'uint'},
    start: {run: 'uint', cb: 'str', args: 'list', key: 'runKey?'},
    cancel: {run: 'uint'},
    ack: {seq: 'uint'},
    bye: {},
    ping: {id: 'uint'},
    pong: {id: 'uint'},
  },
  server: {
    welcome: {v: 'uint', session: 'str', epoch: 'str', resumed: 'bool', seq: 'uint', run: 'uint'},
    update: {seq: 'uint', run: 'uint', props: 'props'},
    end: {seq: 'uint', run: 'uint', reason: 'reason', error: 'errorInfo?'},
    void: {seq: 'uint', from: 'uint'},
    error: {code: 'str', message: 'str', run: 'uint?', cb: 'str?'},
    ping: {id: 'uint'},
    pong: {id: 'uint'},
  },
};

/** @param {Frame[]} frames @returns {string} */
export function encodeMessage(frames) {
  return JSON.stringify(frames);
}

/**
 * One message carrying the frames of `messages`, in order.
 * @param {string[]} messages made by encodeMessage (JSON arrays, without surrounding space)
 * @returns {string}
 */
export function concatMessages(messages) {
  return `[${messages.map((text) => text.slice(1, -1)).filter((frames) => frames !== '').join(',')}]`;
}

/**
 * Decodes one message sent by `from`; unknown members are dropped.
 * @param {string} text
 * @param {Sender} from
 * @param {{maxBytes?: number}} [options]
 * @returns {Frame[]}
 * @throws {ProtocolError}
 */
export function decodeMessage(text, from, {maxBytes = Infinity} = {}) {
  checkSize(text, maxBytes);
  let data;
  try {
    // A client's message with a number no double holds (1e999) is refused, as the server refuses
    // it (tests/vectors/codec.json); the page never decodes client messages, so it pays nothing.
    data = from === 'client' ? JSON.parse(text, refuseNonFinite) : JSON.parse(text);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError('bad_frame', `message is not valid JSON: ${error.message}`);
  }
  if (!Array.isArray(data)) {
    throw new ProtocolError('bad_frame', `message must be a JSON array of frames, got ${typeName(data)}`);
  }
  return data.map((frame, index) => decodeFrame(index, frame, from));
}

function refuseNonFinite(key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new ProtocolError('bad_frame', `message is not valid JSON: ${value} is not a finite number`);
  }
  return value;
}

function checkSize(text, maxBytes) {
  // A UTF-16 code unit takes 1 to 3 UTF-8 bytes: count only when the length alone cannot tell.
  if (text.length * 3 <= maxBytes) return;
  const size = new TextEncoder().encode(text).length;
  if (size > maxBytes) {
    throw new ProtocolError('too_large', `message of ${size} bytes exceeds the limit of ${maxBytes} bytes`);
  }
}

function decodeFrame(index, obj, from) {
  if (!isObject(obj)) {
    throw new ProtocolError('bad_frame', `frame ${index}: expected an object, got ${typeName(obj)}`);
  }
  const type = obj.t;
  const schema = typeof type === 'string' && Object.hasOwn(SCHEMAS[from], type) ? SCHEMAS[from][type] : null;
  if (schema === null) {
    const known = Object.keys(SCHEMAS[from]).join(', ');
    throw new ProtocolError(
      'bad_frame',
      `frame ${index}: unknown type ${quote(type)} from the ${from} (expected one of ${known})`,
    );
  }
  const frame = {t: type};
  for (const [member, kind] of Object.entries(schema)) {
    const optional = kind.endsWith('?');
    const present = Object.hasOwn(obj, member);
    const value = obj[member];
    if (optional && (!present || value === null)) continue;
    const [check, expected] = KINDS[optional ? kind.slice(0, -1) : kind];
    if (!present || !check(value)) {
      const got = present ? truncate(JSON.stringify(value), 60) : 'nothing';
      throw new ProtocolError('bad_frame', `frame ${index}: '${type}' needs ${expected} '${member}', got ${got}`);
    }
    frame[member] = kind === 'errorInfo?' ? {code: value.code, message: value.message} : value;
  }
  if (type === 'start' && from === 'client') checkCallbackId(index, frame.cb);
  if (type === 'void' && !(frame.from >= 1 && frame.from <= frame.seq)) {
    throw new ProtocolError('bad_frame', `frame ${index}: 'void' needs 1 <= 'from' <= 'seq', got from ${frame.from} and seq ${frame.seq}`);
  }
  return frame;
}

function checkCallbackId(index, cb) {
  if (cb.length <= MAX_CALLBACK_ID) return; // UTF-16 units: at least as many as code points
  const characters = codePoints(cb);
  if (characters > MAX_CALLBACK_ID) {
    throw new ProtocolError('bad_frame', `frame ${index}: 'start' needs a 'cb' of at most ${MAX_CALLBACK_ID} characters, got ${characters}`);
  }
}

/** Characters of `text` as Python counts them (code points; a lone surrogate counts as one). */
function codePoints(text) {
  let characters = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff || i === 0 || (text.charCodeAt(i - 1) & 0xfc00) !== 0xd800) characters++;
  }
  return characters;
}

function typeName(value) {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

function quote(value) {
  return typeof value === 'string' ? `'${value}'` : truncate(JSON.stringify(value) ?? 'nothing', 60);
}

function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}
