// The wire of a shared event stream (docs/protocol.md, "Shared event stream"): one EventSource
// carries the sessions of several tabs, each in a numbered lane; one POST carries their messages.

import {ProtocolError} from './codec.js';

/**
 * The URL of a shared event stream carrying `lanes`.
 * @param {string} base the page config's shared_url
 * @param {{lane: number, hello: {v: number, session: string | null, seq: number}}[]} lanes
 * @returns {string}
 */
export function sharedStreamUrl(base, lanes) {
  const query = new URLSearchParams({v: String(lanes[0]?.hello.v ?? 1)});
  for (const {lane, hello} of lanes) {
    // only the public sid: the URL may reach access logs, the cookie proves the session is this browser's
    query.append('lane', `${lane}:${(hello.session ?? '').split('.')[0]}:${hello.seq}`);
  }
  return `${base}?${query}`;
}

/**
 * One event of a shared stream: a message of a lane, or the end of a lane (with its close code).
 * @param {string} data the event's data: `<lane> <message>` or `<lane> {"code": ..., "reason": ...}`
 * @returns {{lane: number, message: string} | {lane: number, closed: {code: number, reason: string}}}
 * @throws {ProtocolError}
 */
export function parseLaneEvent(data) {
  const space = data.indexOf(' ');
  const lane = Number(data.slice(0, space));
  if (space < 1 || !Number.isSafeInteger(lane)) {
    throw new ProtocolError('bad_frame', `a shared stream event must start with its lane number, got ${JSON.stringify(data.slice(0, 20))}`);
  }
  const rest = data.slice(space + 1);
  if (rest.startsWith('[')) return {lane, message: rest};
  let closed;
  try {
    closed = JSON.parse(rest);
  } catch {
    closed = null;
  }
  if (closed === null || typeof closed !== 'object' || !Number.isInteger(closed.code)) {
    throw new ProtocolError('bad_frame', `lane ${lane}: expected a message or {"code", "reason"}, got ${JSON.stringify(rest.slice(0, 40))}`);
  }
  return {lane, closed: {code: closed.code, reason: String(closed.reason ?? '')}};
}

/**
 * The body of one POST carrying the messages of several sessions: `[[token, message], ...]`, the
 * messages of one session merged into one, in the order they were written.
 * @param {{token: string, text: string}[]} entries
 * @returns {{body: string, tokens: string[]}} tokens: the session of each entry of the body, in order
 */
export function batchBody(entries) {
  /** @type {Map<string, string[]>} */
  const bySession = new Map();
  for (const {token, text} of entries) {
    if (!bySession.has(token)) bySession.set(token, []);
    bySession.get(token).push(text.slice(1, -1));
  }
  const tokens = [...bySession.keys()];
  const parts = tokens.map((token) => `[${JSON.stringify(token)},[${bySession.get(token).filter((f) => f !== '').join(',')}]]`);
  return {body: `[${parts.join(',')}]`, tokens};
}
