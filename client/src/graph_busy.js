// Whether a dcc.Graph is still drawing the extendData / prependData it was given.
//
// dcc.Graph keeps the values it was given in its React state until Plotly has drawn them, then
// clears that queue; a value given before the queue is clear makes it draw the queued ones again.
// The page asks this before giving a graph its next value.
//
// No API tells: this reads React internals. The graph's DOM element carries a `__reactFiber$<random>`
// key; up that fiber's `return` chain, the component whose `stateNode.state` holds `extendData` and
// `prependData` arrays is dcc.Graph's. Checked against Dash 4.4.1 and 4.5.0rc2 with their default
// React 18.3.1, and 4.5.0rc2 with React 19.2.4 (REACT_VERSION=19.2.4). tests/test_graph_busy_browser.py
// fails, naming what it could not find, when a Dash or React release moves them; until fixed,
// extendData may then be drawn twice.

const QUEUED_PROPS = new Set(['extendData', 'prependData']);

/**
 * Dash's string form of a component id (the DOM id of its element): dict ids as JSON with sorted keys.
 * @param {string | Record<string, unknown>} id
 */
export function domId(id) {
  if (typeof id !== 'object' || id === null) return String(id);
  const keys = Object.keys(id).sort();
  return '{' + keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(id[key])}`).join(',') + '}';
}

/**
 * The values a dcc.Graph still has to draw, read from its React state: `{queued}`; or `{missing}`,
 * what could not be found (no such element, no React fiber on it, no graph state up its fiber chain).
 * @param {Document} document
 * @param {string | object} id
 * @returns {{queued: number} | {missing: string}}
 */
export function graphQueue(document, id) {
  const element = document.getElementById(domId(id));
  if (element === null) return {missing: `no element with id ${domId(id)}`};
  const fiberKey = Object.keys(element).find((key) => key.startsWith('__reactFiber$'));
  if (fiberKey === undefined) return {missing: 'no __reactFiber$ key on the element'};
  for (let fiber = element[fiberKey]; fiber; fiber = fiber.return) {
    const state = fiber.stateNode?.state;
    if (state && Array.isArray(state.extendData) && Array.isArray(state.prependData)) {
      return {queued: state.extendData.length + state.prependData.length};
    }
  }
  return {missing: 'no state with extendData and prependData arrays up the fiber chain'};
}

/**
 * @param {Document} document
 * @returns {(id: string | object, prop: string) => boolean}
 */
export function graphBusyCheck(document) {
  return (id, prop) => QUEUED_PROPS.has(prop) && (graphQueue(document, id).queued ?? 0) > 0;
}
