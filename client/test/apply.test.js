import assert from 'node:assert/strict';
import {test} from 'node:test';

import {PropsApplier} from '../src/apply.js';
import {FakeDefer} from '../test-support/fakes.js';

/** An applier whose setProps calls are recorded with the number of the flush they belong to. */
function recorder() {
  const deferred = new FakeDefer();
  const calls = [];
  let flush = 1;
  const applier = new PropsApplier({
    setProps: (id, props) => calls.push({flush, id, props}),
    defer: (fn) =>
      deferred.defer(() => {
        flush += 1;
        fn();
      }),
  });
  return {applier, calls, deferred};
}

const extend = (y, traces = [0], maxPoints) => ({extendData: [{y: [[y]]}, traces, ...(maxPoints ? [maxPoints] : [])]});

test('five extendData updates in one message make one set_props with all five points in order', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([1, 2, 3, 4, 5].map((y) => [['graph', extend(y)]]));
  assert.deepEqual(calls, [{flush: 1, id: 'graph', props: {extendData: [{y: [[1, 2, 3, 4, 5]]}, [0]]}}]);
  deferred.runAll();
  assert.equal(calls.length, 1);
});

test('extendData merges per attribute and per trace, in the dict form too, keeping maxPoints', () => {
  const {applier, calls} = recorder();
  applier.apply([
    [['g', {extendData: [{x: [[1], [10]], y: [[2], [20]]}, [0, 1], 50]}]],
    [['g', {extendData: [{x: [[3, 4], []], y: [[5, 6], [21]]}, [0, 1], 50]}]],
    [['h', {extendData: {y: [['a']]}}]],
    [['h', {extendData: {y: [['b', 'c']]}}]],
  ]);
  assert.deepEqual(calls.map(({id, props}) => [id, props]), [
    ['g', {extendData: [{x: [[1, 3, 4], [10]], y: [[2, 5, 6], [20, 21]]}, [0, 1], 50]}],
    ['h', {extendData: {y: [['a', 'b', 'c']]}}],
  ]);
});

test('prependData merges newest first, as prepending one after the other would', () => {
  const {applier, calls} = recorder();
  applier.apply([[['g', {prependData: [{y: [[1, 2]]}, [0]]}]], [['g', {prependData: [{y: [[3]]}, [0]]}]]]);
  assert.deepEqual(calls[0].props, {prependData: [{y: [[3, 1, 2]]}, [0]]});
});

test('a value that cannot merge waits for the next flush, and so does everything after it', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([
    [['g', extend(1, [0])]],
    [['g', extend(2, [1])]], // other traces
    [['out', {children: 'after'}]],
    [['g', extend(3, [1])]],
    [['g', extend(4, [0], 10)]], // other maxPoints
  ]);
  assert.deepEqual(calls, [{flush: 1, id: 'g', props: extend(1, [0])}]);
  deferred.runNext();
  assert.deepEqual(calls.slice(1), [
    {flush: 2, id: 'g', props: {extendData: [{y: [[2, 3]]}, [1]]}},
    {flush: 2, id: 'out', props: {children: 'after'}},
  ]);
  deferred.runNext();
  assert.deepEqual(calls.slice(3), [{flush: 3, id: 'g', props: extend(4, [0], 10)}]);
  deferred.runNext();
  assert.equal(deferred.pending, 0, 'idle once the queue is empty');
});

test('a batch is applied within one flush', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([
    [['g', extend(1, [0])]],
    [['status', {children: 'two'}], ['g', extend(2, [1])]],
  ]);
  assert.deepEqual(calls.map(({flush, id}) => [flush, id]), [[1, 'g']]);
  deferred.runNext();
  assert.deepEqual(calls.map(({flush, id}) => [flush, id]), [[1, 'g'], [2, 'status'], [2, 'g']]);
});

test('plain values: the last one wins; props of one component go in one call', () => {
  const {applier, calls} = recorder();
  applier.apply([
    [['out', {children: 'a', style: {color: 'red'}}]],
    [['btn', {disabled: true}]],
    [['out', {children: 'b'}]],
  ]);
  assert.deepEqual(calls.map(({id, props}) => [id, props]), [
    ['out', {children: 'b', style: {color: 'red'}}],
    ['btn', {disabled: true}],
  ]);
});

test('Patch operations are concatenated; a plain value after a Patch replaces it', () => {
  const patch = (...operations) => ({__dash_patch_update: '__dash_patch_update', operations});
  const op = (n) => ({operation: 'Append', location: ['data'], params: {value: n}});
  const {applier, calls, deferred} = recorder();
  applier.apply([[['t', {data: patch(op(1))}]], [['t', {data: patch(op(2), op(3))}]], [['u', {data: patch(op(1))}]], [['u', {data: [9]}]]]);
  assert.deepEqual(calls.map(({id, props}) => [id, props]), [
    ['t', {data: patch(op(1), op(2), op(3))}],
    ['u', {data: [9]}],
  ]);
  applier.apply([[['t', {data: [0]}]], [['t', {data: patch(op(4))}]]]);
  deferred.runNext();
  assert.deepEqual(calls.slice(2).map(({flush, props}) => [flush, props]), [[2, {data: [0]}]]);
  deferred.runNext();
  assert.deepEqual(calls.slice(3).map(({flush, props}) => [flush, props]), [[3, {data: patch(op(4))}]]);
});

test('rowTransaction lists are concatenated, except updates or removes after adds', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([
    [['grid', {rowTransaction: {remove: [{id: 1}]}}]],
    [['grid', {rowTransaction: {update: [{id: 2}]}}]],
    [['grid', {rowTransaction: {add: [{id: 3}]}}]],
    [['grid', {rowTransaction: {add: [{id: 4}]}}]],
    [['grid', {rowTransaction: {remove: [{id: 3}]}}]], // could remove a row just added
    [['grid', {rowTransaction: {add: [{id: 5}], addIndex: 0}}]], // not only lists
  ]);
  assert.deepEqual(calls[0].props, {
    rowTransaction: {add: [{id: 3}, {id: 4}], update: [{id: 2}], remove: [{id: 1}]},
  });
  deferred.runNext();
  assert.deepEqual(calls[1].props, {rowTransaction: {remove: [{id: 3}]}});
  deferred.runNext();
  assert.deepEqual(calls[2].props, {rowTransaction: {add: [{id: 5}], addIndex: 0}});
});

test('what arrives while waiting for the renderer joins the next flush', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([[['g', extend(1)]]]);
  applier.apply([[['g', extend(2)]]]);
  applier.apply([[['g', extend(3)]]]);
  assert.equal(calls.length, 1);
  deferred.runNext();
  assert.deepEqual(calls[1], {flush: 2, id: 'g', props: {extendData: [{y: [[2, 3]]}, [0]]}});
});

test('pattern-matching ids are one component whatever the order of their keys', () => {
  const {applier, calls} = recorder();
  applier.apply([[[{type: 'row', index: 1}, extend(1)]], [[{index: 1, type: 'row'}, extend(2)]]]);
  assert.deepEqual(calls, [{flush: 1, id: {type: 'row', index: 1}, props: {extendData: [{y: [[1, 2]]}, [0]]}}]);
});

test('a batch naming one property twice is applied pair by pair', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([[['g', extend(1, [0])], ['g', extend(2, [1])]]]);
  deferred.runAll();
  assert.deepEqual(calls.map(({flush, props}) => [flush, props]), [[1, extend(1, [0])], [2, extend(2, [1])]]);
});

test('a set_props that throws is reported and the other components are still updated', () => {
  const errors = [];
  const applied = [];
  const applier = new PropsApplier({
    setProps: (id, props) => {
      if (id === 'missing') throw new Error('no such component');
      applied.push([id, props]);
    },
    defer: () => {},
    onError: (error, id) => errors.push([id, error.message]),
  });
  applier.apply([[['missing', {children: 1}], ['out', {children: 2}]]]);
  assert.deepEqual(errors, [['missing', 'no such component']]);
  assert.deepEqual(applied, [['out', {children: 2}]]);
});

test('empty batches cost nothing', () => {
  const {applier, calls, deferred} = recorder();
  applier.apply([[], []]);
  assert.equal(calls.length, 0);
  assert.equal(deferred.pending, 0);
});
