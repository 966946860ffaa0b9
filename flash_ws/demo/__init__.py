"""flash_ws demo: Flash 1.2.0's two event-callback examples on one WebSocket.

Run it with ``python -m flash_ws.demo`` (``--host``, ``--port``), or serve ``flash_ws.demo.app:server``.

- ``/``: progressive data load, streaming plotly's gapminder data into a table chunk by chunk,
  with progress notices, a Cancel button and reset props;
- ``/live``: an endless live dashboard of four random-walk stock charts, stopped by a button or by
  leaving the page, with an error raised on purpose to show ``on_error``.
"""
