// A transport over one WebSocket.

import {encodeMessage} from './codec.js';
import {CloseReason, Transport} from './transport.js';

/** WebSocket close codes 4000-4999: the server refused the connection (docs/protocol.md). */
const isRefusal = (code) => code >= 4000 && code <= 4999;

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
      const why = isRefusal(code) ? CloseReason.REFUSED : wasClean ? CloseReason.SERVER_CLOSED : CloseReason.ERROR;
      this.emitClose(why, {code, reason});
    };
  }

  doClose() {
    this.#socket.close(1000);
  }

  write(text) {
    this.#socket.send(text);
  }
}
