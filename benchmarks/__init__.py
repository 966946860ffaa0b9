"""Benchmarks for flash_ws: the flaky-network proxy and the ``flaky_net`` entry point."""
