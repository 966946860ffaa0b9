"""Adapters between the protocol core and Quart: session store, stream runner, transports."""
