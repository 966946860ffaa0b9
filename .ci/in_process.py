"""A pytest plugin that keeps the suite's in-process layer: ``python -m pytest -p in_process`` (with
.ci on PYTHONPATH) runs the tests that start no browser, nginx, server, worker or Redis of their own.

.ci/run runs this layer on every Python the package claims beside the one the whole suite runs on.
"""

from __future__ import annotations

import pytest

LIVE_MARKS = {"browser", "proxy"}
LIVE_FIXTURES = {"browser", "serve", "redis_server"}
# modules whose tests start processes themselves (servers, workers, node, the benchmarks' commands)
PROCESS_MODULES = {
    "test_benchmark", "test_celery", "test_dash_stream_benchmark", "test_demo_cli", "test_graceful_shutdown",
    "test_js_client", "test_page_trace", "test_scale_benchmark", "test_stalled_reader",
}


def in_process(item: pytest.Item) -> bool:
    """Whether ``item`` runs in the test process alone (subprocesses of a bare interpreter allowed)."""
    module = item.nodeid.split("::", 1)[0].rpartition("/")[2].removesuffix(".py")
    return (module not in PROCESS_MODULES and not LIVE_MARKS & {mark.name for mark in item.iter_markers()}
            and not LIVE_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept = [item for item in items if in_process(item)]
    config.hook.pytest_deselected(items=[item for item in items if not in_process(item)])
    items[:] = kept
