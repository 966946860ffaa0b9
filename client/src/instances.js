// A run's instance: MATCH callbacks run once per matched component set (docs/protocol.md, "Run
// identity"). The key of an instance is its MATCH values as canonical JSON, made here from the ids
// Dash's renderer hands a trigger group, and used for its reset props.

import {canonicalJson, isObject} from './json.js';

/** @typedef {import('./apply.js').Batch} Batch */
/** @typedef {{context: number, input: number, keys: string[]}} MatchSource */

/**
 * A run's instance key: the MATCH values of the id Dash resolved for the Input `match` names, as
 * canonical JSON (the server's run_key); null when the action has no MATCH (every instance).
 * @param {MatchSource | undefined} match @param {unknown[]} values
 * @returns {string | null}
 */
export function instanceKey(match, values) {
  if (match === undefined) return null;
  const id = values[match.context]?.i?.[match.input]?.id;
  if (id === null || typeof id !== 'object') return ''; // not resolved: no instance's runs
  return canonicalJson(Object.fromEntries(match.keys.map((key) => [key, id[key]])));
}

/** MATCH as the page config carries it in a reset id (Dash's wire form of a wildcard). */
const isMatch = (value) => Array.isArray(value) && value.length === 1 && value[0] === 'MATCH';

/**
 * `pairs` with MATCH in their ids made the values of instance `key`; pairs it cannot make concrete
 * are left out.
 * @param {Batch} pairs @param {string} key
 * @returns {Batch}
 */
export function forInstance(pairs, key) {
  if (!pairs.some(([id]) => isObject(id) && Object.values(id).some(isMatch))) return pairs;
  const match = key ? JSON.parse(key) : {};
  const out = [];
  for (const [id, props] of pairs) {
    if (!isObject(id) || !Object.values(id).some(isMatch)) {
      out.push([id, props]);
    } else if (Object.entries(id).every(([name, value]) => !isMatch(value) || name in match)) {
      out.push([Object.fromEntries(Object.entries(id).map(([name, value]) => [name, isMatch(value) ? match[name] : value])), props]);
    }
  }
  return out;
}
