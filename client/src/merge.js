// Successive values of one component property, combined into one value with the same effect.
// set_props calls for the same property made before the renderer renders coalesce: only the last
// value reaches the component, so a burst of extendData would keep one point. An accumulator
// takes values only where combining them is exact.

import {isObject} from './json.js';

const PATCH_MARK = '__dash_patch_update';
const TRANSACTION_LISTS = ['add', 'update', 'remove'];

/** @param {unknown} value @returns {boolean} whether it is a serialised dash.Patch */
function isPatch(value) {
  return isObject(value) && value[PATCH_MARK] === PATCH_MARK && Array.isArray(value.operations);
}

/**
 * @typedef {object} Accumulator
 * @property {(next: unknown) => boolean} accepts whether `next` combines exactly with what it holds
 * @property {(next: unknown) => void} take adds `next` (only after accepts(next))
 * @property {() => unknown} value the combined value
 */

/**
 * The accumulator for a property, holding its first value.
 * @param {string} prop
 * @param {unknown} first
 * @returns {Accumulator}
 */
export function accumulatorFor(prop, first) {
  if (prop === 'extendData') return new TraceDataAccumulator(first, false);
  if (prop === 'prependData') return new TraceDataAccumulator(first, true);
  if (prop === 'rowTransaction') return new TransactionAccumulator(first);
  return new ValueAccumulator(first);
}

/**
 * dcc.Graph extendData / prependData: `[updateData, traceIndices?, maxPoints?]` or `updateData`
 * alone, where updateData maps each attribute to one array of new points per trace. Values of the
 * same form, attributes, trace count, traceIndices and maxPoints combine by joining each trace's
 * points (prepends in reverse: the newest goes first). maxPoints trims the same points either way.
 */
class TraceDataAccumulator {
  #prepend;
  #signature;
  #parts;

  constructor(first, prepend) {
    this.#prepend = prepend;
    this.#signature = traceDataSignature(first);
    this.#parts = [first];
  }

  accepts(next) {
    return this.#signature !== null && traceDataSignature(next) === this.#signature;
  }

  take(next) {
    this.#parts.push(next);
  }

  value() {
    const [first] = this.#parts;
    if (this.#parts.length === 1) return first;
    const parts = this.#prepend ? [...this.#parts].reverse() : this.#parts;
    const updates = parts.map(updateDataOf);
    const merged = {};
    for (const [key, traces] of Object.entries(updateDataOf(first))) {
      merged[key] = traces.map((_, trace) => updates.flatMap((update) => update[key][trace]));
    }
    return Array.isArray(first) ? [merged, ...first.slice(1)] : merged;
  }
}

/** dcc.Graph's own test for the array form. */
const isTraceDataArray = (value) => Array.isArray(value) && typeof value[0] === 'object';
const updateDataOf = (value) => (isTraceDataArray(value) ? value[0] : value);

/** What must be equal for two values to combine, as text; null when the value is not understood. */
function traceDataSignature(value) {
  const update = updateDataOf(value);
  if (!isObject(update)) return null;
  const shape = [];
  for (const [key, traces] of Object.entries(update)) {
    if (!Array.isArray(traces) || !traces.every(Array.isArray)) return null;
    shape.push(key, traces.length);
  }
  const rest = isTraceDataArray(value) ? value.slice(1) : null;
  return JSON.stringify([shape, rest]);
}

/**
 * dash-ag-grid rowTransaction with only add / update / remove lists. AG Grid applies a transaction
 * as remove, update, add; joining the lists gives the same rows unless a later transaction updates
 * or removes rows after one that added rows (it could name them), so that is refused.
 */
class TransactionAccumulator {
  #first;
  /** @type {object[] | null} null when the first value is not a plain transaction */
  #transactions;
  #added;

  constructor(first) {
    this.#first = first;
    this.#transactions = isPlainTransaction(first) ? [first] : null;
    this.#added = this.#transactions !== null && hasItems(first.add);
  }

  accepts(next) {
    return (
      this.#transactions !== null &&
      isPlainTransaction(next) &&
      !(this.#added && (hasItems(next.update) || hasItems(next.remove)))
    );
  }

  take(next) {
    this.#transactions.push(next);
    this.#added ||= hasItems(next.add);
  }

  value() {
    if (this.#transactions === null || this.#transactions.length === 1) return this.#first;
    const merged = {};
    for (const name of TRANSACTION_LISTS) {
      if (this.#transactions.some((transaction) => name in transaction)) {
        merged[name] = this.#transactions.flatMap((transaction) => transaction[name] ?? []);
      }
    }
    return merged;
  }
}

const hasItems = (list) => Array.isArray(list) && list.length > 0;
const isPlainTransaction = (value) =>
  isObject(value) &&
  Object.keys(value).every((name) => TRANSACTION_LISTS.includes(name) && Array.isArray(value[name]));

/**
 * Any other property: a plain value replaces whatever came before (the last one wins); Patches
 * that follow one another join their operations. A Patch after a plain value does not combine.
 */
class ValueAccumulator {
  #plain;
  /** @type {unknown[] | null} operations of the Patches held, null when holding a plain value */
  #operations;

  constructor(first) {
    this.#plain = first;
    this.#operations = isPatch(first) ? [...first.operations] : null;
  }

  accepts(next) {
    return !isPatch(next) || this.#operations !== null;
  }

  take(next) {
    if (isPatch(next)) {
      this.#operations.push(...next.operations);
    } else {
      this.#plain = next;
      this.#operations = null;
    }
  }

  value() {
    return this.#operations === null ? this.#plain : {[PATCH_MARK]: PATCH_MARK, operations: this.#operations};
  }
}
