"""``python -m flash_ws.demo [--host HOST] [--port PORT] [--backend quart|fastapi|flask]``: run the demo
app (on Quart served by hypercorn; on FastAPI, or on Flask through ``app.asgi``, served by uvicorn)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, print the URL and serve the demo until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m flash_ws.demo", description="Run the flash_ws demo app.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="port to listen on (default: 8050)")
    parser.add_argument("--backend", choices=("quart", "fastapi", "flask"), default="quart",
                        help="Dash server backend (default: quart, served by hypercorn; fastapi and flask: by uvicorn)")
    args = parser.parse_args(argv)
    os.environ["FLASH_WS_DEMO_BACKEND"] = args.backend

    from .app import app  # imported after parsing so that --help is instant

    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"flash_ws demo on {args.backend}: http://{shown_host}:{args.port}/", flush=True)
    if args.backend != "quart":
        import uvicorn

        uvicorn.run(app.asgi, host=args.host, port=args.port)
    else:
        app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
