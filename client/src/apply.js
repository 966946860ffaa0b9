// Applies [id, props] pairs through Dash's set_props so that every update counts.

import {canonicalJson} from './json.js';
import {accumulatorFor} from './merge.js';

/** @typedef {[string | object, Record<string, unknown>]} PropsPair  a component id and its props */
/** @typedef {PropsPair[]} Batch  pairs applied in one render: one update frame, or a reset */
/** @typedef {import('./merge.js').Accumulator} Accumulator */

/**
 * Applies batches in order, in flushes. A flush makes one setProps call per component, so the
 * renderer sees each property once per flush: a value for a property already set in the flush is
 * combined with it where that is exact (merge.js). A batch that does not combine closes the flush;
 * it and the batches after it wait for the next flush. After every flush the applier waits one
 * `defer` so that the renderer can render; batches that come meanwhile join the next flush.
 * A batch is never split across flushes, unless it names the same property twice.
 *
 * Some components take a value asynchronously: dcc.Graph queues extendData until Plotly has drawn
 * it, and a value that arrives meanwhile makes it draw the queued ones again (duplicated points).
 * `isBusy(id, prop)` tells when such a component has not finished; the next flush waits for it,
 * polling once per `defer`, for at most `maxBusyWaits` polls.
 */
export class PropsApplier {
  #setProps;
  #defer;
  #onError;
  #isBusy;
  #maxBusyWaits;
  /** @type {Batch[]} */ #queue = [];
  #waiting = false;

  /**
   * @param {object} options
   * @param {(id: string | object, props: object) => void} options.setProps in the page,
   *   window.dash_clientside.set_props
   * @param {(fn: () => void) => void} [options.defer] runs fn after the renderer had a chance to render
   * @param {(error: unknown, id: string | object) => void} [options.onError] a setProps call threw
   * @param {(id: string | object, prop: string) => boolean} [options.isBusy] the component is still
   *   taking the last value of prop
   * @param {number} [options.maxBusyWaits] polls of isBusy before going on regardless
   */
  constructor({
    setProps,
    defer = (fn) => setTimeout(fn, 0),
    onError = (error) => console.error(error),
    isBusy = () => false,
    maxBusyWaits = 200,
  }) {
    this.#setProps = setProps;
    this.#defer = defer;
    this.#onError = onError;
    this.#isBusy = isBusy;
    this.#maxBusyWaits = maxBusyWaits;
  }

  /** @param {Batch[]} batches in the order they must take effect */
  apply(batches) {
    for (const batch of batches) {
      if (batch.length > 0) this.#queue.push(...splitIfRepeating(batch));
    }
    if (!this.#waiting) this.#flush();
  }

  #flush() {
    const flush = new Flush();
    let taken = 0;
    while (taken < this.#queue.length && flush.accepts(this.#queue[taken])) flush.add(this.#queue[taken++]);
    this.#queue.splice(0, taken);
    this.#waiting = taken > 0;
    if (!this.#waiting) return;
    flush.commit(this.#setProps, this.#onError);
    this.#afterRender(flush.set(), 0);
  }

  /** Flush again once the renderer had its turn and no component set in the last flush is busy. */
  #afterRender(set, waits) {
    this.#defer(() => {
      const busy = waits < this.#maxBusyWaits && set.some(([id, prop]) => this.#isBusy(id, prop));
      if (busy) this.#afterRender(set, waits + 1);
      else this.#flush();
    });
  }
}

/** A batch naming the same property of a component twice cannot be one flush: apply it pair by pair. */
function splitIfRepeating(batch) {
  const seen = new Set();
  for (const [id, props] of batch) {
    for (const prop of Object.keys(props)) {
      const key = canonicalJson([id, prop]);
      if (seen.has(key)) return batch.map((pair) => [pair]);
      seen.add(key);
    }
  }
  return [batch];
}

/** The props of one flush, by component, in the order they were first set. */
class Flush {
  /** @type {Map<string, {id: string | object, props: Map<string, Accumulator>}>} */
  #components = new Map();

  /** @param {Batch} batch @returns {boolean} whether every value combines with this flush */
  accepts(batch) {
    return batch.every(([id, props]) => {
      const held = this.#components.get(canonicalJson(id));
      return (
        held === undefined ||
        Object.entries(props).every(([prop, value]) => held.props.get(prop)?.accepts(value) ?? true)
      );
    });
  }

  /** @param {Batch} batch one that accepts() */
  add(batch) {
    for (const [id, props] of batch) {
      const key = canonicalJson(id);
      let held = this.#components.get(key);
      if (held === undefined) {
        held = {id, props: new Map()};
        this.#components.set(key, held);
      }
      for (const [prop, value] of Object.entries(props)) {
        const accumulator = held.props.get(prop);
        if (accumulator === undefined) held.props.set(prop, accumulatorFor(prop, value));
        else accumulator.take(value);
      }
    }
  }

  /** @returns {[string | object, string][]} the (id, prop) pairs this flush sets */
  set() {
    return [...this.#components.values()].flatMap(({id, props}) => [...props.keys()].map((prop) => [id, prop]));
  }

  commit(setProps, onError) {
    for (const {id, props} of this.#components.values()) {
      const values = Object.fromEntries([...props].map(([prop, accumulator]) => [prop, accumulator.value()]));
      try {
        setProps(id, values);
      } catch (error) {
        onError(error, id);
      }
    }
  }
}
