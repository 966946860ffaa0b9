// Close codes and what the page does for each: the table of docs/protocol.md ("Close codes"),
// mirroring flash_ws/protocol/close_codes.py; tests/vectors/close_codes.json is read by both sides.

/** Every WebSocket close code the server sends (or a browser reports for a cut connection). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY: 1008,
  TOO_BIG: 1009,
  UNAVAILABLE: 1011,
  RECONNECT: 1012,
  TRY_AGAIN_LATER: 1013,
  EXPECTED_HELLO: 4000,
  REJECTED: 4001,
  FORBIDDEN_ORIGIN: 4003,
  HEARTBEAT_TIMEOUT: 4008,
  REPLACED: 4009,
  UNSUPPORTED_VERSION: 4400,
});

/** What the page does when a connection ends (or a POST is answered). */
export const CloseAction = Object.freeze({
  RESUME: 'resume', // reconnect with backoff, same session
  RESUME_NOW: 'resume_now', // reconnect at once, same session
  REPLACED: 'replaced', // a newer connection of the session took over: no reset, no error
  GIVE_UP: 'give_up', // reset the open runs, report it, start nothing more
  REFUSED: 'refused', // this POST was refused; the connection goes on
  ACCEPTED: 'accepted', // the POST was taken
});

const WEBSOCKET_ACTIONS = new Map([
  [CloseCode.NORMAL, CloseAction.RESUME],
  [CloseCode.GOING_AWAY, CloseAction.RESUME_NOW],
  [CloseCode.ABNORMAL, CloseAction.RESUME],
  [CloseCode.POLICY, CloseAction.GIVE_UP],
  [CloseCode.TOO_BIG, CloseAction.GIVE_UP],
  [CloseCode.UNAVAILABLE, CloseAction.RESUME],
  [CloseCode.RECONNECT, CloseAction.RESUME_NOW],
  [CloseCode.TRY_AGAIN_LATER, CloseAction.RESUME],
  [CloseCode.EXPECTED_HELLO, CloseAction.GIVE_UP],
  [CloseCode.REJECTED, CloseAction.GIVE_UP],
  [CloseCode.FORBIDDEN_ORIGIN, CloseAction.GIVE_UP],
  [CloseCode.HEARTBEAT_TIMEOUT, CloseAction.RESUME],
  [CloseCode.REPLACED, CloseAction.REPLACED],
  [CloseCode.UNSUPPORTED_VERSION, CloseAction.GIVE_UP],
]);

/**
 * What the page does when its WebSocket closes with `code`.
 * @param {number} code @returns {string} one of CloseAction
 */
export function websocketAction(code) {
  if (WEBSOCKET_ACTIONS.has(code)) return WEBSOCKET_ACTIONS.get(code);
  return code >= 4000 && code <= 4999 ? CloseAction.GIVE_UP : CloseAction.RESUME;
}

/**
 * What the page does with an answer of `status` (JSON `code`, if any) on `route`.
 * @param {'post' | 'sse'} route `sse` is the event stream
 * @param {number} status
 * @param {string | null} code
 * @returns {string} one of CloseAction
 */
export function httpAction(route, status, code) {
  if (status >= 200 && status < 300) return CloseAction.ACCEPTED;
  if (status === 408 || status === 429 || status >= 500) return CloseAction.RESUME;  // 408: a body too slow to arrive is sent again
  if (status === 401 || status === 403) return CloseAction.GIVE_UP;
  if (route === 'sse') return CloseAction.GIVE_UP;
  if (status === 404 && code === 'unknown_session') return CloseAction.RESUME;
  return CloseAction.REFUSED;
}
