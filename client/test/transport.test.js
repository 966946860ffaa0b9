import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {CloseAction} from '../src/close_codes.js';
import {CloseReason, Transport, TransportState} from '../src/transport.js';
import {WebSocketTransport} from '../src/websocket_transport.js';
import {fakeWebSocketClass} from '../test-support/fakes.js';

const HELLO = {t: 'hello', v: 1, session: null, seq: 0};

/** A transport whose hooks record their calls; the test plays the connection. */
class ScriptedTransport extends Transport {
  calls = [];
  get name() {
    return 'scripted';
  }
  doOpen(hello) {
    this.calls.push(`doOpen ${JSON.stringify(hello)}`);
  }
  doClose() {
    this.calls.push('doClose');
  }
  write(text, last) {
    this.calls.push(`write ${text}${last ? ' (last)' : ''}`);
  }
}

function recorded(transport) {
  const events = [];
  transport.onopen = () => events.push(['open']);
  transport.onmessage = (text) => events.push(['message', text]);
  transport.onclose = (reason, detail) => events.push(['close', reason, detail]);
  return events;
}

describe('Transport', () => {
  test('goes idle -> opening -> open -> closed, and is used once', () => {
    const transport = new ScriptedTransport();
    const events = recorded(transport);
    assert.equal(transport.state, TransportState.IDLE);
    assert.throws(() => transport.send('x'), /cannot send on a transport that is idle/);
    transport.open(HELLO);
    assert.equal(transport.state, TransportState.OPENING);
    transport.emitMessage('too early');
    transport.emitOpen();
    transport.send('hi');
    transport.send('bye', {last: true});
    transport.emitMessage('hello');
    transport.close(CloseReason.SEQUENCE_GAP, {reason: 'seq 3 after 1'});
    transport.emitClose(CloseReason.ERROR);
    transport.emitMessage('too late');
    assert.equal(transport.state, TransportState.CLOSED);
    assert.deepEqual(transport.calls, [`doOpen ${JSON.stringify(HELLO)}`, 'write hi', 'write bye (last)', 'doClose']);
    assert.deepEqual(events, [['open'], ['message', 'hello'], ['close', 'sequence_gap', {reason: 'seq 3 after 1'}]]);
    assert.throws(() => transport.open(HELLO), /used once/);
  });

  test('a failure to start is reported as an error close', () => {
    const transport = new ScriptedTransport();
    transport.doOpen = () => {
      throw new SyntaxError('bad url');
    };
    const events = recorded(transport);
    transport.open(HELLO);
    assert.deepEqual(events, [['close', 'error', {reason: 'SyntaxError: bad url'}]]);
  });

  test('the close reasons are a frozen enum', () => {
    assert.ok(Object.isFrozen(CloseReason));
    assert.equal(new Set(Object.values(CloseReason)).size, Object.keys(CloseReason).length);
  });
});

describe('WebSocketTransport', () => {
  const opened = () => {
    const WebSocket = fakeWebSocketClass();
    const transport = new WebSocketTransport('ws://h/ws', {WebSocket});
    const events = recorded(transport);
    transport.open(HELLO);
    WebSocket.last.serverOpens();
    return {transport, events, ws: WebSocket.last};
  };

  test('sends the hello as the socket opens, then carries text messages both ways', () => {
    const {transport, events, ws} = opened();
    transport.send('[1]');
    ws.serverSends('[2]');
    assert.deepEqual(ws.sent, [JSON.stringify([HELLO]), '[1]']);
    assert.deepEqual(events, [['open'], ['message', '[2]']]);
    assert.equal(transport.name, 'websocket');
  });

  test('a close reports the action of its code (close_codes.js) and a reason that fits it', () => {
    for (const [code, wasClean, reason, action] of [
      [4003, true, CloseReason.REFUSED, CloseAction.GIVE_UP],
      [4400, true, CloseReason.REFUSED, CloseAction.GIVE_UP],
      [4999, true, CloseReason.REFUSED, CloseAction.GIVE_UP],
      [4008, true, CloseReason.SERVER_CLOSED, CloseAction.RESUME],
      [4009, true, CloseReason.REPLACED, CloseAction.REPLACED],
      [1000, true, CloseReason.SERVER_CLOSED, CloseAction.RESUME],
      [1001, true, CloseReason.SERVER_CLOSED, CloseAction.RESUME_NOW],
      [1006, false, CloseReason.ERROR, CloseAction.RESUME],
    ]) {
      const {events, ws} = opened();
      ws.serverCloses(code, 'why', wasClean);
      assert.deepEqual(events.at(-1), ['close', reason, {code, reason: 'why', action}]);
    }
  });

  test('a binary message is a protocol error: the socket is closed', () => {
    const {events, ws} = opened();
    ws.onmessage({data: new ArrayBuffer(1)});
    assert.deepEqual(events.at(-1), ['close', CloseReason.PROTOCOL_ERROR, {}]);
    assert.equal(ws.closedWith, 1000);
  });
});
