// JSON values: a type test, and canonical text (equal values give equal text whatever the order
// of their keys).

/** @param {unknown} value @returns {value is Record<string, unknown>} a JSON object, not an array */
export const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * JSON text with object keys sorted (as Dash stringifies pattern-matching ids); undefined gives null.
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
