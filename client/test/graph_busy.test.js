import assert from 'node:assert/strict';
import {test} from 'node:test';

import {PropsApplier} from '../src/apply.js';
import {domId, graphBusyCheck, graphQueue} from '../src/graph_busy.js';
import {FakeDefer} from '../test-support/fakes.js';

test('domId is Dash\'s string form of an id: dict ids as JSON with sorted keys', () => {
  assert.equal(domId('chart'), 'chart');
  assert.equal(domId({type: 'live-graph', ticker: 'apple'}), '{"ticker":"apple","type":"live-graph"}');
  assert.equal(domId({index: 3, type: 'row'}), '{"index":3,"type":"row"}');
});

/** A fake document holding one element whose React fiber chain leads to a dcc.Graph-like state. */
function documentWithGraph(id, state) {
  const element = {'__reactFiber$abc': {stateNode: null, return: {stateNode: {state}, return: null}}};
  return {getElementById: (wanted) => (wanted === id ? element : null)};
}

test('a graph is busy while its extendData or prependData queue holds values', () => {
  const state = {extendData: [{y: [[1]]}], prependData: []};
  const isBusy = graphBusyCheck(documentWithGraph('chart', state));
  assert.equal(isBusy('chart', 'extendData'), true);
  state.extendData = [];
  assert.equal(isBusy('chart', 'extendData'), false);
  state.prependData = [{y: [[0]]}];
  assert.equal(isBusy('chart', 'prependData'), true);
  assert.equal(isBusy('chart', 'figure'), false, 'only the queued props are ever busy');
  assert.equal(isBusy('elsewhere', 'extendData'), false, 'a component not on the page is not waited for');
});

test('the applier holds the next flush while a component it set is busy, merging what arrives', () => {
  const deferred = new FakeDefer();
  const calls = [];
  let busy = true;
  const applier = new PropsApplier({
    setProps: (id, props) => calls.push([id, props]),
    defer: (fn) => deferred.defer(fn),
    isBusy: (id, prop) => busy && id === 'g' && prop === 'extendData',
  });
  applier.apply([[['g', {extendData: {y: [[1]]}}]]]);
  applier.apply([[['g', {extendData: {y: [[2]]}}]], [['g', {extendData: {y: [[3]]}}]]]);
  for (let poll = 0; poll < 5; poll += 1) deferred.runNext();
  assert.deepEqual(calls, [['g', {extendData: {y: [[1]]}}]], 'nothing more while the graph is busy');
  busy = false;
  deferred.runAll();
  assert.deepEqual(calls, [['g', {extendData: {y: [[1]]}}], ['g', {extendData: {y: [[2, 3]]}}]]);
});

test('the applier stops waiting for a busy component after maxBusyWaits polls', () => {
  const deferred = new FakeDefer();
  const calls = [];
  const applier = new PropsApplier({
    setProps: (id, props) => calls.push([id, props]),
    defer: (fn) => deferred.defer(fn),
    isBusy: () => true,
    maxBusyWaits: 3,
  });
  applier.apply([[['g', {extendData: {y: [[1]]}}]], [['g', {extendData: {y: [[2], [3]]}}]]]);
  deferred.runAll();
  assert.equal(calls.length, 2, 'two flushes: the values do not merge (different trace counts)');
});

test('graphQueue says what it could not find when it cannot read a graph', () => {
  assert.deepEqual(graphQueue(documentWithGraph('chart', {extendData: [1, 2], prependData: [3]}), 'chart'), {queued: 3});
  assert.match(graphQueue(documentWithGraph('chart', {}), 'elsewhere').missing, /no element with id elsewhere/);
  assert.match(graphQueue({getElementById: () => ({})}, 'chart').missing, /no __reactFiber\$ key/);
  assert.match(graphQueue(documentWithGraph('chart', {figure: {}}), 'chart').missing, /no state with extendData/);
});
