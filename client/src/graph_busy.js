// Whether a dcc.Graph is still drawing the extendData / prependData it was given.
//
// dcc.Graph keeps the values it was given in its React state until Plotly has drawn them, then
// clears that queue; a value given before the queue is clear makes it draw the queued ones again.
// The page asks this before giving a graph its next value.

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
 * @param {Document} document
 * @returns {(id: string | object, prop: string) => boolean}
 */
export function graphBusyCheck(document) {
  return (id, prop) => {
    if (!QUEUED_PROPS.has(prop)) return false;
    const element = document.getElementById(domId(id));
    if (element === null) return false;
    const fiberKey = Object.keys(element).find((key) => key.startsWith('__reactFiber$'));
    for (let fiber = fiberKey ? element[fiberKey] : null; fiber; fiber = fiber.return) {
      const state = fiber.stateNode?.state;
      if (state && Array.isArray(state.extendData) && Array.isArray(state.prependData)) {
        return state.extendData.length > 0 || state.prependData.length > 0;
      }
    }
    return false;
  };
}
