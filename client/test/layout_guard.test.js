// Updates for components that are not in the layout: a run whose components left the page (Dash
// Pages navigated away) stops quietly; an id that was never there is named once, with the closest.

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {closestId, idsOfLayout, LayoutGuard} from '../src/layout_guard.js';
import {RESET, running} from '../test-support/client_harness.js';
import {FakeConsole} from '../test-support/fakes.js';

const update = (seq, run, props) => ({t: 'update', seq, run, props});

describe('the guard', () => {
  test('an id never in the layout is named once per callback, with the closest id, and nothing is set', () => {
    const console = new FakeConsole();
    const layout = new Set(['progress', 'start']);
    const guard = new LayoutGuard({hasComponent: (id) => layout.has(id), layoutIds: () => [...layout], console});
    const kept = guard.filter(1, 'app.load', [['progres', {children: 'x', title: 'y'}], ['start', {disabled: true}]]);
    assert.deepEqual(kept, {pairs: [['start', {disabled: true}]], left: false});
    assert.deepEqual(console.lines.error, [
      'flash_ws: app.load sent children, title to "progres", which is not in the page\'s layout ' +
        '(the closest id is "progress"); nothing was set',
    ]);
    guard.filter(2, 'app.load', [['progres', {children: 'again'}]]);
    assert.equal(console.lines.error.length, 1);
  });

  test('a component the run wrote to that has left the layout stops the run, without an error', () => {
    const console = new FakeConsole();
    const layout = new Set(['count']);
    const guard = new LayoutGuard({hasComponent: (id) => layout.has(id), layoutIds: () => [...layout], console});
    assert.equal(guard.filter(1, 'app.ticker', [['count', {children: 1}]]).left, false);
    layout.delete('count'); // the page navigated away
    assert.deepEqual(guard.filter(1, 'app.ticker', [['count', {children: 2}]]), {pairs: [], left: true});
    assert.deepEqual(console.lines.error, []);
  });

  test('with the props check on, a prop the component does not declare is warned about once', () => {
    const console = new FakeConsole();
    const declared = {name: 'dash_html_components.Div', props: new Set(['children', 'style', 'data-*'])};
    const guard = new LayoutGuard({hasComponent: () => true, layoutIds: () => [], console, declaredProps: () => declared});
    const pairs = [['out', {chidlren: 1, children: 2, 'data-x': 3}]];
    assert.deepEqual(guard.filter(1, 'app.load', pairs).pairs, pairs); // set anyway, as Dash would
    guard.filter(2, 'app.load', pairs);
    assert.deepEqual(console.lines.warn, [
      'flash_ws: app.load sets chidlren on "out", a dash_html_components.Div, which declares no such prop',
    ]);
  });

  test('the closest id must be close', () => {
    assert.equal(closestId('"out"', ['"output"', '"progress"']), '"output"');
    assert.equal(closestId('"xyz"', ['"progress-bar"']), null);
  });

  test('the ids of a layout, nested and pattern-matching', () => {
    const layout = {components: {type: 'Div', namespace: 'dash_html_components', props: {id: 'page', children: [
      {type: 'Button', props: {id: {index: 1, type: 'go'}, children: 'go'}}, 'text',
      {type: 'Div', props: {children: {type: 'Span', props: {id: 'deep'}}}},
      {type: 'Tab', props: {label: {type: 'B', props: {id: 'in-a-label'}}, value: [1, 2]}},
    ]}}};
    assert.deepEqual(idsOfLayout(layout), ['page', {index: 1, type: 'go'}, 'deep', 'in-a-label']);
  });
});

describe('in the client', () => {
  test('a run whose components left the page is cancelled, its reset not applied', () => {
    const layout = new Set(['start', 'status', 'out']);
    const {ws, applied, console} = running({layout});
    ws.serverSends([update(1, 1, [['out', {children: 1}]])]);
    layout.delete('out');
    layout.delete('status');
    ws.serverSends([update(2, 1, [['out', {children: 2}]])]);
    assert.deepEqual(ws.frames().at(-1), {t: 'cancel', run: 1});
    assert.deepEqual(applied.filter(([id]) => id === 'out'), [['out', {children: 1}]]);
    assert.deepEqual(console.lines.info.at(-1), 'flash_ws: app.load stopped: the components it updates left the page');
    ws.serverSends([{t: 'end', seq: 3, run: 1, reason: 'cancelled'}]);
    assert.deepEqual(applied.filter(([id]) => id === 'status'), [], 'no reset into components that are gone');
    assert.deepEqual(console.lines.error, []);
    assert.ok(RESET.some(([id]) => id === 'status'));
  });
});
