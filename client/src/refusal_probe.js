// Why a server refuses this page, when an EventSource cannot say: it hides its answer's status and
// body. An empty POST (no session: it opens nothing) passes the same checks as the event stream
// (Host, Origin, the app's login: the server's gate) and says which one failed, with the fix.

import {isObject} from './json.js';

/** The refusals of the server's connection checks (docs/protocol.md, "Refusals"): the page's setup, not a moment. */
export const ADMISSION_REFUSALS = Object.freeze(['bad_host', 'origin', 'rejected']);

/**
 * @param {typeof fetch} fetch
 * @param {string} url a POST route of the app (post_url, or posts_url for the shared stream)
 * @returns {Promise<string | null>} the refusal, as the page reports it; null when the checks pass
 *   (or nothing answers: the stream failed for another reason)
 */
export async function whyRefused(fetch, url) {
  let response;
  try {
    response = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '[]'});
  } catch {
    return null;
  }
  if (response.ok) return null;
  const answer = await response.json().catch(() => null);
  if (isObject(answer) && typeof answer.code === 'string') {
    if (!ADMISSION_REFUSALS.includes(answer.code)) return null;
    return `the event stream was refused: ${response.status} (${answer.code}: ${answer.message})`;
  }
  if (response.status !== 401 && response.status !== 403) return null;
  return `the event stream was refused: ${response.status} (http_${response.status}: ${response.statusText})`; // a proxy's
}
