// A transport over one WebSocket.

import {CloseAction, websocketAction} from './close_codes.js';
import {encodeMessage} from './codec.js';
import {CloseReason, Transport} from './transport.js';

/** Why a socket closed, from what its close code asks of the page (docs/protocol.md, "Close codes"). */
const REASON_OF_ACTION = new Map([
  [CloseAction.GIVE_UP, CloseReason.REFUSED],
  [CloseAction.REPLACED, CloseReason.REPLACED],
]);

export class WebSocketTransport extends Transport {
  #url;
  #WebSocket;
  /** @type {WebSocket | null} */
  #socket = null;

  /**
   * @param {string} url ws: or wss:
   * @param {{WebSocket: typeof WebSocket}} dependencies the WebSocket class (a fake in tests)
   */
  constructor(url, {WebSocket}) {
    super();
    this.#url = url;
    this.#WebSocket = WebSocket;
  }

  get name() {
    return 'websocket';
  }

  doOpen(hello) {
    const socket = new this.#WebSocket(this.#url);
    this.#socket = socket;
    socket.onopen = () => {
      socket.send(encodeMessage([hello]));
      this.emitOpen();
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.emitMessage(event.data);
      else this.close(CloseReason.PROTOCOL_ERROR); // messages are JSON text, never binary
    };
    // An 'error' event is always followed by 'close', which tells what happened.
    socket.onclose = ({code, reason, wasClean}) => {
      const action = websocketAction(code);
      const fallback = wasClean ? CloseReason.SERVER_CLOSED : CloseReason.ERROR;
      this.emitClose(REASON_OF_ACTION.get(action) ?? fallback, {code, reason, action});
    };
  }

  doClose() {
    this.#socket.close(1000);
  }

  write(text) {
    this.#socket.send(text);
  }
}
