// Keeps updates out of components that are not in the page's layout.
//
// Two cases look alike to Dash's set_props (it throws on an id it cannot find) and are not:
// - a component a run wrote to has left the layout (Dash Pages navigated away, a regular callback
//   replaced that part of the page): the run's page is gone, so the run is stopped, quietly;
// - a component that was never there (a misspelt id): a bug in the app, said once per callback and
//   id in the console, with the closest id the layout has.
// With Dash's props check on (debug=True), a prop the component does not declare is warned about
// once per callback, id and prop: set_props would store it and nothing would show it.

import {canonicalJson} from './json.js';

/** @typedef {[string | object, Record<string, unknown>]} PropsPair */

export class LayoutGuard {
  #hasComponent;
  #layoutIds;
  #console;
  /** @type {Map<number, Set<string>>} the ids each open run has written to */
  #written = new Map();
  /** @type {Set<string>} what was already reported (callback + id, or + prop) */
  #reported = new Set();
  #declaredProps;

  /**
   * @param {object} options
   * @param {(id: string | object) => boolean} options.hasComponent whether the layout holds id now
   * @param {() => Array<string | object>} options.layoutIds every id the layout holds (for the
   *   closest one to a missing id)
   * @param {Pick<Console, 'error' | 'warn'>} options.console
   * @param {((id: string | object) => {name: string, props: Set<string>} | null) | null} [options.declaredProps]
   *   the component's name and the props it declares (null: unknown); null: do not check props
   */
  constructor({hasComponent, layoutIds, console, declaredProps = null}) {
    this.#hasComponent = hasComponent;
    this.#layoutIds = layoutIds;
    this.#console = console;
    this.#declaredProps = declaredProps;
  }

  /**
   * The pairs of one update of `run` (of the callback named `name`) whose components are in the
   * layout; `left` when a component the run wrote to before has gone (stop the run).
   * @param {number} run @param {string} name @param {PropsPair[]} pairs
   * @returns {{pairs: PropsPair[], left: boolean}}
   */
  filter(run, name, pairs) {
    let written = this.#written.get(run);
    if (written === undefined) this.#written.set(run, (written = new Set()));
    const kept = [];
    let left = false;
    for (const pair of pairs) {
      const key = canonicalJson(pair[0]);
      if (this.#hasComponent(pair[0])) {
        written.add(key);
        kept.push(pair);
        if (this.#declaredProps !== null) this.#checkProps(name, pair[0], key, pair[1]);
      } else if (written.has(key)) {
        left = true;
      } else {
        this.#reportMissing(name, key, pair[1]);
      }
    }
    return {pairs: kept, left};
  }

  /** The pairs of a reset whose components are still there (nothing to put back in the others). */
  present(pairs) {
    return pairs.filter(([id]) => this.#hasComponent(id));
  }

  /** The run is over: forget what it wrote to. */
  forget(run) {
    this.#written.delete(run);
  }

  #checkProps(name, id, key, props) {
    const declared = this.#declaredProps(id);
    if (declared === null) return;
    for (const prop of Object.keys(props)) {
      const wildcard = prop.includes('-') && declared.props.has(`${prop.split('-')[0]}-*`);
      if (declared.props.has(prop) || wildcard || this.#reported.has(`${name}\u0000${key}\u0000${prop}`)) continue;
      this.#reported.add(`${name}\u0000${key}\u0000${prop}`);
      this.#console.warn(`flash_ws: ${name} sets ${prop} on ${key}, a ${declared.name}, which declares no such prop`);
    }
  }

  #reportMissing(name, key, props) {
    if (this.#reported.has(`${name}\u0000${key}`)) return;
    this.#reported.add(`${name}\u0000${key}`);
    const closest = closestId(key, this.#layoutIds().map((id) => canonicalJson(id)));
    this.#console.error(
      `flash_ws: ${name} sent ${Object.keys(props).join(', ')} to ${key}, which is not in the page's layout` +
        (closest === null ? '' : ` (the closest id is ${closest})`) +
        '; nothing was set',
    );
  }
}

/** The id among `ids` (canonical JSON) nearest to `key` by edit distance, or null when none is near. */
export function closestId(key, ids) {
  let best = null;
  let bestDistance = Infinity;
  for (const id of ids) {
    const distance = editDistance(key, id);
    if (distance < bestDistance) [best, bestDistance] = [id, distance];
  }
  return best !== null && bestDistance <= Math.max(3, Math.floor(key.length / 3)) ? best : null;
}

function editDistance(a, b) {
  let previous = Array.from({length: b.length + 1}, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Every component id of a Dash layout (as window.dash_component_api.getLayout([]) gives it: the
 * components may sit in any prop, and the root under a key of its own). Read only to name the
 * closest id to a missing one, so once per mistake.
 * @param {unknown} layout @returns {Array<string | object>}
 */
export function idsOfLayout(layout) {
  const ids = [];
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const props = 'props' in node && 'type' in node ? node.props : null;
      if (props?.id !== undefined) ids.push(props.id);
      Object.values(props ?? node).forEach(walk);
    }
  };
  walk(layout);
  return ids;
}

/**
 * The layout questions of LayoutGuard, answered by Dash's renderer (window.dash_component_api,
 * Dash >= 2.16); without it, every id is taken to be there.
 * @param {{dash_component_api?: {getLayout?: (idOrPath: unknown) => unknown}}} window
 */
export function dashLayout(window) {
  const getLayout = () => window.dash_component_api?.getLayout;
  const has = (id) => {
    try {
      return getLayout()(id) !== undefined;
    } catch {
      return false; // Dash's getLayout throws for an id it has no path for
    }
  };
  return {
    hasComponent: (id) => getLayout() === undefined || has(id),
    declaredProps: (id) => {
      try {
        const {namespace, type} = getLayout()(id);
        const propTypes = window[namespace]?.[type]?.propTypes;
        return propTypes ? {name: `${namespace}.${type}`, props: new Set(Object.keys(propTypes))} : null;
      } catch {
        return null;
      }
    },
    layoutIds: () => (getLayout() === undefined ? [] : idsOfLayout(getLayout()([]))),
  };
}
